"""Support: tickets (complaints about undelivered messages and general questions),
their thread of replies, attachments, and read markers for the unread badge.

A complaint keeps a snapshot of the facts support needs (who, from which sender,
when, what text, which numbers with their status and error at the time), so it
reads the same however the message or the account change later.
"""
from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from .accounts import Account
from .base import BaseModel, utcnow
from .messages import Message, Recipient


class Ticket(BaseModel):
    COMPLAINT, BILLING, SENDER_ID, OTHER = "complaint", "billing", "sender_id", "other"
    KINDS = (COMPLAINT, BILLING, SENDER_ID, OTHER)
    GENERAL_KINDS = (BILLING, SENDER_ID, OTHER)
    OPEN, ANSWERED, CLOSED = "open", "answered", "closed"  # open: waiting for support
    STATUSES = (OPEN, ANSWERED, CLOSED)

    account = ForeignKeyField(Account, backref="tickets", on_delete="CASCADE")
    kind = CharField(max_length=16)
    subject = CharField(max_length=200)
    status = CharField(max_length=10, default=OPEN)
    assignee = ForeignKeyField(Account, null=True, backref="+", on_delete="SET NULL")
    # Complaints: the message, and what the customer saw when reporting it.
    message = ForeignKeyField(Message, null=True, backref="+", on_delete="SET NULL")
    contact_name = CharField(max_length=100, default="")
    contact_mobile = CharField(max_length=15, default="")
    msg_id = CharField(max_length=32, default="")
    sender = CharField(max_length=15, default="")
    sent_at = DateTimeField(null=True)
    message_text = TextField(default="")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)  # last post or status change
    closed_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("account", "id"), False), (("status", "updated_at"), False))

    @property
    def is_complaint(self):
        return self.kind == self.COMPLAINT


class ComplaintRecipient(BaseModel):
    """One number a complaint is about, with its status and carrier error when reported."""
    ticket = ForeignKeyField(Ticket, backref="numbers", on_delete="CASCADE")
    recipient = ForeignKeyField(Recipient, null=True, backref="+", on_delete="SET NULL")
    mobile = CharField(max_length=15)
    status = CharField(max_length=10, default="")
    error = CharField(max_length=200, default="")
    refunded_at = DateTimeField(null=True)  # refunded through this complaint

    class Meta:
        indexes = ((("ticket", "recipient"), True),)


class TicketReply(BaseModel):
    """One post in a ticket's thread; the first one is the customer's description."""
    ticket = ForeignKeyField(Ticket, backref="replies", on_delete="CASCADE")
    author = ForeignKeyField(Account, null=True, backref="+", on_delete="SET NULL")
    from_support = BooleanField(default=False)
    body = TextField()
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("ticket", "from_support", "id"), False),)


class Attachment(BaseModel):
    """A file posted with a reply: stored outside static/ under `stored_name`,
    served only to the ticket's parties. `content_type` is what its bytes are."""
    ticket = ForeignKeyField(Ticket, backref="attachments", on_delete="CASCADE")
    reply = ForeignKeyField(TicketReply, backref="attachments", on_delete="CASCADE")
    filename = CharField(max_length=200)
    content_type = CharField(max_length=40)
    size = IntegerField()
    stored_name = CharField(max_length=64, unique=True)
    created_at = DateTimeField(default=utcnow)


class TicketRead(BaseModel):
    """How far one account has read one ticket: the last reply id it has seen."""
    ticket = ForeignKeyField(Ticket, backref="+", on_delete="CASCADE")
    account = ForeignKeyField(Account, backref="+", on_delete="CASCADE")
    last_reply_id = IntegerField(default=0)
    read_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("ticket", "account"), True),)
