"""Resellers: their customer accounts, point transfers both ways, blocking, and the public list.

A reseller's customers are the accounts whose `parent` is the reseller. Every function
takes the reseller and a customer id and refuses ids that are not the reseller's own
customers, so one reseller can never see or touch another's.
"""
import datetime
import secrets
from urllib.parse import urlparse

from flask_babel import lazy_gettext as _l
from peewee import fn

from .. import ledger
from ..admin.service import audit
from ..auth import service as auth_service
from ..db import db
from ..errors import FieldErrors
from ..models import Account, LedgerEntry, utcnow
from ..recharge.service import check_low_balance

MAX_TRANSFER = 100_000_000
USAGE_DAYS = 30


def is_reseller(account):
    return account is not None and account.role == Account.RESELLER


def customers_of(reseller, query=""):
    customers = Account.select().where(Account.parent == reseller.id).order_by(Account.id.desc())
    query = (query or "").strip()
    if query:
        like = f"%{query.lower()}%"
        customers = customers.where((fn.LOWER(Account.email) ** like) | (fn.LOWER(Account.company) ** like) |
                                    (fn.LOWER(Account.contact_name) ** like))
    return customers


def customer_of(reseller, customer_id):
    """The reseller's customer with this id, or None (for a foreign or unknown id alike)."""
    try:
        customer_id = int(customer_id.id if isinstance(customer_id, Account) else customer_id)
    except (TypeError, ValueError):
        return None
    return Account.get_or_none(Account.id == customer_id, Account.parent == reseller.id)


def _own_customer(reseller, customer_id):
    if not is_reseller(reseller):
        raise FieldErrors.single("form", _l("Only a reseller account has customers."))
    customer = customer_of(reseller, customer_id)
    if customer is None:
        raise FieldErrors.single("customer", _l("This account is not one of your customers."))
    return customer


def usage(account_ids, days=USAGE_DAYS, now=None):
    """Points each account used on sending (net of refunds) over the last `days` days."""
    if not account_ids:
        return {}
    since = (now or utcnow()) - datetime.timedelta(days=days)
    rows = (LedgerEntry.select(LedgerEntry.account, fn.SUM(LedgerEntry.amount).alias("total"))
            .where(LedgerEntry.account.in_(list(account_ids)),
                   LedgerEntry.kind.in_([LedgerEntry.SEND, LedgerEntry.REFUND]),
                   LedgerEntry.created_at >= since)
            .group_by(LedgerEntry.account).tuples())
    return {account_id: max(0, -int(total or 0)) for account_id, total in rows}


def create_customer(reseller, *, email, password, company, contact_name, mobile=None):
    """A new customer account belonging to the reseller. FieldErrors when a field is wrong."""
    if not is_reseller(reseller):
        raise FieldErrors.single("form", _l("Only a reseller account has customers."))
    with db.atomic():
        customer = auth_service.create_account(email=email, password=password, role=Account.CUSTOMER,
                                               company=company, contact_name=contact_name, mobile=mobile)
        Account.update(parent=reseller.id).where(Account.id == customer.id).execute()
        audit(reseller, "reseller.customer_created", customer, reseller_id=reseller.id, email=customer.email)
    return Account.get_by_id(customer.id)


def _points(points):
    if not isinstance(points, int) or isinstance(points, bool) or not 0 < points <= MAX_TRANSFER:
        raise FieldErrors.single("points", _l("Enter a whole number of points above zero."))
    return points


def _reference():
    return "TR" + secrets.token_hex(5).upper()


def _move_points(reseller, source, target, points, reason, action, refusal):
    """One ledger transfer between a reseller and their customer, audited; returns both rows.

    `refusal(short)` words the error when the source has too few points.
    """
    try:
        with db.atomic():
            out, into = ledger.transfer(source, target, points, actor=reseller, reason=reason,
                                        reference=_reference())
            customer = target if source.id == reseller.id else source
            audit(reseller, action, customer, points=points, reason=reason, source_balance_after=out.balance_after)
    except ledger.InsufficientCredit as short:
        raise FieldErrors.single("points", refusal(short))
    check_low_balance(source.id)
    return out, into


def transfer_to_customer(reseller, customer_id, points, reason=""):
    """Move points from the reseller to one of their customers (one ledger transfer)."""
    customer = _own_customer(reseller, customer_id)
    reason = (reason or "").strip()[:300] or f"Transfer from reseller {reseller.display_name}"
    out, _into = _move_points(reseller, reseller, customer, _points(points), reason, "reseller.transfer",
                              lambda short: _l("You have only %(available)d points; you cannot transfer %(required)d.",
                                               available=short.available, required=short.required))
    return out


def take_back(reseller, customer_id, points, reason=""):
    """Move unused points from a customer back to the reseller."""
    customer = _own_customer(reseller, customer_id)
    reason = (reason or "").strip()[:300] or f"Taken back by reseller {reseller.display_name}"
    _out, into = _move_points(reseller, customer, reseller, _points(points), reason, "reseller.take_back",
                              lambda short: _l("The customer has only %(available)d unused points; you cannot "
                                               "take back %(required)d.",
                                               available=short.available, required=short.required))
    return into


def block_customer(reseller, customer_id, reason):
    customer = _own_customer(reseller, customer_id)
    reason = (reason or "").strip()
    if not reason:
        raise FieldErrors.single("reason", _l("Say why the account is blocked; the customer sees it when logging in."))
    with db.atomic():
        Account.update(is_blocked=True, blocked_reason=reason[:500]).where(Account.id == customer.id).execute()
        audit(reseller, "reseller.customer_blocked", customer, reason=reason)
    return Account.get_by_id(customer.id)


def unblock_customer(reseller, customer_id):
    customer = _own_customer(reseller, customer_id)
    with db.atomic():
        Account.update(is_blocked=False, blocked_reason="").where(Account.id == customer.id).execute()
        audit(reseller, "reseller.customer_unblocked", customer)
    return Account.get_by_id(customer.id)


def _website(url):
    url = (url or "").strip()
    if not url:
        return ""
    if "://" not in url:
        url = "https://" + url
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or "." not in (parsed.hostname or ""):
        raise FieldErrors.single("public_website", _l("Enter a web address like https://example.com."))
    return url[:200]


def _phone(text):
    text = (text or "").strip()
    allowed = set("0123456789+ -()")
    if text and (not set(text) <= allowed or sum(ch.isdigit() for ch in text) < 7):
        raise FieldErrors.single("public_phone", _l("Enter a phone number with digits only, for example +965 2222 3333."))
    return text[:30]


def _looks_like_email(text):
    local, _, domain = text.partition("@")
    return bool(local) and "." in domain and " " not in text


def update_listing(reseller, *, listed_publicly, public_phone="", public_email="", public_website=""):
    """The reseller's entry on the public 'Authorized resellers' page (opt-in)."""
    if not is_reseller(reseller):
        raise FieldErrors.single("form", _l("Only a reseller account can be listed."))
    errors, values = {}, {}
    for name, check, value in (("public_phone", _phone, public_phone), ("public_website", _website, public_website)):
        try:
            values[name] = check(value)
        except FieldErrors as error:
            errors.update(error.errors)
    values["public_email"] = auth_service.normalize_email(public_email)[:254]
    if values["public_email"] and not _looks_like_email(values["public_email"]):
        errors["public_email"] = _l("Enter a valid email address, like name@example.com.")
    if listed_publicly and not (values.get("public_phone") or values["public_email"]):
        errors["public_phone"] = _l("Give a phone number or an email so customers can reach you.")
    if errors:
        raise FieldErrors(errors)
    with db.atomic():
        Account.update(listed_publicly=bool(listed_publicly), **values).where(Account.id == reseller.id).execute()
        audit(reseller, "reseller.listing_changed", reseller, listed_publicly=bool(listed_publicly), **values)
    return Account.get_by_id(reseller.id)


def public_resellers():
    return (Account.select()
            .where(Account.role == Account.RESELLER, Account.listed_publicly == True,  # noqa: E712
                   Account.is_blocked == False)  # noqa: E712
            .order_by(fn.LOWER(Account.company), Account.id))
