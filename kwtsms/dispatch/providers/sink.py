"""The development sink: takes every submission at once, and the clock turns them
into delivery reports after `sink_delay` seconds, `sink_failure_percent` of them
failures. It never talks to a carrier: `make run` uses it so statuses move."""
import datetime
import secrets
import zlib

from ...db import fetch_all, placeholders
from ...models import CarrierSubmission, DispatchProvider, Message, Recipient, utcnow
from .base import SENT, Outcome, Provider, Receipt


class SinkProvider(Provider):
    kind = DispatchProvider.SINK

    def submit(self, work):
        outcomes = []
        prefix = secrets.token_hex(4)
        for item in work.items:
            parts = max(item.pages, 1)
            outcomes.append(Outcome(item.id, SENT, parts=[(part, parts, f"sink-{prefix}-{item.id}-{part}")
                                                          for part in range(1, parts + 1)]))
        return outcomes


def fails(recipient_id, percent):
    return percent > 0 and zlib.crc32(str(recipient_id).encode()) % 100 < percent


def due_reports(now=None, limit=5000):
    """Receipts the sinks owe now: every part of recipients sent long enough ago."""
    now = now or utcnow()
    sinks = {p.id: p for p in DispatchProvider.select().where(DispatchProvider.kind == DispatchProvider.SINK)}
    if not sinks:
        return []
    open_ids = [mid for (mid,) in Message.select(Message.id).where(
        Message.status.in_([Message.SENDING, Message.QUEUED, Message.CANCELLED])).tuples()]
    receipts = []
    # Two steps, each on its own index, so no plan depends on table statistics (joined in one
    # query, PostgreSQL could spend half a millisecond per row): the due recipients on
    # recipient (message_id, status), then their accepted parts on carrier_submission (recipient_id).
    for start in range(0, len(open_ids), 200):
        part = open_ids[start:start + 200]
        for provider_id, sink in sinks.items():
            if len(receipts) >= limit:
                return receipts
            cutoff = now - datetime.timedelta(seconds=max(sink.sink_delay, 0))
            due = [rid for (rid,) in fetch_all(
                f"SELECT id FROM recipient WHERE message_id IN ({placeholders(len(part))}) AND status = ? "
                "AND provider_id = ? AND submitted_at <= ? LIMIT ?",
                (*part, Recipient.SENT, provider_id, cutoff, limit - len(receipts)))]
            if not due:
                continue
            for carrier_id, recipient_id in fetch_all(
                    f"SELECT carrier_id, recipient_id FROM carrier_submission WHERE recipient_id IN "
                    f"({placeholders(len(due))}) AND provider_id = ? AND state = ?",
                    (*due, provider_id, CarrierSubmission.ACCEPTED)):
                failed = fails(recipient_id, sink.sink_failure_percent)
                stat, err = ("UNDELIV", "001") if failed else ("DELIVRD", "000")
                receipts.append(Receipt(provider_id=provider_id, carrier_id=carrier_id, stat=stat, err=err,
                                        text=f"id:{carrier_id} stat:{stat} err:{err}"))
    return receipts


def generate_reports(now=None):
    """The clock's task: turn due sink submissions into delivery reports. Returns how many."""
    from .. import service
    total = 0
    while True:
        receipts = due_reports(now)
        if not receipts:
            return total
        service.record_receipts(receipts, now=now)
        total += len(receipts)
        if len(receipts) < 5000:
            return total
