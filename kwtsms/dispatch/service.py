"""The dispatch engine's rules, as plain functions (jobs, the clock, the SMPP
receiver and tests call them).

Life of a recipient: queued -> submitting (claimed by one batch run, atomically)
-> sent (the carrier took it) -> delivered / failed / rejected / expired; or
cancelled / expired straight from queued. Every move to a final state goes
through `finalize()`: a conditional update from the states it may leave, in the
same transaction as the refund (one ledger row per message and call, guarded by
`Recipient.refunded`), then `recipients_finalized` after the commit.

Nothing is resent: a claimed recipient goes back to "queued" only when we know
the carrier did not take it (RETRY); one whose fate is unknown after a crash or a
dropped connection is failed as "interrupted" and refunded.
"""
import datetime
import logging
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass

from flask import current_app
from peewee import JOIN, SQL, NodeList, fn

from .. import ledger
from ..db import as_datetime, chunks, db, execute, for_update, insert_rows, placeholders
from ..events import recipients_finalized
from ..models import (Account, CarrierReceipt, CarrierSubmission, DispatchBatch, DispatchEvent, DispatchProvider,
                      DispatchRoute, Message, Recipient, utcnow)
from .providers.base import FAILED, INTERRUPTED, REJECTED, RETRY, SENT

log = logging.getLogger("kwtsms.dispatch")

QUEUED, SUBMITTING, SENT_STATE = Recipient.QUEUED, Recipient.SUBMITTING, Recipient.SENT
OPEN_RECIPIENT = (Recipient.QUEUED, Recipient.SUBMITTING, Recipient.SENT)
CHUNK = 500  # ids per IN (...) list
INTERRUPTED_REASON = "interrupted"
DEV_SINK_NAME = "Development sink"
RETRY_DELAYS = (1, 2, 5, 10, 30, 60, 120, 300)

# Receipt stat (SMPP text receipts, kwtSMS report statuses) -> recipient state.
# Anything else (ENROUTE, ACCEPTD, PENDING, SENT, ...) is an intermediate report.
RECEIPT_STATES = {
    "DELIVRD": Recipient.DELIVERED, "DELIVERED": Recipient.DELIVERED,
    "UNDELIV": Recipient.FAILED, "UNDELIVERABLE": Recipient.FAILED, "FAILED": Recipient.FAILED,
    "DELETED": Recipient.FAILED, "UNKNOWN": Recipient.FAILED,
    "EXPIRED": Recipient.EXPIRED,
    "REJECTD": Recipient.REJECTED, "REJECTED": Recipient.REJECTED,
}


def _in(column, values):
    """`column IN (...)` with the values as plain parameters: peewee's `in_()` makes and renders
    a node per value, which for hundreds of ids costs more than running the statement."""
    if not values:
        return SQL("0 = 1")
    return NodeList((column, SQL(f"IN ({', '.join([db.obj.param] * len(values))})", values)))


def _chunks(seq, size=CHUNK):
    return chunks(seq, size)


def refund_states(config=None):
    config = config or current_app.config
    raw = str(config.get("DISPATCH_REFUND_STATES", "failed,rejected,expired")).lower()
    wanted = {part.strip() for part in raw.split(",")}
    return {state for state in (Recipient.FAILED, Recipient.REJECTED, Recipient.EXPIRED) if state in wanted}


def validity(message, config=None):
    """The moment a message that is still unsent expires (naive UTC)."""
    config = config or current_app.config
    start = message.scheduled_at or message.created_at
    return start + datetime.timedelta(hours=config["DISPATCH_VALIDITY_HOURS"])


def retry_delay(attempts, hint=0.0):
    return max(hint, RETRY_DELAYS[min(attempts, len(RETRY_DELAYS) - 1)])


def log_event(kind, detail, provider_id=None):
    """Record something for the admin page; never raises."""
    try:
        with db.atomic():
            DispatchEvent.create(provider=provider_id, kind=kind[:32], detail=str(detail)[:2000])
    except Exception:  # noqa: BLE001 - an event must never break dispatch
        log.exception("could not record dispatch event %s", kind)
    log.warning("dispatch %s (provider %s): %s", kind, provider_id, detail)


# --- finalising and refunds ----------------------------------------------------------

@dataclass
class Finalized:
    message_id: int
    recipient_ids: list


def finalize(changes, *, from_states=OPEN_RECIPIENT, claim=None, now=None, refund=None):
    """Give recipients their final state. `changes`: [(recipient_id, state, error)].

    Only rows still in `from_states` (and holding `claim`, when given) move, so a
    recipient reaches exactly one final state however often this is called.
    Refunds per the policy in the same transaction, one ledger row per message.
    Must run inside a transaction; returns {message_id: [recipient ids]} moved,
    to be announced with `announce()` after the commit.
    """
    now = now or utcnow()
    refund = refund_states() if refund is None else refund
    wanted = {rid: (state, (error or "")[:200]) for rid, state, error in changes}
    if not wanted:
        return {}
    moved = []  # (id, message_id, account_id, points, refunded, state)
    for ids in _chunks(wanted):
        query = (Recipient.select(Recipient.id, Recipient.message, Message.account, Recipient.points,
                                  Recipient.refunded)
                 .join(Message).where(_in(Recipient.id, ids), Recipient.status.in_(list(from_states))))
        if claim is not None:
            query = query.where(Recipient.claim == claim)
        for rid, message_id, account_id, points, refunded in for_update(query).tuples():
            moved.append((rid, message_id, account_id, points, refunded, wanted[rid][0]))
    if not moved:
        return {}
    groups = defaultdict(list)
    for rid, *_rest, state in moved:
        groups[wanted[rid]].append(rid)
    for (state, error), ids in groups.items():
        refunded = state in refund or state == Recipient.CANCELLED
        for part in _chunks(ids):
            Recipient.update(status=state, error=error, finished_at=now, updated_at=now, claim=None,
                             retry_at=None, **({"refunded": True} if refunded else {})).where(
                _in(Recipient.id, part)).execute()
    # Refunds: the rows we just moved that were not refunded before.
    owed = defaultdict(lambda: [0, 0, defaultdict(int)])  # message -> [points, count, {state: n}]
    accounts = {}
    for rid, message_id, account_id, points, refunded, state in moved:
        if refunded or not points or (state not in refund and state != Recipient.CANCELLED):
            continue
        entry = owed[message_id]
        entry[0] += points
        entry[1] += 1
        entry[2][state] += 1
        accounts[message_id] = account_id
    if owed:
        references = dict(Message.select(Message.id, Message.msg_id).where(Message.id.in_(list(owed))).tuples())
        for message_id, (points, count, states) in owed.items():
            what = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
            ledger.refund(accounts[message_id], points, reason=f"refund: {what} SMS",
                          reference=references[message_id])
    result = defaultdict(list)
    for rid, message_id, *_rest in moved:
        result[message_id].append(rid)
    return dict(result)


def announce(finalized):
    """After the commit: tell listeners (webhooks) and close finished messages."""
    for message_id, ids in finalized.items():
        try:
            recipients_finalized.send(None, message_id=message_id, recipient_ids=list(ids))
        except Exception:  # noqa: BLE001 - receivers must not break dispatch
            log.exception("a recipients_finalized receiver failed")
    if finalized:
        finish_messages(finalized.keys())


def finish_messages(message_ids, now=None):
    """Close messages whose every recipient is final: "done", or "cancelled" when some were cancelled.

    One statement per few hundred messages: a delivery report for an API send closes its
    message, and receipts arrive by the thousand."""
    now = now or utcnow()
    closed = 0
    for part in _chunks(message_ids):
        with db.atomic():
            closed += execute(
                "UPDATE message SET finished_at = ?, status = CASE WHEN EXISTS (SELECT 1 FROM recipient "
                "WHERE recipient.message_id = message.id AND recipient.status = ?) THEN ? ELSE ? END "
                f"WHERE id IN ({placeholders(len(part))}) AND status IN (?, ?, ?) AND NOT EXISTS (SELECT 1 "
                "FROM recipient WHERE recipient.message_id = message.id AND recipient.status IN (?, ?, ?))",
                (now, Recipient.CANCELLED, Message.CANCELLED, Message.DONE, *part, *Message.OPEN,
                 *OPEN_RECIPIENT)).rowcount
    return closed


# --- routes ------------------------------------------------------------------------------

class Router:
    """Longest prefix wins; "" is the default route. Reloaded every few seconds."""

    def __init__(self, ttl=5.0):
        self.ttl, self.loaded_at, self.routes, self.providers, self.sink = ttl, 0.0, [], {}, None

    def _load(self):
        providers = {p.id: p for p in DispatchProvider.select()}
        routes = [(r.prefix, r.provider_id) for r in DispatchRoute.select(DispatchRoute.prefix, DispatchRoute.provider)]
        routes.sort(key=lambda route: len(route[0]), reverse=True)
        self.routes, self.providers, self.loaded_at = routes, providers, time.monotonic()
        self.sink = None

    def refresh(self):
        self.loaded_at = 0.0

    def provider_for(self, mobile):
        if time.monotonic() - self.loaded_at > self.ttl:
            self._load()
        for prefix, provider_id in self.routes:
            if mobile.startswith(prefix):
                provider = self.providers.get(provider_id)
                return provider if provider is not None and provider.is_enabled else None
        if current_app.config.get("DISPATCH_DEV_SINK"):
            if self.sink is None:  # looked up once per reload, not once per number
                self.sink = dev_sink()
            return self.sink
        return None


_router = Router()


def router():
    return _router


def dev_sink():
    """The development sink (created on first use): where unrouted numbers go outside production."""
    sink = DispatchProvider.get_or_none(DispatchProvider.name == DEV_SINK_NAME)
    if sink is None:
        try:
            with db.atomic():
                sink = DispatchProvider.create(name=DEV_SINK_NAME, kind=DispatchProvider.SINK,
                                               sink_delay=2, sink_failure_percent=10)
        except Exception:  # noqa: BLE001 - another process created it first
            sink = DispatchProvider.get(DispatchProvider.name == DEV_SINK_NAME)
    return sink


# --- batches ---------------------------------------------------------------------------

def plan_batches(message_id, size=None):
    """Cut the message's queued recipients that no open batch covers into batches.

    Idempotent: a second call (a retried or rescued dispatch job) creates nothing
    for recipients already covered. Returns the new batches (not yet queued).
    """
    size = size or current_app.config["DISPATCH_BATCH_SIZE"]
    with db.atomic():
        message = for_update(Message.select().where(Message.id == message_id)).first()
        if message is None or message.status not in Message.OPEN:
            return []
        ranges = [(b.first_id, b.last_id) for b in DispatchBatch.select(DispatchBatch.first_id, DispatchBatch.last_id)
                  .where(DispatchBatch.message == message_id, DispatchBatch.status.in_(DispatchBatch.OPEN))]
        ids = [rid for (rid,) in Recipient.select(Recipient.id).where(
            Recipient.message == message_id, Recipient.status == QUEUED).order_by(Recipient.id).tuples()]
        if ranges:
            ids = [rid for rid in ids if not any(first <= rid <= last for first, last in ranges)]
        batches = []
        now = utcnow()
        for part in _chunks(ids, size):
            batches.append(DispatchBatch.create(message=message_id, first_id=part[0], last_id=part[-1], size=len(part),
                                                created_at=now, updated_at=now))
        if message.status == Message.SCHEDULED:
            Message.update(status=Message.QUEUED).where(Message.id == message_id,
                                                        Message.status == Message.SCHEDULED).execute()
    return batches


def start_run(batch_id, now=None):
    """Take a batch for this run: a fresh claim token, or None when there is nothing to do."""
    now = now or utcnow()
    token = secrets.token_hex(16)
    with db.atomic():
        batch = for_update(DispatchBatch.select().where(DispatchBatch.id == batch_id)).first()
        if batch is None or batch.status == DispatchBatch.DONE:
            return None, None
        stale = now - datetime.timedelta(seconds=current_app.config["DISPATCH_STALE_SECONDS"])
        if batch.status == DispatchBatch.RUNNING and batch.heartbeat_at and batch.heartbeat_at > stale:
            return None, None  # a live run has it (a duplicate job)
        DispatchBatch.update(status=DispatchBatch.RUNNING, token=token, heartbeat_at=now, runs=batch.runs + 1,
                             updated_at=now).where(DispatchBatch.id == batch_id).execute()
        Message.update(status=Message.SENDING).where(
            Message.id == batch.message_id, Message.status.in_([Message.QUEUED, Message.SCHEDULED])).execute()
    batch.token = token
    return batch, token


def heartbeat(batch_id, token, now=None):
    with db.atomic():
        DispatchBatch.update(heartbeat_at=now or utcnow()).where(
            DispatchBatch.id == batch_id, DispatchBatch.token == token).execute()


def claim(batch, token, limit, now=None):
    """Atomically move up to `limit` due recipients of the batch from queued to submitting.

    The conditional UPDATE re-checks `status = 'queued'` on each row it locks, so
    two runs (two workers, a duplicate job) never claim the same recipient.
    Returns [(id, mobile, name, pages, attempts)].
    """
    now = now or utcnow()
    due = (Recipient.select(Recipient.id).where(
        Recipient.message == batch.message_id, Recipient.id.between(batch.first_id, batch.last_id),
        Recipient.status == QUEUED, (Recipient.retry_at.is_null() | (Recipient.retry_at <= now)))
        .order_by(Recipient.id).limit(limit))
    with db.atomic():
        count = Recipient.update(status=SUBMITTING, claim=token, updated_at=now).where(
            Recipient.id.in_(due), Recipient.status == QUEUED).execute()
        if not count:
            return []
        return list(Recipient.select(Recipient.id, Recipient.mobile, Recipient.name, Recipient.pages,
                                     Recipient.attempts)
                    .where(Recipient.message == batch.message_id, Recipient.status == SUBMITTING,
                           Recipient.claim == token).order_by(Recipient.id).tuples())


def finish_run(batch, token, now=None):
    """End a run. Returns the time to run again (recipients waiting for a retry), or None when done."""
    now = now or utcnow()
    with db.atomic():
        left = (Recipient.select(fn.MIN(fn.COALESCE(Recipient.retry_at, now)))
                .where(Recipient.message == batch.message_id, Recipient.id.between(batch.first_id, batch.last_id),
                       Recipient.status == QUEUED).scalar())
        left = as_datetime(left)  # SQLite gives MIN() over a COALESCE back as text
        status = DispatchBatch.DONE if left is None else DispatchBatch.WAITING
        DispatchBatch.update(status=status, run_after=left, updated_at=now, heartbeat_at=now).where(
            DispatchBatch.id == batch.id, DispatchBatch.token == token).execute()
    return left


def release_claims(token, recipient_ids, error, retry_after, now=None):
    """Put claimed recipients that were never handed to a carrier back in the queue."""
    now = now or utcnow()
    if not recipient_ids:
        return
    with db.atomic():
        rows = list(Recipient.select(Recipient.id, Recipient.attempts).where(
            _in(Recipient.id, list(recipient_ids)), Recipient.claim == token, Recipient.status == SUBMITTING).tuples())
        by_attempts = defaultdict(list)
        for rid, attempts in rows:
            by_attempts[attempts].append(rid)
        for attempts, ids in by_attempts.items():
            delay = retry_delay(attempts, retry_after)
            for part in _chunks(ids):
                Recipient.update(status=QUEUED, claim=None, attempts=attempts + 1, error=error[:200],
                                 retry_at=now + datetime.timedelta(seconds=delay), updated_at=now).where(
                    _in(Recipient.id, part), Recipient.claim == token).execute()


# --- recording what a provider answered ---------------------------------------------------

def record_outcomes(token, provider_id, outcomes, receipts=(), now=None):
    """Store a provider's answers for claimed recipients (and receipts that came along) in one transaction."""
    now = now or utcnow()
    sent = [o for o in outcomes if o.kind == SENT]
    retry = [o for o in outcomes if o.kind == RETRY]
    final = [(o.recipient_id, {REJECTED: Recipient.REJECTED, FAILED: Recipient.FAILED,
                               INTERRUPTED: Recipient.FAILED}[o.kind],
              INTERRUPTED_REASON if o.kind == INTERRUPTED and not o.error else o.error)
             for o in outcomes if o.kind in (REJECTED, FAILED, INTERRUPTED)]
    with db.atomic():
        if sent:
            ids = [o.recipient_id for o in sent]
            for part in _chunks(ids):
                Recipient.update(status=SENT_STATE, provider_id=provider_id, submitted_at=now, updated_at=now,
                                 claim=None, error="").where(
                    _in(Recipient.id, part), Recipient.claim == token, Recipient.status == SUBMITTING).execute()
            rows = [(o.recipient_id, provider_id, part, parts, carrier_id, now, CarrierSubmission.ACCEPTED, "")
                    for o in sent for part, parts, carrier_id in o.parts]
            _insert_submissions(rows)
        interrupted = [o for o in outcomes if o.kind == INTERRUPTED and o.parts]
        if interrupted:  # parts the carrier took before the connection died
            _insert_submissions([(o.recipient_id, provider_id, part, parts, carrier_id, now,
                                  CarrierSubmission.ACCEPTED, "") for o in interrupted
                                 for part, parts, carrier_id in o.parts])
        retry_groups = defaultdict(list)
        for o in retry:
            retry_groups[(o.error, o.retry_after)].append(o.recipient_id)
        for (error, retry_after), ids in retry_groups.items():
            release_claims(token, ids, error, retry_after, now=now)
        if provider_id is not None and final:
            for part in _chunks([rid for rid, _s, _e in final]):
                Recipient.update(provider_id=provider_id).where(_in(Recipient.id, part),
                                                                Recipient.claim == token).execute()
        finalized = finalize(final, from_states=(SUBMITTING,), claim=token, now=now)
        done = _apply_receipts(list(receipts), now=now)
        if sent:
            done = _merge(done, _rematch([c for o in sent for _p, _n, c in o.parts if c], provider_id, now))
    finalized = _merge(finalized, done)
    announce(finalized)
    return finalized


def _insert_submissions(rows):
    insert_rows("carrier_submission", ["recipient_id", "provider_id", "part", "parts", "carrier_id",
                                        "submitted_at", "state", "error"], rows)


def _merge(a, b):
    merged = defaultdict(list)
    for source in (a, b):
        for message_id, ids in source.items():
            merged[message_id].extend(ids)
    return dict(merged)


# --- receipts ------------------------------------------------------------------------------

def record_receipts(receipts, now=None):
    """Store delivery receipts and apply the final ones. Receipts for ids we do not
    know yet are kept "pending" and matched again by `match_pending_receipts()`."""
    now = now or utcnow()
    receipts = list(receipts)
    if not receipts:
        return {}
    with db.atomic():
        finalized = _apply_receipts(receipts, now=now)
    announce(finalized)
    return finalized


def _lookup_submissions(receipts):
    """{(provider_id, carrier_id, mobile or ""): (submission id, recipient id, parts)}"""
    found = {}
    by_provider = defaultdict(set)
    for r in receipts:
        by_provider[r.provider_id].add(r.carrier_id)
    for provider_id, carrier_ids in by_provider.items():
        for part in _chunks(carrier_ids):
            query = (CarrierSubmission.select(CarrierSubmission.id, CarrierSubmission.recipient,
                                              CarrierSubmission.parts, CarrierSubmission.carrier_id, Recipient.mobile)
                     .join(Recipient).where(CarrierSubmission.provider == provider_id,
                                            _in(CarrierSubmission.carrier_id, part)))
            for sid, rid, parts, carrier_id, mobile in query.tuples():
                found[(provider_id, carrier_id, mobile)] = (sid, rid, parts)
                found.setdefault((provider_id, carrier_id, ""), (sid, rid, parts))
    return found


def _apply_receipts(receipts, now, stored_ids=None):
    """Inside a transaction: store (or, for `stored_ids`, update) receipts and finalise recipients."""
    if not receipts:
        return {}
    found = _lookup_submissions(receipts)
    hits = []  # per receipt: (submission id, recipient id, parts) or None
    outcome = {}  # submission id -> (state, error) of its (last) final receipt
    for r in receipts:
        hit = found.get((r.provider_id, r.carrier_id, r.mobile or ""))
        hits.append(hit)
        state = RECEIPT_STATES.get((r.stat or "").upper())
        if hit is not None and state is not None:
            outcome[hit[0]] = (state, f"{r.stat} {r.err}".strip())
    if stored_ids is None:
        insert_rows("carrier_receipt", ["provider_id", "carrier_id", "mobile", "submission_id", "stat", "err", "text",
                                         "state", "received_at"],
                     [(r.provider_id, r.carrier_id[:64], (r.mobile or "")[:20], hit[0] if hit else None,
                       (r.stat or "")[:16], (r.err or "")[:16], (r.text or "")[:300],
                       CarrierReceipt.MATCHED if hit else CarrierReceipt.PENDING, now)
                      for hit, r in zip(hits, receipts)])
    else:
        matched = [(receipt_id, hit[0]) for hit, receipt_id in zip(hits, stored_ids) if hit]
        # One UPDATE per few hundred receipts (a CASE maps each to its submission): executemany
        # is one statement per row on psycopg2, and a path every early receipt takes.
        for part in _chunks(matched):
            execute(f"UPDATE carrier_receipt SET state = ?, submission_id = CASE id {' '.join(['WHEN ? THEN ?'] * len(part))}"
                    f" END WHERE id IN ({placeholders(len(part))})",
                    (CarrierReceipt.MATCHED, *[value for pair in part for value in pair], *[rid for rid, _sid in part]))
    if not outcome:
        return {}
    by_state = defaultdict(list)
    for sid, (state, _error) in outcome.items():
        by_state[state].append(sid)
    for state, sids in by_state.items():
        for part in _chunks(sids):
            CarrierSubmission.update(state=state).where(_in(CarrierSubmission.id, part),
                                                        CarrierSubmission.state == CarrierSubmission.ACCEPTED).execute()
    # A recipient is final when one part failed, or when every part was delivered.
    submissions = {hit[0]: hit for hit in hits if hit is not None}
    changes = {}
    multipart = []
    for sid, (state, error) in outcome.items():
        _sid, rid, parts = submissions[sid]
        if state != Recipient.DELIVERED:
            changes[rid] = (state, error)
        elif parts <= 1:
            changes.setdefault(rid, (Recipient.DELIVERED, ""))
        else:
            multipart.append(rid)
    if multipart:
        pending = defaultdict(int)
        for part in _chunks(set(multipart)):
            for rid, state in (CarrierSubmission.select(CarrierSubmission.recipient, CarrierSubmission.state)
                               .where(_in(CarrierSubmission.recipient, part)).tuples()):
                if state != Recipient.DELIVERED:
                    pending[rid] += 1
        for rid in set(multipart):
            if not pending[rid]:
                changes.setdefault(rid, (Recipient.DELIVERED, ""))
    return finalize([(rid, state, error) for rid, (state, error) in changes.items()],
                    from_states=(SENT_STATE,), now=now)


def _stored_receipt(row):
    from .providers.base import Receipt
    return Receipt(provider_id=row.provider_id, carrier_id=row.carrier_id, stat=row.stat, err=row.err, text=row.text,
                   mobile=row.mobile)


def _rematch(carrier_ids, provider_id, now):
    """Receipts that arrived before we stored the submission they belong to."""
    if not carrier_ids or provider_id is None:
        return {}
    columns = (CarrierReceipt.id, CarrierReceipt.state, CarrierReceipt.provider.alias("provider_id"),
               CarrierReceipt.carrier_id, CarrierReceipt.stat, CarrierReceipt.err, CarrierReceipt.text,
               CarrierReceipt.mobile)
    pending = []
    for part in _chunks(carrier_ids):
        # "pending" is checked here, not in SQL: SQLite would pick the (state, received_at) index
        # and read every pending receipt instead of looking up these ids.
        pending += [row for row in CarrierReceipt.select(*columns).where(
            CarrierReceipt.provider == provider_id, _in(CarrierReceipt.carrier_id, part)).namedtuples()
            if row.state == CarrierReceipt.PENDING]
    return _apply_stored(pending, now)


def _apply_stored(stored, now):
    """Apply receipts stored "pending" (rows with id, provider_id, carrier_id, stat, err, text, mobile)."""
    if not stored:
        return {}
    return _apply_receipts([_stored_receipt(r) for r in stored], now, stored_ids=[r.id for r in stored])


def match_pending_receipts(now=None, give_up_after=datetime.timedelta(minutes=2), limit=5000):
    """Match receipts that beat their submit response; after a while they are unknown ids."""
    now = now or utcnow()
    with db.atomic():
        pending = list(CarrierReceipt.select().where(CarrierReceipt.state == CarrierReceipt.PENDING)
                       .order_by(CarrierReceipt.id).limit(limit))
        finalized = _apply_stored(pending, now)
        old = [r.id for r in pending if r.received_at < now - give_up_after]
        still = set()
        for part in _chunks(old):
            still |= {rid for (rid,) in CarrierReceipt.select(CarrierReceipt.id).where(
                _in(CarrierReceipt.id, part), CarrierReceipt.state == CarrierReceipt.PENDING).tuples()}
        unknown = [r for r in pending if r.id in still]
        for part in _chunks([r.id for r in unknown]):
            CarrierReceipt.update(state=CarrierReceipt.UNKNOWN).where(_in(CarrierReceipt.id, part)).execute()
    for r in unknown[:20]:
        log_event("unknown_receipt", f"receipt for an unknown message id {r.carrier_id!r}: {r.text[:200]}",
                  r.provider_id)
    if len(unknown) > 20:
        log_event("unknown_receipt", f"{len(unknown) - 20} more receipts for unknown ids")
    announce(finalized)
    return finalized


# --- the clock's sweeps -------------------------------------------------------------------

def _open_message_ids(statuses=(Message.QUEUED, Message.SENDING)):
    return [mid for (mid,) in Message.select(Message.id).where(Message.status.in_(list(statuses))).tuples()]


def live_tokens(now=None):
    now = now or utcnow()
    stale = now - datetime.timedelta(seconds=current_app.config["DISPATCH_STALE_SECONDS"])
    return {token for (token,) in DispatchBatch.select(DispatchBatch.token).where(
        DispatchBatch.status == DispatchBatch.RUNNING, DispatchBatch.heartbeat_at > stale).tuples()}


def reconcile_stuck(now=None):
    """After a crash: recipients left "submitting" by a run that is no longer alive are
    finalised as failed ("interrupted") and refunded, never resent. Returns how many."""
    now = now or utcnow()
    stale = now - datetime.timedelta(seconds=current_app.config["DISPATCH_STALE_SECONDS"])
    live = live_tokens(now)
    stuck = []
    for message_ids in _chunks(_open_message_ids(), 200):
        stuck += [rid for rid, claim in Recipient.select(Recipient.id, Recipient.claim).where(
            Recipient.message.in_(message_ids), Recipient.status == SUBMITTING, Recipient.updated_at < stale).tuples()
            if claim not in live]
    finalized = {}
    for part in _chunks(stuck, 2000):
        with db.atomic():
            finalized = _merge(finalized, finalize([(rid, Recipient.FAILED, INTERRUPTED_REASON) for rid in part],
                                                   from_states=(SUBMITTING,), now=now))
    # Runs that died: their batches go back to the queue (rescue queues their jobs). A dead
    # group run of the stream just ends: rescue pushes its messages' unclaimed recipients again.
    dead_run = (DispatchBatch.status == DispatchBatch.RUNNING) & (
        DispatchBatch.heartbeat_at.is_null() | (DispatchBatch.heartbeat_at < stale))
    with db.atomic():
        dead = DispatchBatch.update(status=DispatchBatch.QUEUED, updated_at=now).where(
            dead_run, DispatchBatch.message.is_null(False)).execute()
        DispatchBatch.update(status=DispatchBatch.DONE, updated_at=now).where(
            dead_run, DispatchBatch.message.is_null()).execute()
    if stuck:
        log_event("interrupted", f"{len(stuck)} recipients were mid-submit when their worker stopped; "
                                 "finalised as failed and refunded, not resent")
    if dead:
        log.warning("%d batch runs stopped without finishing; queued again", dead)
    announce(finalized)
    return len(stuck)


def expire_overdue(now=None):
    """Recipients still waiting when their message's validity has passed: expired (refunded by policy)."""
    now = now or utcnow()
    hours = current_app.config["DISPATCH_VALIDITY_HOURS"]
    cutoff = now - datetime.timedelta(hours=hours)
    messages = list(Message.select(Message.id).where(
        Message.status.in_([Message.QUEUED, Message.SENDING, Message.SCHEDULED]),
        fn.COALESCE(Message.scheduled_at, Message.created_at) < cutoff).tuples())
    expired = 0
    finalized = {}
    for (message_id,) in messages:
        ids = [rid for (rid,) in Recipient.select(Recipient.id).where(
            Recipient.message == message_id, Recipient.status == QUEUED).tuples()]
        for part in _chunks(ids, 2000):
            with db.atomic():
                moved = finalize([(rid, Recipient.EXPIRED, "not sent within its validity") for rid in part],
                                 from_states=(QUEUED,), now=now)
            expired += sum(len(v) for v in moved.values())
            finalized = _merge(finalized, moved)
    announce(finalized)
    if messages:
        finish_messages([m for (m,) in messages], now)
    return expired


def expire_unreported(now=None):
    """Sent recipients with no final receipt long after submitting: expired ("no delivery report")."""
    now = now or utcnow()
    cutoff = now - datetime.timedelta(hours=current_app.config["DISPATCH_RECEIPT_WAIT_HOURS"])
    count = 0
    finalized = {}
    for message_ids in _chunks(_open_message_ids((Message.SENDING, Message.CANCELLED, Message.QUEUED)), 200):
        ids = [rid for (rid,) in Recipient.select(Recipient.id).where(
            Recipient.message.in_(message_ids), Recipient.status == SENT_STATE,
            Recipient.submitted_at < cutoff).tuples()]
        for part in _chunks(ids, 2000):
            with db.atomic():
                moved = finalize([(rid, Recipient.EXPIRED, "no delivery report") for rid in part],
                                 from_states=(SENT_STATE,), now=now)
            count += sum(len(v) for v in moved.values())
            finalized = _merge(finalized, moved)
    announce(finalized)
    return count


def sweep_finished(now=None):
    """Safety net: open messages with no open recipient left are closed."""
    return finish_messages(_open_message_ids((Message.QUEUED, Message.SENDING)), now)


def enqueue_batch(batch, at=None):
    """Queue the batch's job (a new job id per run, so a dead run's job never shadows it)."""
    from redis.exceptions import RedisError

    from ..jobs import QueueUnavailable, queue
    from .jobs import BATCH_JOB, DISPATCH_QUEUE
    job_id = f"dispatch-batch-{batch.id}-{secrets.token_hex(4)}"
    try:
        jobs = queue(DISPATCH_QUEUE)
        if at is not None and at > utcnow() + datetime.timedelta(milliseconds=200):
            jobs.enqueue_at(at.replace(tzinfo=datetime.UTC), BATCH_JOB, batch.id, job_id=job_id, job_timeout=3600,
                            result_ttl=60, failure_ttl=86400)
        else:
            jobs.enqueue(BATCH_JOB, batch.id, job_id=job_id, job_timeout=3600, result_ttl=60, failure_ttl=86400)
    except (QueueUnavailable, RedisError) as error:
        log.warning("batch %s not queued (%s); the rescue sweep will queue it", batch.id, error)
        return False
    with db.atomic():
        DispatchBatch.update(job_id=job_id, updated_at=utcnow()).where(DispatchBatch.id == batch.id).execute()
    return True


def _job_alive(jobs_by_id, job_id):
    """Is the job of a batch that is not running still going to run? (A "started" job
    of a batch that is not running belongs to a worker that died.)"""
    job = jobs_by_id.get(job_id)
    if job is None:
        return False
    return job.get_status(refresh=False) in ("queued", "scheduled", "deferred")


def rescue(now=None, grace=datetime.timedelta(seconds=30)):
    """Re-create work Redis lost (a restart, a crash): batches whose job is gone or dead,
    and accepted messages that were never cut into batches. Returns how many were queued."""
    from redis.exceptions import RedisError
    from rq.job import Job

    from ..jobs import QueueUnavailable, queue
    now = now or utcnow()
    queued = 0
    try:
        connection = queue().connection
        batches = list(DispatchBatch.select().where(DispatchBatch.status.in_([DispatchBatch.QUEUED,
                                                                               DispatchBatch.WAITING]),
                                                    DispatchBatch.updated_at < now - datetime.timedelta(seconds=5)))
        ids = [b.job_id for b in batches if b.job_id]
        found = {}
        for part in _chunks(ids, 200):
            for job in Job.fetch_many(part, connection=connection):
                if job is not None:
                    found[job.id] = job
        for batch in batches:
            if not _job_alive(found, batch.job_id):
                queued += enqueue_batch(batch, at=batch.run_after if batch.status == DispatchBatch.WAITING else None)
        # Accepted messages whose dispatch was lost before it cut batches (or, for a small
        # message, before a group run claimed it): recipients waiting, no open batch.
        from ..messages.service import enqueue_dispatch
        from . import stream
        stream_busy = stream.is_draining()  # small messages may still be waiting in line
        waiting = Recipient.select(Recipient.id).where(Recipient.message == Message.id, Recipient.status == QUEUED)
        batched = DispatchBatch.select(DispatchBatch.id).where(DispatchBatch.message == Message.id,
                                                               DispatchBatch.status.in_(DispatchBatch.OPEN))
        candidates = Message.select().where(
            Message.status.in_([Message.QUEUED, Message.SCHEDULED, Message.SENDING]),
            Message.enqueued_at.is_null(False), Message.enqueued_at < now - grace,
            fn.COALESCE(Message.scheduled_at, Message.created_at) < now - grace,
            fn.EXISTS(waiting), ~fn.EXISTS(batched))
        for message in candidates:
            if stream_busy and stream.takes(message.recipients_count, None):
                continue
            job = Job.fetch_many([f"dispatch-{message.msg_id}"], connection=connection)[0]
            if job is not None and job.get_status(refresh=False) in ("queued", "scheduled", "deferred", "started"):
                continue
            if job is not None:
                job.delete()
            message.scheduled_at = None  # due now: queue it at once
            queued += enqueue_dispatch(message)
    except (QueueUnavailable, RedisError) as error:
        log.warning("rescue skipped: Redis is not reachable (%s)", error)
    return queued


# --- reading (admin page) -------------------------------------------------------------------

def overview(now=None):
    now = now or utcnow()
    open_ids = _open_message_ids((Message.QUEUED, Message.SENDING, Message.SCHEDULED))
    counts = defaultdict(int)
    for part in _chunks(open_ids, 200):
        for status, n in (Recipient.select(Recipient.status, fn.COUNT(Recipient.id))
                          .where(Recipient.message.in_(part)).group_by(Recipient.status).tuples()):
            counts[status] += n
    batches = dict(DispatchBatch.select(DispatchBatch.status, fn.COUNT(DispatchBatch.id))
                   .where(DispatchBatch.status.in_(DispatchBatch.OPEN)).group_by(DispatchBatch.status).tuples())
    pending_receipts = CarrierReceipt.select().where(CarrierReceipt.state == CarrierReceipt.PENDING).count()
    from . import stream
    return {"open_messages": len(open_ids), "recipients": dict(counts), "batches": batches,
            "pending_receipts": pending_receipts, "streamed": stream.waiting()}


def recent_events(limit=50):
    return list(DispatchEvent.select(DispatchEvent, DispatchProvider.name)
                .join(DispatchProvider, JOIN.LEFT_OUTER).order_by(DispatchEvent.id.desc()).limit(limit))


def trail(recipient_id):
    """What support shows staff about one recipient: each submission and its receipts."""
    submissions = list(CarrierSubmission.select(CarrierSubmission, DispatchProvider.name)
                       .join(DispatchProvider, JOIN.LEFT_OUTER)
                       .where(CarrierSubmission.recipient == recipient_id).order_by(CarrierSubmission.part))
    receipts = defaultdict(list)
    if submissions:
        for receipt in CarrierReceipt.select().where(
                CarrierReceipt.submission.in_([s.id for s in submissions])).order_by(CarrierReceipt.id):
            receipts[receipt.submission_id].append(receipt)
    return [(s, receipts[s.id]) for s in submissions]


def account_of(message_id):
    return Account.select().join(Message).where(Message.id == message_id).first()


# --- the admin's route table -------------------------------------------------------------------

def _provider_errors(fields, row):
    from flask_babel import lazy_gettext as _l
    errors = {}
    name = (fields.get("name") or "").strip()
    if not name:
        errors["name"] = _l("Give the provider a name.")
    elif DispatchProvider.select().where(fn.LOWER(DispatchProvider.name) == name.lower(),
                                         DispatchProvider.id != (row.id if row else 0)).exists():
        errors["name"] = _l("Another provider has this name.")
    kind = fields.get("kind")
    if kind not in DispatchProvider.KINDS:
        errors["kind"] = _l("Choose what kind of provider this is.")
    if kind == DispatchProvider.SMPP:
        if not (fields.get("host") or "").strip():
            errors["host"] = _l("An SMPP provider needs the carrier's host name or address.")
        if not (fields.get("system_id") or "").strip():
            errors["system_id"] = _l("An SMPP provider needs the system_id the carrier gave you.")
    if kind == DispatchProvider.KWTSMS and not (fields.get("system_id") or "").strip():
        errors["system_id"] = _l("Enter the kwtSMS account's API username.")
    return errors


PROVIDER_FIELDS = ("name", "kind", "is_enabled", "host", "port", "system_id", "system_type", "bind_mode", "window",
                   "mps", "enquire_link", "sink_delay", "sink_failure_percent")


def save_provider(admin, row, *, secret="", clear_secret=False, **fields):
    """Create (row None) or change a provider. The secret is only replaced when a new one is typed."""
    from ..errors import FieldErrors
    errors = _provider_errors(fields, row)
    if errors:
        raise FieldErrors(errors)
    values = {key: fields[key] for key in PROVIDER_FIELDS if key in fields}
    values["name"] = values["name"].strip()
    for key in ("host", "system_id", "system_type"):
        values[key] = (values.get(key) or "").strip()
    if secret:
        values["secret"] = secret
    elif clear_secret:
        values["secret"] = ""
    values["updated_at"] = utcnow()
    with db.atomic():
        if row is None:
            row = DispatchProvider.create(**values)
        else:
            DispatchProvider.update(**values).where(DispatchProvider.id == row.id).execute()
            row = DispatchProvider.get_by_id(row.id)
        _audit(admin, f"provider {row.name} saved ({row.kind})")
    _router.refresh()
    return row


def save_route(admin, prefix, provider_id, note=""):
    from flask_babel import lazy_gettext as _l

    from ..errors import FieldErrors
    prefix = "".join(ch for ch in (prefix or "") if ch.isdigit())
    provider = DispatchProvider.get_or_none(DispatchProvider.id == provider_id)
    if provider is None:
        raise FieldErrors.single("provider", _l("Choose a provider."))
    with db.atomic():
        existing = DispatchRoute.get_or_none(DispatchRoute.prefix == prefix)
        if existing is not None:
            DispatchRoute.update(provider=provider.id, note=note or "", updated_at=utcnow()).where(
                DispatchRoute.id == existing.id).execute()
        else:
            DispatchRoute.create(prefix=prefix, provider=provider.id, note=note or "")
        _audit(admin, f"dispatch route {prefix or 'default'} -> {provider.name}")
    _router.refresh()
    return DispatchRoute.get(DispatchRoute.prefix == prefix)


def delete_route(admin, route_id):
    with db.atomic():
        route = DispatchRoute.get_or_none(DispatchRoute.id == route_id)
        if route is None:
            return False
        route.delete_instance()
        _audit(admin, f"dispatch route {route.prefix or 'default'} removed")
    _router.refresh()
    return True


def _audit(admin, details):
    from ..models import AuditLog
    AuditLog.create(actor=admin.id if admin else None, account=None, action="dispatch_settings",
                    details=details[:2000])
