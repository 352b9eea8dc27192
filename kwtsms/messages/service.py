"""The one send path: validate, price, charge and create a message with its
recipients in one transaction, then queue its dispatch after the commit. The
web composer and the developer API both call send_message().

Also: the composer's live counter, cancelling (refund of what was not sent),
the sweep that re-queues accepted messages whose enqueue was lost, opt-outs.
"""
import datetime
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import lazy_gettext as _l
from peewee import fn
from redis.exceptions import RedisError

from .. import ledger, phone, smstext
from ..api.content import content_refusal
from ..db import chunks, db, fetch_all, fetch_one, for_update, insert_rows, is_sqlite, placeholders
from ..dispatch import stream
from ..destinations.service import coverage_for
from ..jobs import QueueUnavailable, queue
from ..recharge.service import check_low_balance
from ..models import Contact, Group, Message, OptOut, Recipient, utcnow
from ..models.messages import new_message_id
from ..senders.service import check_sender

log = logging.getLogger("kwtsms.messages")

DISPATCH_JOB = "kwtsms.dispatch.jobs.dispatch_message"  # the dispatch engine's entry point
MAX_API_NUMBERS = 200
REPEAT_WINDOW = datetime.timedelta(seconds=15)
IN_LIST = 500  # values per IN (...) list
OPT_OUT_LOOKUP_LIMIT = 2000  # above this many numbers a send reads the whole opt-out list


class SendRefused(ValueError):
    """The send was refused as a whole: nothing was charged or queued.

    `code` is the kwtSMS API error code; `field` the composer field to show it beside.
    """

    def __init__(self, code, message, field="message", **details):
        super().__init__(str(message))
        self.code, self.message, self.field, self.details = code, message, field, details


# --- text -------------------------------------------------------------------

def checked_text(text):
    """The cleaned text and its page info, or SendRefused (ERR009 / ERR027 / ERR012)."""
    info = smstext.analyze(text or "")
    if not info.text.strip():
        raise SendRefused("ERR009", _l("The message is empty. Type the text to send."))
    if smstext.has_html(info.text):
        raise SendRefused("ERR027", _l("The message contains HTML tags such as <b> or <a>. SMS cannot show them: remove them."))
    if info.too_long:
        raise SendRefused("ERR012", _l("The message is %(pages)d pages long; at most %(max)d pages are allowed.",
                                       pages=info.pages, max=smstext.MAX_PAGES))
    refusal = content_refusal(info.text)  # the operator's bad-language and spam lists: ERR031 / ERR032
    if refusal:
        raise SendRefused(*refusal)
    return info


# --- recipients --------------------------------------------------------------

@dataclass
class Audience:
    """Who a send goes to, after cleaning, de-duplication and opt-outs."""
    numbers: dict = field(default_factory=dict)  # number -> contact name ("" for typed numbers)
    invalid: list = field(default_factory=list)  # (what was typed, why it was refused)
    duplicates: int = 0
    opted_out: int = 0

    def add(self, number, name=""):
        if number in self.numbers:
            self.duplicates += 1
        else:
            self.numbers[number] = name


def collect_audience(account, numbers=(), group_ids=()):
    """Typed or pasted numbers (a string in any format phone.py accepts, or a list) and
    the contacts of the account's groups, de-duplicated, without opted-out numbers."""
    audience = Audience()
    raw_numbers = phone.split_numbers(numbers) if isinstance(numbers, str) else list(numbers)
    for raw in raw_numbers:
        checked = phone.parse_mobile(raw)
        if checked.ok:
            audience.add(checked.number)
        else:
            audience.invalid.append((str(raw), checked.reason))
    wanted = {int(g) for g in group_ids if str(g).isdigit()}
    if wanted:
        own = [g.id for g in Group.select(Group.id).where(Group.account == account.id, Group.id.in_(wanted))]
        if own:
            # Stored numbers are already normalised: no need to parse them again.
            for mobile, name in (Contact.select(Contact.mobile, Contact.name)
                                 .where(Contact.group.in_(own)).order_by(Contact.id).tuples().iterator()):
                audience.add(mobile, name)
    opted_out = _opted_out(account.id, audience.numbers) if audience.numbers else ()
    if opted_out:
        for number in [n for n in audience.numbers if n in opted_out]:
            del audience.numbers[number]
            audience.opted_out += 1
    return audience


def _opted_out(account_id, numbers):
    """Which of `numbers` are on the account's opt-out list."""
    if len(numbers) > OPT_OUT_LOOKUP_LIMIT:  # a campaign: reading the whole list is cheaper
        return {m for (m,) in fetch_all("SELECT mobile FROM opt_out WHERE account_id = ?", (account_id,))}
    found = set()
    for part in chunks(numbers, IN_LIST):
        found.update(m for (m,) in fetch_all(f"SELECT mobile FROM opt_out WHERE account_id = ? "
                                             f"AND mobile IN ({placeholders(len(part))})", (account_id, *part)))
    return found


# --- price -------------------------------------------------------------------

@dataclass
class Quote:
    info: smstext.TextInfo  # of the text as written
    rows: list  # (number, name, pages, points) per recipient
    points: int
    not_covered: list  # numbers whose country the account may not send to
    personalised: bool

    @property
    def count(self):
        return len(self.rows)


def price(account, info, audience):
    """Points per recipient: its pages (after {name} is filled in) x its destination's points per page."""
    coverage = coverage_for(account)
    personalised = "{name}" in info.text
    pages_for_name = {}
    rows, not_covered, total = [], [], 0
    per_page = {}
    for number, name in audience.numbers.items():
        key = number[:6]  # country prefixes are at most a few digits: cache by a safe leading part
        points_per_page = per_page.get(key, -1)
        if points_per_page == -1:
            points_per_page = per_page[key] = coverage.points_per_page(number)
        if points_per_page is None:
            not_covered.append(number)
            continue
        if personalised:
            pages = pages_for_name.get(name)
            if pages is None:
                rendered = smstext.render(info.text, name)
                if not rendered.strip():
                    raise SendRefused("ERR009", _l("With no name to fill in, this message is empty. Add some text "
                                                   "around {name}."))
                pages = pages_for_name[name] = smstext.analyze(rendered).pages
        else:
            pages = info.pages
        points = pages * points_per_page
        rows.append((number, name, pages, points))
        total += points
    return Quote(info=info, rows=rows, points=total, not_covered=not_covered, personalised=personalised)


# --- the send ------------------------------------------------------------------

@dataclass
class SendResult:
    message: Message
    quote: Quote
    audience: Audience
    balance_after: int


def prepare(account, *, sender, text, numbers=(), group_ids=()):
    """Everything a send checks before money moves: used for the composer's review step too."""
    info = checked_text(text)
    audience = collect_audience(account, numbers, group_ids)
    if not audience.numbers:
        if audience.opted_out:
            raise SendRefused("ERR006", _l("Every number is on your opt-out list; nothing to send."), "numbers")
        if audience.invalid:
            raise SendRefused("ERR025" if len(audience.invalid) == 1 else "ERR006",
                              _l("No valid number to send to: %(reason)s", reason=audience.invalid[0][1]), "numbers")
        raise SendRefused("ERR006", _l("Choose a group or type at least one number."), "numbers")
    quote = price(account, info, audience)
    if not quote.rows:
        raise SendRefused("ERR026", _l("Your account is not activated for the country of these numbers. "
                                       "Ask for it on the prices page."), "numbers")
    decision = check_sender(account, sender, (row[0] for row in quote.rows))
    if not decision:
        raise SendRefused(decision.code or "ERR008", decision.reason, "sender")
    return info, audience, quote


_WAITING = ("SELECT COUNT(*) FROM (SELECT 1 FROM message WHERE account_id = ? AND status IN (?, ?) LIMIT ?) "
            "AS waiting")  # counting stops at the limit: a full queue is not counted to the end on every send
_RECENT = ("SELECT recipient.mobile FROM recipient JOIN message ON message.id = recipient.message_id "
           "WHERE recipient.mobile IN ({numbers}) AND message.account_id = ? AND message.created_at > ? "
           "AND message.is_test = ? LIMIT 1")


def _recent(account, part, now):
    """SQL and params: one of `part` sent to by the account in the last REPEAT_WINDOW."""
    return _RECENT.format(numbers=placeholders(len(part))), [*part, account.id, now - REPEAT_WINDOW, False]


def _check_repeat_and_room(account, numbers, now, *, repeat_guard, queue_room):
    """ERR028 (with repeat_guard: a number was sent to less than 15 seconds ago, as the
    API refuses) and ERR013 (with queue_room: too many messages waiting to go out,
    queued or scheduled, not those the workers already took). Both are read in one
    statement: each statement is a round trip to PostgreSQL."""
    parts = list(chunks(numbers, IN_LIST)) if repeat_guard else []
    columns, params = [], []
    if queue_room:
        limit = current_app.config["MAX_QUEUED_MESSAGES"]
        columns.append(f"({_WAITING})")
        params += [account.id, Message.QUEUED, Message.SCHEDULED, limit]
    if parts:
        recent_sql, recent_params = _recent(account, parts[0], now)
        columns.append(f"({recent_sql})")
        params += recent_params
    if not columns:
        return
    row = fetch_one("SELECT " + ", ".join(columns), params)
    waiting = row[0] if queue_room else 0
    recent = row[-1] if parts else None
    for part in parts[1:]:  # more numbers than one IN list holds: a campaign asking for the guard
        if recent:
            break
        found = fetch_one(*_recent(account, part, now))
        recent = found[0] if found else None
    if recent:
        raise SendRefused("ERR028", _l("%(number)s was sent a message less than 15 seconds ago; nothing was "
                                       "sent.", number=recent), "numbers")
    if queue_room and waiting >= limit:
        raise SendRefused("ERR013", _l("You already have %(n)d messages waiting to be sent; wait for them "
                                       "or cancel some.", n=waiting), "message")


def _insert_recipients(message_id, rows, status):
    """Raw multi-row INSERTs: 100,000 recipients in a fraction of a second (peewee's insert_many costs 10x)."""
    now = utcnow()
    insert_rows("recipient", _RECIPIENT_COLUMNS, [(message_id, number, name, pages, points, status, "", False, now)
                                                  for number, name, pages, points in rows])


_MESSAGE_COLUMNS = ("account_id", "msg_id", "sender", "text", "encoding", "pages", "recipients_count", "points",
                    "status", "source", "is_test", "scheduled_at", "enqueued_at", "created_at")
_INSERT_MESSAGE = (f"INSERT INTO message ({', '.join(_MESSAGE_COLUMNS)}) "
                   f"VALUES ({placeholders(len(_MESSAGE_COLUMNS))}) RETURNING id")


_RECIPIENT_COLUMNS = ("message_id", "mobile", "name", "pages", "points", "status", "error", "refunded", "updated_at")
ONE_STATEMENT_MAX = 200  # recipients: an API-sized send


def _insert_charged_send(message, rows, reason):
    """PostgreSQL: the charge, its ledger row, the message and its recipients in one
    statement, which is its own transaction: one round trip instead of six (BEGIN,
    four writes, COMMIT), for sends of up to ONE_STATEMENT_MAX numbers. Sets
    message.id and returns the balance after, or None when the balance is short (then
    nothing was written)."""
    ctes, params = ledger.debit_ctes(message.account_id, message.points, reason=reason,
                                     reference=message.msg_id, now=message.created_at)
    rows_sql = ", ".join(["(?, ?, ?, ?)"] * len(rows))
    statement = (f"WITH {ctes}, sent AS (INSERT INTO message ({', '.join(_MESSAGE_COLUMNS)}) "
                 f"SELECT {placeholders(len(_MESSAGE_COLUMNS))} FROM debit RETURNING id), "
                 f"listed AS (INSERT INTO recipient ({', '.join(_RECIPIENT_COLUMNS)}) "
                 "SELECT sent.id, r.mobile, r.name, r.pages, r.points, ?, '', FALSE, ? "
                 f"FROM sent, (VALUES {rows_sql}) AS r (mobile, name, pages, points)) "
                 "SELECT sent.id, debit.balance FROM sent, debit")
    params += [getattr(message, column) for column in _MESSAGE_COLUMNS]
    params += [Recipient.QUEUED, message.created_at]
    params += [value for row in rows for value in row]
    found = fetch_one(statement, params)
    if found is None:
        return None
    message.id = found[0]
    return found[1]


def _insert_message(message):
    """message.save() in one raw INSERT: the ORM would cost more than the rest of an API send."""
    message.id = fetch_one(_INSERT_MESSAGE, [getattr(message, column) for column in _MESSAGE_COLUMNS])[0]


def send_message(account, *, sender, text, numbers=(), group_ids=(), schedule_at=None, test=False,
                 source=Message.WEB, repeat_guard=False, now=None):
    """Accept a send: all of it, or nothing (SendRefused). Returns a SendResult.

    `account` is the Account as this request (or job) loaded it: its balance is not
    trusted (the charge checks it in SQL), its blocked flag and threshold are.
    """
    now = now or utcnow()
    if account.is_blocked:
        raise SendRefused("ERR005", _l("This account is blocked."), "message")
    if schedule_at is not None and schedule_at <= now:
        raise SendRefused("ERR002", _l("The scheduled time has already passed. Choose a time in the future."),
                          "schedule_at")
    info, audience, quote = prepare(account, sender=sender, text=text, numbers=numbers, group_ids=group_ids)
    _check_repeat_and_room(account, [row[0] for row in quote.rows], now, repeat_guard=repeat_guard,
                           queue_room=not test)

    status = Message.TEST if test else (Message.SCHEDULED if schedule_at else Message.QUEUED)
    # Small messages go to the dispatch stream right after the commit: marked as
    # handed over in the same INSERT, unmarked if Redis refuses them (see enqueue_dispatch).
    streamed = not test and stream.takes(quote.count, schedule_at)
    # Built before the transaction: on SQLite every other writer waits while it is open.
    message = Message(msg_id=new_message_id(), account=account.id, sender=sender, text=info.text,
                      encoding=info.encoding, pages=info.pages, recipients_count=quote.count,
                      points=0 if test else quote.points, status=status, source=source, is_test=test,
                      scheduled_at=schedule_at, enqueued_at=now if streamed else None, created_at=now)
    charged = not test and quote.points  # a destination may cost nothing (an operator's choice)
    if charged and quote.count <= ONE_STATEMENT_MAX and not is_sqlite():
        balance_after = _insert_charged_send(message, quote.rows, _charge_reason(message))
        if balance_after is None:
            _refuse_short(account.id, quote.points)
    else:
        with db.atomic():
            _insert_message(message)
            balance_after = account.balance
            if charged:
                try:
                    balance_after = ledger.charge(account.id, quote.points, reason=_charge_reason(message),
                                                  reference=message.msg_id).balance_after
                except ledger.InsufficientCredit as short:
                    _refuse_short(account.id, quote.points, short)
            _insert_recipients(message.id, quote.rows, Recipient.TEST if test else Recipient.QUEUED)
    if status != Message.TEST:
        enqueue_dispatch(message)
        if account.low_balance_threshold:
            check_low_balance(account.id)
    return SendResult(message=message, quote=quote, audience=audience, balance_after=balance_after)


def _refuse_short(account_id, points, short=None):
    """ERR010 / ERR011: the balance does not cover the send."""
    if short is None:
        found = fetch_one("SELECT balance FROM account WHERE id = ?", (account_id,))
        # Read after the refused statement: a recharge may have landed in between.
        short = ledger.InsufficientCredit(available=min(found[0] if found else 0, points - 1), required=points)
    code = "ERR010" if short.available == 0 else "ERR011"
    raise SendRefused(code, _l("This send costs %(required)s points but your balance is %(available)s: "
                               "%(missing)s points are missing.", required=short.required,
                               available=short.available, missing=short.missing),
                      "balance", missing=short.missing, required=short.required)


def _charge_reason(message):
    return f"SMS from {message.sender} to {message.recipients_count} numbers"


def enqueue_dispatch(message):
    """Hand an accepted message to the dispatch workers (now, or at its scheduled time):
    small ones to the dispatch stream, campaigns and scheduled ones as their own job.

    A failure here loses nothing: the message stays without `enqueued_at` and
    the sweep queues it later.
    """
    if stream.takes(message.recipients_count, message.scheduled_at):
        if stream.push([message.id]):
            if message.enqueued_at is None:
                _mark_enqueued(message)
            return True
        log.warning("message %s not handed to the dispatch stream yet; the sweep will queue it", message.msg_id)
        if message.enqueued_at is not None:
            _mark_enqueued(message, None)
        return False
    try:
        jobs = queue()
        job_id = f"dispatch-{message.msg_id}"
        if message.scheduled_at is not None:
            jobs.enqueue_at(message.scheduled_at.replace(tzinfo=datetime.UTC), DISPATCH_JOB, message.id, job_id=job_id)
        else:
            jobs.enqueue(DISPATCH_JOB, message.id, job_id=job_id)
    except (QueueUnavailable, RedisError) as error:
        log.warning("message %s not queued yet (%s); the sweep will queue it", message.msg_id, error)
        return False
    _mark_enqueued(message)
    return True


def _mark_enqueued(message, when=...):
    """Record that the message is (now, by default) or is not (None) in Redis's hands."""
    message.enqueued_at = utcnow() if when is ... else when
    with db.atomic():
        Message.update(enqueued_at=message.enqueued_at).where(Message.id == message.id).execute()


def sweep_unqueued(now=None, grace=datetime.timedelta(seconds=30)):
    """Queue accepted messages whose enqueue never happened; returns how many were queued."""
    now = now or utcnow()
    pending = (Message.select().where(Message.status.in_([Message.QUEUED, Message.SCHEDULED]),
                                      Message.enqueued_at.is_null(), Message.created_at < now - grace))
    return sum(1 for message in pending if enqueue_dispatch(message))


# --- cancel ---------------------------------------------------------------------

def cancel_message(account, message):
    """Cancel what was not sent yet and refund it at once. Returns the points refunded.

    Recipients a dispatch worker has already claimed are not touched: they go on.
    """
    with db.atomic():
        message = for_update(Message.select().where(Message.id == message.id, Message.account == account.id)).first()
        if message is None:
            raise SendRefused("ERR020", _l("This message does not exist."), "message")
        if message.status not in Message.OPEN:
            raise SendRefused("ERR030", _l("This message can no longer be cancelled."), "message")
        waiting = for_update(Recipient.select(Recipient.id, Recipient.points)
                             .where(Recipient.message == message.id, Recipient.status == Recipient.QUEUED))
        rows = list(waiting.tuples())
        ids = [row[0] for row in rows]
        points = sum(row[1] for row in rows)
        for start in range(0, len(ids), 1000):
            Recipient.update(status=Recipient.CANCELLED, refunded=True, updated_at=utcnow()).where(
                Recipient.id.in_(ids[start:start + 1000])).execute()
        if points:
            ledger.refund(account, points, reason=f"cancelled: {len(ids)} unsent SMS", reference=message.msg_id)
        in_flight = Recipient.select().where(Recipient.message == message.id,
                                             Recipient.status.in_([Recipient.SUBMITTING, Recipient.SENT])).exists()
        Message.update(status=Message.SENDING if in_flight else Message.CANCELLED,
                       finished_at=None if in_flight else utcnow()).where(Message.id == message.id).execute()
    return points


# --- reading --------------------------------------------------------------------

def status_counts(message):
    return dict(Recipient.select(Recipient.status, fn.COUNT(Recipient.id))
                .where(Recipient.message == message.id).group_by(Recipient.status).tuples())


def history(account, *, query="", sender="", status="", date_from=None, date_to=None):
    messages = Message.select().where(Message.account == account.id)
    if sender:
        messages = messages.where(Message.sender == sender)
    if status:
        messages = messages.where(Message.status == status)
    if date_from:
        messages = messages.where(Message.created_at >= date_from)
    if date_to:
        messages = messages.where(Message.created_at < date_to)
    query = (query or "").strip()
    if query:
        digits = phone.clean_digits(query)
        if digits and len(digits.lstrip("+")) >= 6:
            number = phone.parse_mobile(query).number or digits.lstrip("+")
            messages = messages.where(fn.EXISTS(Recipient.select(Recipient.id).where(
                Recipient.message == Message.id, Recipient.mobile == number)))
        else:
            messages = messages.where(Message.text.contains(query))
    return messages.order_by(Message.id.desc())


def senders_used(account):
    return [s for (s,) in Message.select(Message.sender).where(Message.account == account.id)
            .distinct().order_by(Message.sender).tuples()]


# --- opt-outs ---------------------------------------------------------------------

def add_opt_outs(account, numbers):
    """Add numbers (text in any format, or a list). Returns (added, already, invalid rows)."""
    raw_numbers = phone.split_numbers(numbers) if isinstance(numbers, str) else list(numbers)
    valid, invalid = [], []
    for raw in raw_numbers:
        checked = phone.parse_mobile(raw)
        (valid.append(checked.number) if checked.ok else invalid.append((str(raw), checked.reason)))
    valid = list(dict.fromkeys(valid))
    with db.atomic():
        existing = {m for (m,) in OptOut.select(OptOut.mobile).where(
            OptOut.account == account.id, OptOut.mobile.in_(valid)).tuples()} if valid else set()
        fresh = [n for n in valid if n not in existing]
        for start in range(0, len(fresh), 1000):
            OptOut.insert_many([(account.id, n) for n in fresh[start:start + 1000]],
                               fields=[OptOut.account, OptOut.mobile]).on_conflict_ignore().execute()
    return len(fresh), len(existing), invalid


def remove_opt_out(account, opt_out_id):
    with db.atomic():
        return OptOut.delete().where(OptOut.account == account.id, OptOut.id == opt_out_id).execute()


_MIX_CACHE = {}  # (group id, size) -> (computed at, Counter); the counter asks on every keystroke
_MIX_SECONDS = 60


def group_country_mix(group_ids, account):
    """{first 3 digits: count} over the account's chosen groups, for the live cost estimate.

    Cached per group for a minute while its size is unchanged: counting a
    100,000-number group by country takes ~30 ms, too slow for every keystroke.
    """
    wanted = {int(g) for g in group_ids if str(g).isdigit()}
    mix = Counter()
    if not wanted:
        return mix
    prefix = fn.SUBSTR(Contact.mobile, 1, 3)
    now = time.monotonic()
    for group_id, size in Group.select(Group.id, Group.size).where(
            Group.account == account.id, Group.id.in_(wanted)).tuples():
        cached = _MIX_CACHE.get((group_id, size))
        if cached is None or now - cached[0] > _MIX_SECONDS:
            counts = Counter(dict(Contact.select(prefix, fn.COUNT(Contact.id))
                                  .where(Contact.group == group_id).group_by(prefix).tuples()))
            cached = _MIX_CACHE[(group_id, size)] = (now, counts)
            if len(_MIX_CACHE) > 1000:
                _MIX_CACHE.clear()
        mix.update(cached[1])
    return mix
