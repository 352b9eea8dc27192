"""Recharge: packages, the admin's limits, payment providers, orders and the callback log.

Money is integer fils (1 KWD = 1000 fils), points are integers; nothing here is a float.
"""
from peewee import BooleanField, Check, CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from .accounts import Account
from .base import BaseModel, utcnow


class Package(BaseModel):
    """A fixed bundle of points at a fixed price, offered on the recharge page."""
    name = CharField(max_length=100)
    points = IntegerField(constraints=[Check("points > 0")])
    price_fils = IntegerField(constraints=[Check("price_fils > 0")])
    is_active = BooleanField(default=True)
    sort_order = IntegerField(default=0)
    created_at = DateTimeField(default=utcnow)


class RechargeSettings(BaseModel):
    """One row (id 1): what a custom amount may be and how many points it buys."""
    min_custom_fils = IntegerField(default=5000)
    max_custom_fils = IntegerField(default=1_000_000)
    points_per_kwd = IntegerField(default=50)  # 0 turns custom amounts off
    updated_at = DateTimeField(default=utcnow)


class PaymentProvider(BaseModel):
    """The admin's settings for one payment provider (code: stripe, hosted, demo).

    `secret` and `secret2` override the environment's keys when set; they are
    write-only in the admin pages (shown masked, never in full).
    """
    code = CharField(max_length=16, unique=True)
    label = CharField(max_length=100, default="")
    is_enabled = BooleanField(default=False)
    sort_order = IntegerField(default=0)
    gateway_url = CharField(max_length=300, default="")
    merchant_id = CharField(max_length=100, default="")
    secret = CharField(max_length=300, default="")
    secret2 = CharField(max_length=300, default="")
    updated_at = DateTimeField(default=utcnow)


class Order(BaseModel):
    PENDING, PAID, EXPIRED, CANCELLED, FAILED, REFUNDED = (
        "pending", "paid", "expired", "cancelled", "failed", "refunded")
    STATUSES = (PENDING, PAID, EXPIRED, CANCELLED, FAILED, REFUNDED)

    account = ForeignKeyField(Account, backref="orders", on_delete="RESTRICT")
    reference = CharField(max_length=32, unique=True)  # ours, sent to the provider
    package = ForeignKeyField(Package, null=True, backref="+", on_delete="SET NULL")
    description = CharField(max_length=200, default="")
    points = IntegerField(constraints=[Check("points > 0")])
    amount_fils = IntegerField(constraints=[Check("amount_fils > 0")])
    currency = CharField(max_length=3, default="KWD")
    provider = CharField(max_length=16)
    # The provider's id for the payment (Stripe's checkout session, the gateway's
    # transaction id); unique per provider, so one payment credits one order once.
    provider_reference = CharField(max_length=200, null=True)
    status = CharField(max_length=16, default=PENDING, index=True)
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    paid_at = DateTimeField(null=True)
    refunded_at = DateTimeField(null=True)
    refunded_by = ForeignKeyField(Account, null=True, backref="+", on_delete="SET NULL")
    refund_reason = CharField(max_length=500, default="")

    class Meta:
        table_name = "recharge_order"  # "order" is an SQL keyword
        indexes = (
            (("provider", "provider_reference"), True),
            (("account", "id"), False),
        )


class PaymentCallback(BaseModel):
    """Every callback a provider sent, with what we did about it (credited or why not)."""
    CREDITED, DUPLICATE, ALREADY_PAID, UNKNOWN_ORDER, EXPIRED, CANCELLED, NOT_PENDING, \
        AMOUNT_MISMATCH, CURRENCY_MISMATCH, PROVIDER_MISMATCH, BAD_SIGNATURE, MARKED_CANCELLED, \
        MARKED_FAILED, IGNORED = (
            "credited", "duplicate", "already_paid", "unknown_order", "expired", "cancelled",
            "not_pending", "amount_mismatch", "currency_mismatch", "provider_mismatch",
            "bad_signature", "marked_cancelled", "marked_failed", "ignored")

    provider = CharField(max_length=16)
    order = ForeignKeyField(Order, null=True, backref="callbacks", on_delete="SET NULL")
    order_reference = CharField(max_length=100, default="")
    provider_reference = CharField(max_length=200, default="")
    outcome = CharField(max_length=24, index=True)
    detail = CharField(max_length=500, default="")
    payload = TextField(default="")
    created_at = DateTimeField(default=utcnow)
