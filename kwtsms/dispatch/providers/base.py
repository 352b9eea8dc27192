"""What every provider shares: the work handed to it, what it answers per
recipient, and the receipts it brings back.

A provider gets recipients already claimed (status "submitting") and answers one
Outcome per recipient:

  SENT         the carrier accepted every part; `parts` lists (part, parts, carrier id)
  REJECTED     the carrier refused it for good (bad number, barred sender, ...)
  FAILED       it cannot be sent (a permanent error that is not about the number)
  RETRY        it was NOT handed over (throttled, queue full, no connection): try later
  INTERRUPTED  it may have reached the carrier but we never learnt the answer
               (the connection died with it in flight): never resent, failed

Only RETRY puts a recipient back in the queue, and only when we know the carrier
did not take it: that is what makes "submitted at most once" hold.
"""
import datetime
from dataclasses import dataclass, field

SENT, REJECTED, FAILED, RETRY, INTERRUPTED = "sent", "rejected", "failed", "retry", "interrupted"


@dataclass(slots=True)
class Item:
    """One claimed recipient, with the text it gets (after {name})."""
    id: int
    mobile: str
    text: str
    pages: int


@dataclass
class Work:
    """A chunk of one message for one provider."""
    message_id: int
    msg_id: str
    sender: str
    items: list
    valid_until: datetime.datetime  # naive UTC
    tick: object = None  # called now and then during long submits (the batch heartbeat)


@dataclass(slots=True)
class Outcome:
    recipient_id: int
    kind: str
    error: str = ""
    parts: list = field(default_factory=list)  # [(part, parts, carrier_id)] for SENT
    retry_after: float = 0.0  # seconds, for RETRY


@dataclass(slots=True)
class Receipt:
    """A delivery report as a carrier sent it (`mobile` when the id is shared, as kwtSMS's msg-id is)."""
    provider_id: int
    carrier_id: str
    stat: str
    err: str = ""
    text: str = ""
    mobile: str = ""


class ProviderError(Exception):
    """The provider cannot take anything now (no connection, bind refused): nothing was sent."""

    def __init__(self, message, retry_after=5.0):
        super().__init__(message)
        self.retry_after = retry_after


class Provider:
    kind = ""

    def __init__(self, row, config):
        self.row, self.config = row, config
        self.id = row.id

    def submit(self, work):
        """-> list of Outcome, one per item. May raise ProviderError (nothing was handed over)."""
        raise NotImplementedError

    def take_receipts(self):
        """Receipts that arrived while submitting; recorded in the same transaction as the outcomes."""
        return []

    def after_commit(self):
        """Acknowledge what was recorded (SMPP: deliver_sm_resp only once receipts are safe)."""

    def release(self):
        """The worker is idle: let go of connections."""

    def close(self):
        self.release()


def secret_of(row):
    """The provider's secret: the admin's stored value, else the environment's."""
    import os
    return row.secret or os.environ.get(row.secret_env(), "")
