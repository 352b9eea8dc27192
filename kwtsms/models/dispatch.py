"""The dispatch engine: carrier providers and the route table that picks one per
number, the batches RQ workers work through, and the trail of every submission
and delivery receipt (what support shows staff about one recipient).

Recipient rows carry the engine's own columns too (provider_id, claim, attempts,
retry_at, submitted_at, finished_at: see models/messages.py).
"""
from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from .base import BaseModel, utcnow
from .messages import Message, Recipient


class DispatchProvider(BaseModel):
    """One carrier connection, managed on /admin/routes.

    `secret` (SMPP password, kwtSMS API password) is write-only in the admin
    pages; when empty, the environment variable named by `secret_env()` is used.
    """
    SINK, SMPP, KWTSMS = "sink", "smpp", "kwtsms"
    KINDS = (SINK, SMPP, KWTSMS)
    TRANSCEIVER, SPLIT = "transceiver", "split"  # bind modes (SMPP)

    name = CharField(max_length=50, unique=True)
    kind = CharField(max_length=10)
    is_enabled = BooleanField(default=True)
    host = CharField(max_length=200, default="")  # SMPP host; kwtSMS: API base URL (empty = kwtsms.com)
    port = IntegerField(default=2775)
    system_id = CharField(max_length=100, default="")  # SMPP system_id; kwtSMS: API username
    secret = CharField(max_length=300, default="")
    system_type = CharField(max_length=13, default="")
    bind_mode = CharField(max_length=12, default=TRANSCEIVER)
    window = IntegerField(default=10)  # submits in flight per connection
    mps = IntegerField(default=50)  # messages per second per connection (0: no cap)
    enquire_link = IntegerField(default=30)  # seconds of silence before an enquire_link
    sink_delay = IntegerField(default=2)  # seconds before the sink's delivery report
    sink_failure_percent = IntegerField(default=0)  # share of sink reports that are failures
    updated_at = DateTimeField(default=utcnow)

    def secret_env(self):
        """KWTSMS_PROVIDER_<NAME>_SECRET: the environment's secret for this provider."""
        key = "".join(ch if ch.isalnum() else "_" for ch in self.name.upper())
        return f"KWTSMS_PROVIDER_{key}_SECRET"


class DispatchRoute(BaseModel):
    """Destination prefix (digits; "" is the default route) -> provider. Longest prefix wins."""
    prefix = CharField(max_length=15, unique=True)
    provider = ForeignKeyField(DispatchProvider, backref="routes", on_delete="CASCADE")
    note = CharField(max_length=200, default="")
    updated_at = DateTimeField(default=utcnow)


class DispatchBatch(BaseModel):
    """A run of one message's recipients (an id range) handled by one RQ job at a time,
    or (`message` None) one group run of small messages (kwtsms.dispatch.stream).

    `token` marks the recipients the current run claimed; while the run works it
    refreshes `heartbeat_at`. A stale heartbeat means the worker died: its
    claimed recipients are finalised as interrupted and the batch is queued again.
    """
    QUEUED, RUNNING, WAITING, DONE = "queued", "running", "waiting", "done"
    OPEN = (QUEUED, RUNNING, WAITING)

    message = ForeignKeyField(Message, backref="+", on_delete="CASCADE", null=True)
    first_id = IntegerField()
    last_id = IntegerField()
    size = IntegerField()
    status = CharField(max_length=8, default=QUEUED, index=True)
    job_id = CharField(max_length=64, default="")
    token = CharField(max_length=32, default="")
    runs = IntegerField(default=0)
    heartbeat_at = DateTimeField(null=True)
    run_after = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class CarrierSubmission(BaseModel):
    """One part of one recipient handed to a carrier: the support trail's core row."""
    ACCEPTED, REJECTED, INTERRUPTED = "accepted", "rejected", "interrupted"
    # after a receipt: the recipient state it reported (delivered, failed, expired, rejected)

    recipient = ForeignKeyField(Recipient, backref="submissions", on_delete="CASCADE")
    provider = ForeignKeyField(DispatchProvider, null=True, backref="+", on_delete="SET NULL", index=False)
    part = IntegerField(default=1)
    parts = IntegerField(default=1)
    carrier_id = CharField(max_length=64, null=True)  # the carrier's message id (kwtSMS: its msg-id)
    submitted_at = DateTimeField(default=utcnow)
    state = CharField(max_length=12, default=ACCEPTED)
    error = CharField(max_length=200, default="")

    class Meta:
        indexes = ((("provider", "carrier_id"), False),)


class CarrierReceipt(BaseModel):
    """A delivery receipt as the carrier sent it. `pending` ones (an id we do not
    know yet: the receipt beat the submit response) are matched again for a
    while, then kept as `unknown`."""
    MATCHED, PENDING, UNKNOWN = "matched", "pending", "unknown"

    provider = ForeignKeyField(DispatchProvider, null=True, backref="+", on_delete="SET NULL", index=False)
    carrier_id = CharField(max_length=64)
    mobile = CharField(max_length=20, default="")
    submission = ForeignKeyField(CarrierSubmission, null=True, backref="receipts", on_delete="CASCADE")
    stat = CharField(max_length=16, default="")  # DELIVRD, UNDELIV, EXPIRED, REJECTD, ...
    err = CharField(max_length=16, default="")
    text = CharField(max_length=300, default="")
    state = CharField(max_length=8, default=MATCHED)
    received_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("state", "received_at"), False), (("provider", "carrier_id"), False))


class DispatchEvent(BaseModel):
    """Something an operator should see on /admin/dispatch: refused binds, garbage
    from a carrier, dropped connections, receipts for unknown ids, upstream errors."""
    provider = ForeignKeyField(DispatchProvider, null=True, backref="+", on_delete="SET NULL")
    kind = CharField(max_length=32)
    detail = TextField(default="")
    created_at = DateTimeField(default=utcnow, index=True)
