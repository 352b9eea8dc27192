"""One batch run: claim a few recipients at a time, hand them to their route's
provider, record the answers, and come back later for those waiting to retry."""
import logging
import time

from flask import current_app

from .. import smstext
from ..models import Message, utcnow
from . import providers, service
from .providers.base import INTERRUPTED, Item, Outcome, ProviderError, Work

log = logging.getLogger("kwtsms.dispatch")

CLAIM = 250  # recipients claimed at once: what a crash can leave "interrupted" is at most this


def run_batch(batch_id):
    batch, token = service.start_run(batch_id)
    if batch is None:
        return "skipped"
    message = Message.get_or_none(Message.id == batch.message_id)
    last_beat = [time.monotonic()]
    every = min(5.0, current_app.config["DISPATCH_STALE_SECONDS"] / 3)

    def tick():
        if time.monotonic() - last_beat[0] > every:
            service.heartbeat(batch.id, token)
            last_beat[0] = time.monotonic()

    claimed = 0
    try:
        if message is None or message.status not in Message.OPEN:
            return "closed"
        valid_until = service.validity(message)
        personalised = "{name}" in message.text
        router = service.router()
        while True:
            if utcnow() > valid_until:
                service.expire_overdue()
                break
            rows = service.claim(batch, token, CLAIM)
            if not rows:
                break
            claimed += len(rows)
            groups = {}
            for rid, mobile, name, pages, _attempts in rows:
                provider_row = router.provider_for(mobile)
                key = provider_row.id if provider_row is not None else None
                groups.setdefault(key, (provider_row, []))[1].append(
                    Item(rid, mobile, smstext.render(message.text, name) if personalised else message.text, pages))
            for provider_id, (provider_row, items) in groups.items():
                submit(token, provider_row, [(message, items)], tick)
            tick()
    finally:
        run_after = service.finish_run(batch, token)
        if run_after is not None:
            service.enqueue_batch(batch, at=run_after)
    return f"claimed {claimed}"


def submit(token, provider_row, lots, tick):
    """Hand claimed items to their provider, one call per message (`lots`: [(message, items)]),
    then record every answer in one transaction. Batch runs and the stream's group runs share it."""
    ids = [item.id for _message, items in lots for item in items]
    if provider_row is None:
        service.release_claims(token, ids, "no route for this number", 60)
        service.log_event("no_route", f"no route for {lots[0][1][0].mobile} (and {len(ids) - 1} more)")
        return
    provider = providers.get(provider_row, current_app.config)
    outcomes = []
    for message, items in lots:
        work = Work(message_id=message.id, msg_id=message.msg_id, sender=message.sender, items=items,
                    valid_until=service.validity(message), tick=tick)
        try:
            outcomes += provider.submit(work)
        except ProviderError as error:  # nothing of this message was handed over
            service.release_claims(token, [item.id for item in items], str(error)[:200], error.retry_after)
        except Exception as error:  # noqa: BLE001 - a provider bug: we cannot know what went out
            log.exception("provider %s failed mid-submit", provider_row.name)
            service.log_event("provider_error", f"{provider_row.name}: {error!r}", provider_row.id)
            outcomes += [Outcome(item.id, INTERRUPTED, f"interrupted: {error!r}"[:200]) for item in items]
    service.record_outcomes(token, provider_row.id, outcomes, provider.take_receipts())
    provider.after_commit()
