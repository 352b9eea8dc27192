"""Recharge rules: packages and limits, orders, crediting verified payments, refunds,
and the low-balance alert.

Service functions take the app's config mapping as an argument where they need a
setting, so tests and jobs call them without a request.

Low-balance alert: call `check_low_balance(account_id)` after every change that can
lower a balance (a send's charge, a transfer out, a debit). It sends one email when the
balance falls below the account's threshold and re-arms once the balance is back at or
above it. The recharge, reseller and refund paths here already call it; the sending
area must call it after charging a campaign.
"""
import datetime
import logging
import secrets

from flask import current_app, has_request_context, render_template, url_for
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from peewee import IntegrityError, fn

from .. import ledger
from ..admin.service import audit
from ..db import db
from ..errors import FieldErrors
from ..mail import send_mail
from ..models import Account, LedgerEntry, Order, Package, PaymentCallback, PaymentProvider, RechargeSettings, utcnow
from . import providers as providers_module
from .money import CURRENCY, FILS_PER_KWD, AmountError, format_kwd, parse_kwd
from .providers import CANCELLED, FAILED, IGNORED, PaymentEvent, ProviderError

log = logging.getLogger("kwtsms.recharge")

DEFAULT_PROVIDERS = (
    {"code": providers_module.STRIPE, "label": "Card (Stripe)", "is_enabled": False, "sort_order": 1},
    {"code": providers_module.HOSTED, "label": "KNET", "is_enabled": False, "sort_order": 2},
    {"code": providers_module.DEMO, "label": "Demo payment", "is_enabled": True, "sort_order": 3},
)
MAX_POINTS = 100_000_000
MAX_FILS = 100_000_000  # 100,000 KWD: far above any sane limit, far below integer overflow


# ---------------------------------------------------------------- settings, packages, providers

def get_settings():
    """The admin's limits (one row, created with defaults when missing)."""
    settings = RechargeSettings.get_or_none(RechargeSettings.id == 1)
    if settings is None:
        RechargeSettings.insert(id=1).on_conflict_ignore().execute()
        settings = RechargeSettings.get_by_id(1)
    return settings


def active_packages():
    return list(Package.select().where(Package.is_active == True)  # noqa: E712
                .order_by(Package.sort_order, Package.price_fils, Package.id))


def provider_rows():
    """Every provider's settings row, creating the missing ones with their defaults."""
    rows = {row.code: row for row in PaymentProvider.select()}
    missing = [spec for spec in DEFAULT_PROVIDERS if spec["code"] not in rows]
    if missing:
        PaymentProvider.insert_many(missing).on_conflict_ignore().execute()
        rows = {row.code: row for row in PaymentProvider.select()}
    return sorted((rows[code] for code in providers_module.CODES if code in rows),
                  key=lambda row: (row.sort_order, row.id))


def get_provider(code, config):
    """The provider object for a code, available or not; None for an unknown code."""
    if code not in providers_module.CODES:
        return None
    row = next((r for r in provider_rows() if r.code == code), None)
    return providers_module.build(row, config) if row is not None else None


def available_providers(config):
    return [p for p in (providers_module.build(row, config) for row in provider_rows()) if p.is_available()]


# ---------------------------------------------------------------- orders

def custom_points(amount_fils, settings):
    return amount_fils * settings.points_per_kwd // FILS_PER_KWD


def quote_custom_amount(text, settings):
    """(fils, points) for a typed amount, or FieldErrors on `amount` saying what is wrong."""
    if settings.points_per_kwd <= 0:
        raise FieldErrors.single("amount", _l("Custom amounts are turned off; choose a package."))
    raw = (text or "").strip()
    if not raw:
        raise FieldErrors.single("amount", _l("Enter the amount in KWD, for example 25 or 12.500."))
    if raw.startswith("-"):
        raise FieldErrors.single("amount", _l("The amount must be more than zero."))
    try:
        fils = parse_kwd(raw)
    except AmountError:
        raise FieldErrors.single("amount", _l(
            "Enter the amount in KWD as a number with at most 3 decimals, for example 25 or 12.500."))
    if fils <= 0:
        raise FieldErrors.single("amount", _l("The amount must be more than zero."))
    if fils > settings.max_custom_fils or fils > MAX_FILS:
        raise FieldErrors.single("amount", _l("The most you can pay at once is %(max)s KWD.",
                                              max=format_kwd(min(settings.max_custom_fils, MAX_FILS))))
    if fils < settings.min_custom_fils:
        raise FieldErrors.single("amount", _l("The least you can pay is %(min)s KWD.",
                                              min=format_kwd(settings.min_custom_fils)))
    points = custom_points(fils, settings)
    if points < 1:
        raise FieldErrors.single("amount", _l("This amount buys less than one point."))
    return fils, points


def new_reference():
    """Our order reference: letters and digits only, which every gateway accepts."""
    return "KS" + secrets.token_hex(6).upper()


def can_recharge_online(account):
    """A reseller's customer gets points from the reseller, not from us."""
    return account.parent_id is None


def create_order(account, *, provider_code, config, package_id=None, amount_text=None, now=None):
    """A pending order for a package (by id) or a custom amount, to be paid with a provider.

    Raises FieldErrors (nothing is stored) for a wrong package, amount or provider.
    """
    if not can_recharge_online(account):
        raise FieldErrors.single("form", _l("Your points come from your reseller; ask them to top up your account."))
    errors = {}
    provider = get_provider(provider_code, config)
    if provider is None or not provider.is_available():
        errors["provider"] = _l("Choose one of the payment methods offered.")
    package, fils, points = None, None, None
    if package_id not in (None, "", "custom"):
        try:
            package = Package.get_or_none(Package.id == int(package_id), Package.is_active == True)  # noqa: E712
        except (TypeError, ValueError):
            package = None
        if package is None:
            errors["choice"] = _l("This package is no longer offered; choose another one.")
        else:
            fils, points = package.price_fils, package.points
    else:
        try:
            fils, points = quote_custom_amount(amount_text, get_settings())
        except FieldErrors as error:
            errors.update(error.errors)
    if errors:
        raise FieldErrors(errors)
    now = now or utcnow()
    ttl = int(config.get("RECHARGE_ORDER_TTL_MINUTES") or 60)
    description = (f"{package.name}: {points} points" if package else f"{points} points")[:200]
    with db.atomic():
        return Order.create(account=account.id, reference=new_reference(), package=package,
                            description=description, points=points, amount_fils=fils, currency=CURRENCY,
                            provider=provider.code, created_at=now,
                            expires_at=now + datetime.timedelta(minutes=ttl))


def begin_checkout(order, urls, config):
    """The provider's payment page URL for a new order. If the provider cannot start
    the payment, the order is marked failed and ProviderError (a readable message) is raised."""
    provider = get_provider(order.provider, config)
    try:
        if provider is None or not provider.is_available():
            raise ProviderError(_l("This payment method is not available right now."))
        return provider.start_checkout(order, urls)
    except ProviderError:
        with db.atomic():
            Order.update(status=Order.FAILED).where(Order.id == order.id, Order.status == Order.PENDING).execute()
        log.warning("checkout for order %s with %s could not start", order.reference, order.provider)
        raise


def expire_stale_orders(now=None):
    """Mark pending orders past their expiry time as expired; returns how many."""
    with db.atomic():
        return (Order.update(status=Order.EXPIRED)
                .where(Order.status == Order.PENDING, Order.expires_at < (now or utcnow())).execute())


def refresh(order, now=None):
    """The order as stored now, expired first if its time ran out."""
    if order.status == Order.PENDING and order.expires_at < (now or utcnow()):
        with db.atomic():
            Order.update(status=Order.EXPIRED).where(Order.id == order.id, Order.status == Order.PENDING).execute()
    return Order.get_by_id(order.id)


def cancel_order(account, order):
    """The customer gives up on a pending order; a later payment callback for it is not credited."""
    with db.atomic():
        changed = (Order.update(status=Order.CANCELLED)
                   .where(Order.id == order.id, Order.account == account.id, Order.status == Order.PENDING).execute())
    if changed != 1:
        raise FieldErrors.single("form", _l("Only an unpaid order can be cancelled."))
    return Order.get_by_id(order.id)


def orders_of(account):
    return Order.select().where(Order.account == account.id).order_by(Order.id.desc())


# ---------------------------------------------------------------- provider callbacks

def _judge(event, order, now):
    """What to do with a verified event: (outcome, detail)."""
    C = PaymentCallback
    if order is None:
        return C.UNKNOWN_ORDER, "no order with this reference"
    if order.provider != event.provider:
        return C.PROVIDER_MISMATCH, f"order is for {order.provider}"
    if event.status == IGNORED:
        return C.IGNORED, "event type not acted on"
    if event.provider_reference:
        holder = Order.get_or_none(Order.provider == event.provider,
                                   Order.provider_reference == event.provider_reference)
        if holder is not None:
            return C.DUPLICATE, f"payment already recorded on order {holder.reference}"
    if event.status in (CANCELLED, FAILED):
        if order.status != Order.PENDING:
            return C.NOT_PENDING, f"order is {order.status}"
        return (C.MARKED_CANCELLED if event.status == CANCELLED else C.MARKED_FAILED), ""
    # A payment.
    if order.status in (Order.PAID, Order.REFUNDED):
        return C.ALREADY_PAID, f"order is {order.status} by another payment"
    if order.status == Order.CANCELLED:
        return C.CANCELLED, "order was cancelled"
    if order.status == Order.EXPIRED or (order.status == Order.PENDING and order.expires_at < now):
        return C.EXPIRED, f"order expired at {order.expires_at:%Y-%m-%d %H:%M} UTC"
    if order.status != Order.PENDING:
        return C.NOT_PENDING, f"order is {order.status}"
    if event.currency != order.currency:
        return C.CURRENCY_MISMATCH, f"paid {event.currency!r}, order is {order.currency}"
    if event.amount_fils != order.amount_fils:
        return C.AMOUNT_MISMATCH, f"paid {event.amount_fils} fils, order is {order.amount_fils} fils"
    return C.CREDITED, ""


def apply_payment_event(event: PaymentEvent, now=None):
    """Act on a verified callback, exactly once: returns (outcome, order or None).

    One transaction (a) moves the order from pending to paid with a conditional
    UPDATE, (b) records the provider's reference under a unique index and (c) credits
    the points through the ledger. A replay finds the reference recorded (or the order
    no longer pending) and credits nothing. Every callback is logged with its outcome.
    """
    now = now or utcnow()
    C = PaymentCallback
    order = None
    with db.atomic():
        if event.order_reference:
            order = Order.get_or_none(Order.reference == event.order_reference[:32])
        outcome, detail = _judge(event, order, now)
        if outcome == C.CREDITED:
            try:
                with db.atomic():
                    claimed = (Order.update(status=Order.PAID, paid_at=now,
                                            provider_reference=event.provider_reference or None)
                               .where(Order.id == order.id, Order.status == Order.PENDING).execute())
            except IntegrityError:
                claimed, outcome, detail = 0, C.DUPLICATE, "payment reference already recorded"
            if claimed == 1:
                ledger.credit(order.account_id, order.points, kind=LedgerEntry.RECHARGE,
                              reason=f"Online recharge, order {order.reference}", reference=order.reference)
            elif outcome == C.CREDITED:
                outcome, detail = C.NOT_PENDING, "order was settled by a simultaneous callback"
        elif outcome in (C.MARKED_CANCELLED, C.MARKED_FAILED):
            status = Order.CANCELLED if outcome == C.MARKED_CANCELLED else Order.FAILED
            Order.update(status=status).where(Order.id == order.id, Order.status == Order.PENDING).execute()
        elif outcome == C.EXPIRED:
            Order.update(status=Order.EXPIRED).where(Order.id == order.id, Order.status == Order.PENDING).execute()
        record_callback(event.provider, outcome, detail=detail, order=order, order_reference=event.order_reference,
                        provider_reference=event.provider_reference, payload=event.payload)
    if outcome == C.CREDITED:
        log.info("order %s paid with %s (%s): %d points credited", order.reference, event.provider,
                 event.provider_reference, order.points)
        rearm_low_balance(order.account_id)
    else:
        log.warning("%s callback for order %r not credited: %s %s", event.provider, event.order_reference,
                    outcome, detail)
    return outcome, (Order.get_by_id(order.id) if order is not None else None)


def record_callback(provider, outcome, *, detail="", order=None, order_reference="", provider_reference="",
                    payload=""):
    return PaymentCallback.create(provider=provider[:16], outcome=outcome, detail=str(detail)[:500],
                                  order=order.id if order is not None else None,
                                  order_reference=(order_reference or "")[:100],
                                  provider_reference=(provider_reference or "")[:200],
                                  payload=(payload or "")[:4000])


def record_rejected_callback(provider, detail, payload=""):
    """A callback whose signature or format was wrong: logged, nothing else."""
    log.warning("%s callback rejected: %s", provider, detail)
    with db.atomic():
        return record_callback(provider, PaymentCallback.BAD_SIGNATURE, detail=detail, payload=payload)


# ---------------------------------------------------------------- admin: orders and refunds

def search_orders(status="", query="", account_id=None):
    orders = Order.select(Order, Account).join(Account, on=(Order.account == Account.id)).order_by(Order.id.desc())
    if status in Order.STATUSES:
        orders = orders.where(Order.status == status)
    if account_id:
        orders = orders.where(Order.account == account_id)
    query = (query or "").strip()
    if query:
        like = f"%{query.lower()}%"
        orders = orders.where((fn.LOWER(Order.reference) ** like) | (fn.LOWER(Account.email) ** like) |
                              (fn.LOWER(Account.company) ** like) | (fn.LOWER(Order.provider_reference) ** like))
    return orders


def refund_order(admin, order, reason):
    """Mark a paid order refunded and debit its points from the account, with a reason.
    (The money itself is returned in the provider's own dashboard.)"""
    reason = (reason or "").strip()
    if not reason:
        raise FieldErrors.single("reason", _l("Say why the order is refunded."))
    try:
        with db.atomic():
            claimed = (Order.update(status=Order.REFUNDED, refunded_at=utcnow(), refunded_by=admin.id,
                                    refund_reason=reason[:500])
                       .where(Order.id == order.id, Order.status == Order.PAID).execute())
            if claimed != 1:
                raise FieldErrors.single("reason", _l("Only a paid order can be refunded."))
            entry = ledger.adjust(order.account_id, -order.points, actor=admin,
                                  reason=f"Refund of order {order.reference}: {reason}", reference=order.reference)
            audit(admin, "order.refunded", Account.get_by_id(order.account_id), reference=order.reference,
                  points=order.points, amount_fils=order.amount_fils, reason=reason,
                  balance_after=entry.balance_after)
    except ledger.InsufficientCredit as short:
        raise FieldErrors.single("reason", _l(
            "The account has only %(available)d points left, less than the order's %(required)d. "
            "Debit what is left with a credit adjustment on the account page instead.",
            available=short.available, required=short.required))
    check_low_balance(order.account_id)
    return Order.get_by_id(order.id)


# ---------------------------------------------------------------- admin: packages, limits, providers

def _price(text, field="price"):
    raw = (text or "").strip()
    try:
        fils = parse_kwd(raw)
    except AmountError:
        raise FieldErrors.single(field, _l(
            "Enter the amount in KWD as a number with at most 3 decimals, for example 25 or 12.500."))
    if fils <= 0 or fils > MAX_FILS:
        raise FieldErrors.single(field, _l("The amount must be more than zero and at most 100,000 KWD."))
    return fils


def save_package(admin, package, *, name, points, price, sort_order=0, is_active=True):
    """Create (package=None) or change a package."""
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = _l("This field is required.")
    if not isinstance(points, int) or not 0 < points <= MAX_POINTS:
        errors["points"] = _l("Enter a whole number of points above zero.")
    try:
        fils = _price(price)
    except FieldErrors as error:
        errors.update(error.errors)
    if errors:
        raise FieldErrors(errors)
    values = dict(name=name[:100], points=points, price_fils=fils, sort_order=sort_order or 0,
                  is_active=bool(is_active))
    with db.atomic():
        if package is None:
            package = Package.create(**values)
            audit(admin, "package.created", None, id=package.id, **values)
        else:
            Package.update(**values).where(Package.id == package.id).execute()
            audit(admin, "package.changed", None, id=package.id, **values)
    return Package.get_by_id(package.id)


def save_settings(admin, *, min_amount, max_amount, points_per_kwd):
    errors = {}
    try:
        low = _price(min_amount, "min_amount")
    except FieldErrors as error:
        errors.update(error.errors)
    try:
        high = _price(max_amount, "max_amount")
    except FieldErrors as error:
        errors.update(error.errors)
    if not errors and low > high:
        errors["max_amount"] = _l("The most must not be less than the least.")
    if not isinstance(points_per_kwd, int) or not 0 <= points_per_kwd <= 1_000_000:
        errors["points_per_kwd"] = _l("Enter a whole number from 0 to 1,000,000.")
    if errors:
        raise FieldErrors(errors)
    get_settings()
    with db.atomic():
        RechargeSettings.update(min_custom_fils=low, max_custom_fils=high, points_per_kwd=points_per_kwd,
                                updated_at=utcnow()).where(RechargeSettings.id == 1).execute()
        audit(admin, "recharge.settings_changed", None, min_custom_fils=low, max_custom_fils=high,
              points_per_kwd=points_per_kwd)
    return get_settings()


def save_provider(admin, row, config, *, label, is_enabled, gateway_url="", merchant_id="", secret="",
                  secret2="", clear_secrets=False):
    """Change a provider's settings. Empty secret fields keep the stored secrets."""
    gateway_url = (gateway_url or "").strip()
    if gateway_url and not gateway_url.startswith("https://") and not (
            gateway_url.startswith("http://") and not config.get("PRODUCTION")):
        raise FieldErrors.single("gateway_url", _l("The payment page address must start with https://."))
    if row.code == providers_module.DEMO and is_enabled and config.get("PRODUCTION"):
        raise FieldErrors.single("is_enabled", _l("The demo provider cannot be turned on in production."))
    values = dict(label=(label or "").strip()[:100] or row.code, is_enabled=bool(is_enabled),
                  gateway_url=gateway_url[:300], merchant_id=(merchant_id or "").strip()[:100], updated_at=utcnow())
    if clear_secrets:
        values.update(secret="", secret2="")
    if secret and secret.strip():
        values["secret"] = secret.strip()[:300]
    if secret2 and secret2.strip():
        values["secret2"] = secret2.strip()[:300]
    with db.atomic():
        PaymentProvider.update(**values).where(PaymentProvider.id == row.id).execute()
        audit(admin, "payment_provider.changed", None, code=row.code, label=values["label"],
              is_enabled=values["is_enabled"], gateway_url=values["gateway_url"],
              merchant_id=values["merchant_id"], secrets_changed=bool(set(values) & {"secret", "secret2"}))
    updated = PaymentProvider.get_by_id(row.id)
    provider = providers_module.build(updated, config)
    if updated.is_enabled and provider.missing_settings():
        log.warning("payment provider %s is enabled but misses %s", row.code, provider.missing_settings())
    return updated


# ---------------------------------------------------------------- low-balance alert

def set_low_balance_threshold(account, threshold):
    """0 turns the alert off. If the balance is already below a new threshold, the email goes now."""
    if not isinstance(threshold, int) or not 0 <= threshold <= MAX_POINTS:
        raise FieldErrors.single("threshold", _l("Enter a whole number of points, 0 or more."))
    with db.atomic():
        Account.update(low_balance_threshold=threshold, low_balance_alerted=False).where(
            Account.id == account.id).execute()
    check_low_balance(account.id)
    return Account.get_by_id(account.id)


def rearm_low_balance(account_id):
    """After the balance rose: allow the next alert once it is back at or above the threshold."""
    return (Account.update(low_balance_alerted=False)
            .where(Account.id == account_id, Account.low_balance_alerted == True,  # noqa: E712
                   Account.balance >= Account.low_balance_threshold).execute())


def check_low_balance(account_id, notify=None):
    """Call after every change that can lower a balance. Sends the one alert email when the
    balance is below the threshold and no alert went out since it was last above; re-arms
    the alert when the balance is back at or above it. The conditional UPDATEs make it safe
    to call concurrently: one email per crossing. Returns True when an alert was sent."""
    account_id = account_id.id if isinstance(account_id, Account) else account_id
    rearm_low_balance(account_id)
    claimed = (Account.update(low_balance_alerted=True)
               .where(Account.id == account_id, Account.low_balance_threshold > 0,
                      Account.low_balance_alerted == False,  # noqa: E712
                      Account.balance < Account.low_balance_threshold).execute())
    if not claimed:
        return False
    account = Account.get_by_id(account_id)
    try:
        (notify or send_low_balance_email)(account)
    except Exception:  # noqa: BLE001 - a mail failure must not undo the charge; retry next time
        log.exception("low-balance email to account %s failed", account_id)
        Account.update(low_balance_alerted=False).where(Account.id == account_id).execute()
        return False
    with db.atomic():
        audit(None, "low_balance.alerted", account, balance=account.balance,
              threshold=account.low_balance_threshold)
    return True


def _recharge_link():
    base = current_app.config.get("PUBLIC_BASE_URL", "")
    if base:
        return base + url_for("recharge.index")
    if has_request_context():
        return url_for("recharge.index", _external=True)
    return "/recharge"


def send_low_balance_email(account):
    with force_locale(account.language or current_app.config["BABEL_DEFAULT_LOCALE"]):
        subject = str(_l("Your kwtsms balance is low: %(balance)s points", balance=account.balance))
        body = render_template("recharge/low_balance_email.txt", account=account, link=_recharge_link())
    send_mail(account.email, subject, body)
