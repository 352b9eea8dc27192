"""Messages (one send: a text from a sender to many numbers), their recipients, and opt-outs."""
import secrets

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from .accounts import Account
from .base import BaseModel, utcnow


def new_message_id():
    """The API's msg-id: 32 hex characters, unique and not guessable."""
    return secrets.token_hex(16)


class Message(BaseModel):
    SCHEDULED, QUEUED, SENDING, DONE, CANCELLED, TEST = "scheduled", "queued", "sending", "done", "cancelled", "test"
    OPEN = (SCHEDULED, QUEUED, SENDING)
    WEB, API = "web", "api"

    account = ForeignKeyField(Account, backref="messages", on_delete="CASCADE")
    msg_id = CharField(max_length=32, unique=True, default=new_message_id)
    sender = CharField(max_length=15)
    text = TextField()  # cleaned; may hold {name}
    encoding = CharField(max_length=4)  # gsm7 or ucs2
    pages = IntegerField()  # pages of the text as written (per recipient with {name}: see Recipient.pages)
    recipients_count = IntegerField(default=0)
    points = IntegerField(default=0)  # charged at acceptance (0 in test mode)
    status = CharField(max_length=10, default=QUEUED, index=True)
    source = CharField(max_length=4, default=WEB)
    is_test = BooleanField(default=False)
    scheduled_at = DateTimeField(null=True, index=True)  # UTC; None = send now
    # Set when the dispatch job is in Redis. A sweep re-queues accepted messages
    # whose enqueue never happened (Redis down, a crash right after commit).
    enqueued_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow, index=True)
    finished_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("account", "id"), False), (("status", "enqueued_at"), False), (("account", "status"), False))


class Recipient(BaseModel):
    QUEUED, SUBMITTING, SENT, DELIVERED, FAILED, REJECTED, EXPIRED, CANCELLED, TEST = (
        "queued", "submitting", "sent", "delivered", "failed", "rejected", "expired", "cancelled", "test")
    FINAL = (DELIVERED, FAILED, REJECTED, EXPIRED, CANCELLED, TEST)
    REFUNDABLE = (FAILED, REJECTED, EXPIRED, CANCELLED)

    message = ForeignKeyField(Message, backref="recipients", on_delete="CASCADE")
    mobile = CharField(max_length=15)
    name = CharField(max_length=100, default="")
    pages = IntegerField()
    points = IntegerField()  # pages x the destination's points per page
    status = CharField(max_length=10, default=QUEUED)
    error = CharField(max_length=200, default="")
    refunded = BooleanField(default=False)
    updated_at = DateTimeField(default=utcnow)
    # The dispatch engine's columns (kwtsms.dispatch, migrations/0006): the provider
    # that took it (a DispatchProvider id), the claim of the batch run submitting it,
    # temporary failures so far and when to try again, when it was handed to the
    # carrier and when it reached its final state. The per-part trail (carrier
    # message ids, receipts) is in CarrierSubmission / CarrierReceipt.
    provider_id = IntegerField(null=True)
    claim = CharField(max_length=32, null=True)
    attempts = IntegerField(default=0)
    retry_at = DateTimeField(null=True)
    submitted_at = DateTimeField(null=True)
    finished_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("message", "status"), False), (("mobile",), False))


class OptOut(BaseModel):
    """A number that must never receive this account's messages."""
    account = ForeignKeyField(Account, backref="+", on_delete="CASCADE")
    mobile = CharField(max_length=15)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("account", "mobile"), True),)
