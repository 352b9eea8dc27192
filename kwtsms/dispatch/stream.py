"""Small messages (an API send to a few numbers) dispatched many at a time.

A campaign is cut into batches of recipients, one RQ job each (kwtsms.dispatch.jobs).
For a message to one number that would cost two jobs and some thirty statements: at
a thousand API sends a second the worker would do nothing but bookkeeping. Instead,
after its commit the send path pushes a small message's id on a Redis list (`push`),
and one drain job at a time (`drain`) pops the ids by the hundred and dispatches each
lot as one group run: one claim for all their recipients, one provider call per
message, one transaction recording every answer.

The list is only a hint; safety comes from the database as for batches. A group
run is a DispatchBatch row without a message: its token and heartbeat mark its
claims as live, so after a crash `reconcile_stuck` fails and refunds what it left
mid-submit. A message popped but never claimed (the worker died first, Redis lost
the list) is still queued with its `enqueued_at` set: the clock's `rescue` pushes it
again. Pushing a message twice does nothing twice: claims are atomic.
"""
import datetime
import logging
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass

from flask import current_app
from redis.exceptions import RedisError

from .. import smstext
from ..db import as_datetime, db, execute, fetch_all, fetch_one, placeholders
from ..jobs import QueueUnavailable, queue, redis_client
from ..models import DispatchBatch, Message, Recipient, utcnow
from . import runner, service
from .providers.base import Item

log = logging.getLogger("kwtsms.dispatch")

MAX_RECIPIENTS = 200  # a message this small goes to the stream (an API send has at most 200 numbers)
GROUP = 100  # messages per group run
GATHER_SECONDS = 0.02  # after a short lot, wait this long for more (a run costs ~10 statements)
LIST_KEY = "kwtsms:dispatch:stream"
DRAINING_KEY = "kwtsms:dispatch:stream:draining"  # set while a drain job is queued or running
DRAINING_TTL = 60  # seconds: a drain job that died stops blocking new ones after this
DRAIN_SECONDS = 30  # a drain job hands over to a fresh one after this (campaign batches get their turn)
DRAIN_JOB = "kwtsms.dispatch.jobs.drain_stream"


def takes(recipients, scheduled_at):
    """Does a message of this size and schedule go to the stream (else: its own dispatch job)?"""
    return scheduled_at is None and recipients <= MAX_RECIPIENTS


def _redis():
    url = current_app.config["REDIS_URL"]
    if not url:
        raise QueueUnavailable("REDIS_URL is not set")
    return redis_client(url)


def push(message_ids):
    """Hand messages to the drain job (queued if none is). False when Redis is unreachable."""
    try:
        connection = _redis()
        # Ids already waiting before ours mean a drain job will come to ours too: it only
        # stops after it found the list empty (and looked again after dropping its mark).
        # Only a push onto an empty list may have to start one: one command per send.
        if connection.rpush(LIST_KEY, *message_ids) == len(message_ids) and connection.set(
                DRAINING_KEY, "1", nx=True, ex=DRAINING_TTL):
            _enqueue_drain()
    except (QueueUnavailable, RedisError) as error:
        log.warning("dispatch stream unavailable: %s", error)
        return False
    return True


def _enqueue_drain():
    from .jobs import DISPATCH_QUEUE
    try:
        # A slow carrier (a low messages-per-second cap) may take long over one group: the
        # same generous timeout as a batch job, never a kill mid-submit.
        queue(DISPATCH_QUEUE).enqueue(DRAIN_JOB, job_timeout=3600, result_ttl=60, failure_ttl=86400)
    except RedisError:
        _redis().delete(DRAINING_KEY)  # let the next push try again
        raise


def waiting():
    """How many small messages wait in line for the drain job (0 when Redis cannot say)."""
    try:
        return _redis().llen(LIST_KEY)
    except (QueueUnavailable, RedisError):
        return 0


def is_draining():
    """Is a drain job queued or running (so listed messages will be reached)?"""
    return bool(_redis().exists(DRAINING_KEY))


def ensure_draining():
    """The clock's safety net: ids waiting on the list and no drain job (its worker died,
    or a web process died between its push and starting one)."""
    try:
        connection = _redis()
        if connection.llen(LIST_KEY) and connection.set(DRAINING_KEY, "1", nx=True, ex=DRAINING_TTL):
            _enqueue_drain()
            return 1
    except (QueueUnavailable, RedisError) as error:
        log.warning("dispatch stream check skipped: %s", error)
    return 0


def drain(group=GROUP, seconds=DRAIN_SECONDS):
    """The drain job: dispatch listed messages, `group` at a time, until the list is
    empty (or `seconds` have passed: then a fresh job carries on). Returns how many
    recipients were claimed."""
    connection = _redis()
    claimed = 0
    deadline = time.monotonic() + seconds
    while True:
        if time.monotonic() > deadline:
            _enqueue_drain()  # the draining mark stays: the new job owns it
            return claimed
        popped = connection.lpop(LIST_KEY, group)
        if not popped:
            connection.delete(DRAINING_KEY)
            # A push between our LPOP and DELETE saw the mark and queued no job: look again.
            if connection.llen(LIST_KEY) and connection.set(DRAINING_KEY, "1", nx=True, ex=DRAINING_TTL):
                continue
            return claimed
        connection.expire(DRAINING_KEY, DRAINING_TTL)
        claimed += run_group(sorted({int(i) for i in popped}))
        if len(popped) < group:
            time.sleep(GATHER_SECONDS)  # let the next lot gather: fewer, larger group runs


@dataclass(slots=True)
class _Message:
    """What a group run needs of a message (Work and service.validity read these)."""
    id: int
    msg_id: str
    sender: str
    text: str
    created_at: datetime.datetime
    scheduled_at: datetime.datetime

    def __post_init__(self):
        self.created_at, self.scheduled_at = as_datetime(self.created_at), as_datetime(self.scheduled_at)


# --- one group run ---------------------------------------------------------------------------

def _start_group(message_ids, now):
    """Open the group's run and claim every due recipient of these messages.
    Returns (run id, token)."""
    token = secrets.token_hex(16)
    ids = placeholders(len(message_ids))
    # Older messages are left alone: their batch job expires them (see runner.run_batch).
    fresh_since = now - datetime.timedelta(hours=current_app.config["DISPATCH_VALIDITY_HOURS"])
    with db.atomic():
        (run_id,) = fetch_one(
            "INSERT INTO dispatch_batch (message_id, first_id, last_id, size, status, job_id, token, runs, heartbeat_at, "
            "created_at, updated_at) VALUES (NULL, ?, ?, ?, ?, '', ?, 1, ?, ?, ?) RETURNING id",
            (message_ids[0], message_ids[-1], len(message_ids), DispatchBatch.RUNNING, token, now, now, now))
        execute(
            "UPDATE recipient SET status = ?, claim = ?, updated_at = ? "
            f"WHERE message_id IN (SELECT id FROM message WHERE id IN ({ids}) AND status IN (?, ?) "
            "AND created_at >= ?) AND status = ? AND (retry_at IS NULL OR retry_at <= ?)",
            (Recipient.SUBMITTING, token, now, *message_ids, Message.QUEUED, Message.SENDING, fresh_since,
             Recipient.QUEUED, now))
        execute(f"UPDATE message SET status = ? WHERE id IN ({ids}) AND status = ?",
                (Message.SENDING, *message_ids, Message.QUEUED))
    return run_id, token


def _finish_group(run_id, message_ids, now):
    """Close the run; messages with recipients still waiting (a retry later, too old to
    claim) go on as ordinary batches."""
    waiting = fetch_all(f"SELECT message_id, MIN(retry_at) FROM recipient WHERE message_id IN "
                        f"({placeholders(len(message_ids))}) AND status = ? GROUP BY message_id",
                        (*message_ids, Recipient.QUEUED))
    with db.atomic():
        execute("UPDATE dispatch_batch SET status = ?, updated_at = ?, heartbeat_at = ? WHERE id = ?",
                (DispatchBatch.DONE, now, now, run_id))
    for message_id, retry_at in waiting:
        for batch in service.plan_batches(message_id):
            service.enqueue_batch(batch, at=as_datetime(retry_at))


def run_group(message_ids):
    """Dispatch the due recipients of these small messages as one run. Returns how many were claimed."""
    if not message_ids:
        return 0
    now = utcnow()
    run_id, token = _start_group(message_ids, now)
    rows = fetch_all(f"SELECT id, mobile, name, pages, message_id FROM recipient WHERE message_id IN "
                     f"({placeholders(len(message_ids))}) AND status = ? AND claim = ? ORDER BY id",
                     (*message_ids, Recipient.SUBMITTING, token))
    try:
        if rows:
            ids = sorted({r[4] for r in rows})
            messages = {row[0]: _Message(*row) for row in fetch_all(
                f"SELECT id, msg_id, sender, text, created_at, scheduled_at FROM message "
                f"WHERE id IN ({placeholders(len(ids))})", ids)}
            by_provider = defaultdict(lambda: defaultdict(list))  # provider -> message -> items
            routes = {}
            router = service.router()
            for rid, mobile, name, pages, message_id in rows:
                provider_row = router.provider_for(mobile)
                key = provider_row.id if provider_row is not None else None
                routes[key] = provider_row
                text = messages[message_id].text
                by_provider[key][message_id].append(
                    Item(rid, mobile, smstext.render(text, name) if "{name}" in text else text, pages))
            tick = _heartbeat(run_id)
            for key, per_message in by_provider.items():
                runner.submit(token, routes[key], [(messages[mid], items) for mid, items in per_message.items()], tick)
    finally:
        _finish_group(run_id, message_ids, utcnow())
    return len(rows)


def _heartbeat(run_id, every=5.0):
    last = [time.monotonic()]

    def tick():
        if time.monotonic() - last[0] > every:
            with db.atomic():
                execute("UPDATE dispatch_batch SET heartbeat_at = ? WHERE id = ?", (utcnow(), run_id))
            last[0] = time.monotonic()
    return tick
