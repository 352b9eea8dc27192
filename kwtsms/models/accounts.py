"""Accounts, their credit ledger, password-reset tokens and the audit log."""
from flask_login import UserMixin
from peewee import BooleanField, Check, CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from .base import BaseModel, utcnow


class Account(UserMixin, BaseModel):
    CUSTOMER, RESELLER, ADMIN = "customer", "reseller", "admin"
    ROLES = (CUSTOMER, RESELLER, ADMIN)

    email = CharField(max_length=254, unique=True)  # stored lower-cased
    password_hash = CharField(max_length=255)
    company = CharField(max_length=100, default="")
    contact_name = CharField(max_length=100, default="")
    mobile = CharField(max_length=15, null=True, unique=True)  # digits with country code
    role = CharField(max_length=16, default=CUSTOMER, index=True)
    # Points. Only kwtsms.ledger changes it, always together with a LedgerEntry.
    balance = IntegerField(default=0, constraints=[Check("balance >= 0")])
    is_blocked = BooleanField(default=False)
    blocked_reason = CharField(max_length=500, default="")
    language = CharField(max_length=5, default="")
    # Bumped when the password changes, so old sessions and remember-me cookies die.
    session_version = IntegerField(default=0)
    created_at = DateTimeField(default=utcnow)
    # The mobile number confirmed with a one-time code (kwtsms.senders), and when;
    # verified only while it still equals `mobile`.
    mobile_verified_number = CharField(max_length=15, null=True)
    mobile_verified_at = DateTimeField(null=True)
    # Recharge and resellers (kwtsms.recharge, kwtsms.resellers). A customer of a
    # reseller has `parent` set; resellers may list themselves on /resellers.
    parent = ForeignKeyField("self", null=True, backref="customers", on_delete="SET NULL")
    listed_publicly = BooleanField(default=False)
    public_phone = CharField(max_length=30, default="")
    public_email = CharField(max_length=254, default="")
    public_website = CharField(max_length=200, default="")
    # Points; 0 means no alert. `low_balance_alerted` is set when the one email
    # went out and cleared when the balance is back at or above the threshold.
    low_balance_threshold = IntegerField(default=0)
    low_balance_alerted = BooleanField(default=False)
    # The developer API (kwtsms.api). The operator grants access (None: the
    # API_ACCESS_DEFAULT setting decides); the account turns it on and off.
    # The API password is stored hashed; `api_credentials_version` is bumped
    # whenever it changes, which retires every cached verification.
    api_access_granted = BooleanField(null=True)
    api_enabled = BooleanField(default=False)
    api_username = CharField(max_length=64, null=True, unique=True)  # stored lower-cased
    api_password_hash = CharField(max_length=255, default="")
    api_credentials_version = IntegerField(default=0)
    api_ip_whitelist = TextField(default="")  # addresses and CIDR ranges, one a line; empty: any
    webhook_url = CharField(max_length=500, default="")  # delivery reports are POSTed here
    webhook_secret = CharField(max_length=64, default="")  # HMAC-SHA256 key of their signature

    def get_id(self):
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self):
        return not self.is_blocked

    @property
    def is_admin(self):
        return self.role == self.ADMIN

    @property
    def display_name(self):
        return self.company or self.contact_name or self.email


class LedgerEntry(BaseModel):
    RECHARGE, SEND, REFUND, TRANSFER_IN, TRANSFER_OUT, ADJUSTMENT = (
        "recharge", "send", "refund", "transfer_in", "transfer_out", "adjustment",
    )
    KINDS = (RECHARGE, SEND, REFUND, TRANSFER_IN, TRANSFER_OUT, ADJUSTMENT)

    account = ForeignKeyField(Account, backref="ledger", on_delete="RESTRICT")
    kind = CharField(max_length=16)
    amount = IntegerField()  # signed: + adds points, - removes them
    balance_after = IntegerField(constraints=[Check("balance_after >= 0")])
    actor = ForeignKeyField(Account, null=True, backref="+", on_delete="SET NULL")
    reason = CharField(max_length=500, default="")
    reference = CharField(max_length=100, default="", index=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("account", "id"), False),)


class PasswordResetToken(BaseModel):
    account = ForeignKeyField(Account, backref="+", on_delete="CASCADE")
    token_hash = CharField(max_length=64, unique=True)  # sha256 hex; the token itself is only in the email
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)


class AuditLog(BaseModel):
    actor = ForeignKeyField(Account, null=True, backref="+", on_delete="SET NULL")
    account = ForeignKeyField(Account, null=True, backref="audit", on_delete="CASCADE")
    action = CharField(max_length=64, index=True)
    details = TextField(default="")
    created_at = DateTimeField(default=utcnow)
