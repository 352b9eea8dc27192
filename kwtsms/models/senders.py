"""Sender IDs, the operator's list of names that belong to others, and the
one-time codes that confirm an account's own mobile number."""
from peewee import BooleanField, Check, CharField, DateTimeField, ForeignKeyField, IntegerField

from .accounts import Account
from .base import BaseModel, utcnow


class SenderId(BaseModel):
    PROMOTIONAL, TRANSACTIONAL = "promotional", "transactional"
    KINDS = (PROMOTIONAL, TRANSACTIONAL)
    REQUESTED, APPROVED, REJECTED, SUSPENDED = "requested", "approved", "rejected", "suspended"
    STATUSES = (REQUESTED, APPROVED, REJECTED, SUSPENDED)

    account = ForeignKeyField(Account, backref="sender_ids", on_delete="CASCADE")
    # Case is kept and matters ("Kuwait" and "KUWAIT" are two IDs); a numeric
    # sender (the account's own mobile number) may have up to 15 digits.
    name = CharField(max_length=15)
    kind = CharField(max_length=16, default=TRANSACTIONAL)
    status = CharField(max_length=16, default=REQUESTED, index=True)
    is_mobile = BooleanField(default=False)  # the account's own verified mobile number
    purpose = CharField(max_length=300, default="")  # what the customer will send with it
    # Why it was rejected or suspended; shown to the customer.
    status_reason = CharField(max_length=500, default="")
    reviewed_by = ForeignKeyField(Account, null=True, backref="+", on_delete="SET NULL")
    reviewed_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("account", "name"), True),)


class BlockedName(BaseModel):
    CARRIER, BANK, GOVERNMENT, BRAND = "carrier", "bank", "government", "brand"
    CATEGORIES = (CARRIER, BANK, GOVERNMENT, BRAND)

    name = CharField(max_length=40)
    # The look-alike form (kwtsms.senders.service.lookalike_key): unique, so
    # "NBK" and "N.B.K" cannot both be on the list.
    normalized = CharField(max_length=40, unique=True)
    category = CharField(max_length=16, default=BRAND)
    created_at = DateTimeField(default=utcnow)


class MobileVerification(BaseModel):
    """A one-time code sent to the account's mobile; only its hash is stored."""

    account = ForeignKeyField(Account, backref="+", on_delete="CASCADE")
    number = CharField(max_length=15)
    code_hash = CharField(max_length=255)
    attempts = IntegerField(default=0, constraints=[Check("attempts >= 0")])
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("account", "id"), False),)
