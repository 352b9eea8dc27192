"""What an operator does to accounts: search, block and unblock, adjust credit. All audited."""
import json

from flask_babel import lazy_gettext as _l
from peewee import fn

from .. import ledger
from ..db import db
from ..errors import FieldErrors
from ..models import Account, AuditLog


def audit(actor, action, account=None, **details):
    return AuditLog.create(actor=actor.id if actor else None,
                           account=account.id if account else None,
                           action=action, details=json.dumps(details, ensure_ascii=False, default=str))


def search_accounts(query="", role=""):
    accounts = Account.select().order_by(Account.id.desc())
    query = (query or "").strip()
    if query:
        like = f"%{query.lower()}%"
        digits = "".join(ch for ch in query if ch.isdigit())
        condition = (fn.LOWER(Account.email) ** like) | (fn.LOWER(Account.company) ** like) | \
                    (fn.LOWER(Account.contact_name) ** like)
        if digits:
            condition |= Account.mobile.contains(digits)
        accounts = accounts.where(condition)
    if role in Account.ROLES:
        accounts = accounts.where(Account.role == role)
    return accounts


def block_account(admin, account, reason):
    reason = (reason or "").strip()
    if not reason:
        raise FieldErrors.single("reason", _l("Say why the account is blocked; the customer sees it when logging in."))
    if account.id == admin.id:
        raise FieldErrors.single("reason", _l("You cannot block your own account."))
    with db.atomic():
        Account.update(is_blocked=True, blocked_reason=reason[:500]).where(Account.id == account.id).execute()
        audit(admin, "account.blocked", account, reason=reason)


def unblock_account(admin, account):
    with db.atomic():
        Account.update(is_blocked=False, blocked_reason="").where(Account.id == account.id).execute()
        audit(admin, "account.unblocked", account)


def adjust_credit(admin, account, points, reason):
    """A manual credit (+) or debit (-) with a mandatory reason; refused if it would go below zero."""
    reason = (reason or "").strip()
    if not reason:
        raise FieldErrors.single("reason", _l("A reason is required for every credit adjustment."))
    if not points:
        raise FieldErrors.single("points", _l("Enter a number of points other than zero."))
    try:
        with db.atomic():
            entry = ledger.adjust(account, points, actor=admin, reason=reason)
            audit(admin, "credit.adjusted", account, points=points, reason=reason, balance_after=entry.balance_after)
        if points < 0:
            from ..recharge.service import check_low_balance  # recharge imports audit() from here
            check_low_balance(account.id)
    except ledger.InsufficientCredit as short:
        raise FieldErrors.single("points", _l(
            "The account has only %(available)d points; it cannot be debited %(required)d.",
            available=short.available, required=short.required))
    return entry
