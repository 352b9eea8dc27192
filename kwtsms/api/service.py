"""The API's endpoints as plain functions: (account, params) -> reply dict, or ApiError.

Every send goes through kwtsms.messages.service.send_message(), the same path as the
web composer (validation, pricing, charging, queueing); this module only reads the
wire format of kwtSMS (../shared/API.md) and writes its replies. Error descriptions
are English, as kwtSMS's are, whatever the language of the caller.
"""
import calendar
import datetime
import re

from flask_babel import force_locale

from .. import ledger, phone
from ..destinations.service import active_prefixes, coverage_for
from ..messages import service as messages
from ..models import Message, Recipient, utcnow
from ..senders.service import senders_for
from . import credentials

KUWAIT_OFFSET = 10800  # kwtSMS timestamps: seconds in Kuwait server time (UTC+3)
MAX_NUMBERS = messages.MAX_API_NUMBERS
MSG_ID = re.compile(r"[0-9a-f]{32}")
STUCK_AFTER = datetime.timedelta(minutes=10)

DESCRIPTIONS = {
    "ERR001": "The API is disabled on this account. Turn it on on the account's API page.",
    "ERR002": "A required parameter is missing.",
    "ERR003": "Authentication error: wrong API username or password.",
    "ERR004": "This account has no API access. Ask the operator to grant it.",
    "ERR005": "This account is blocked.",
    "ERR006": "No valid number in mobile.",
    "ERR007": "Too many numbers: at most 200 in one request.",
    "ERR008": "Sender ID not approved for this account, banned, or unknown. Sender IDs are case sensitive.",
    "ERR009": "The message is empty.",
    "ERR010": "The balance is zero.",
    "ERR011": "The balance is lower than the points this send costs.",
    "ERR012": "The message is longer than 7 pages.",
    "ERR013": "The send queue of this account is full; wait for messages to go out.",
    "ERR019": "No delivery reports for this message.",
    "ERR020": "This message ID does not exist.",
    "ERR021": "The delivery report is not ready yet.",
    "ERR022": "Delivery reports are not ready; try again after 24 hours.",
    "ERR023": "Unknown delivery report error.",
    "ERR024": "This IP address is not in the account's API IP whitelist.",
    "ERR025": "Invalid number.",
    "ERR026": "The destination country is not activated for this account.",
    "ERR027": "HTML tags are not allowed in the message.",
    "ERR028": "The same number was sent to less than 15 seconds ago; nothing was sent or charged.",
    "ERR029": "Wrong message ID.",
    "ERR030": "The message is stuck in the queue with an error; delete it from the queue to recover its points.",
    "ERR031": "Message rejected: bad language.",
    "ERR032": "Message rejected: spam detected.",
    "ERR033": "No active coverage on this account.",
    # Not kwtSMS codes: HTTP-level refusals, named after their status.
    "ERR400": "The request body could not be read.",
    "ERR404": "Unknown endpoint.",
    "ERR405": "Use POST.",
    "ERR413": "The request body is too large.",
    "ERR415": "Send the parameters as JSON (Content-Type: application/json) or as a form.",
    "ERR429": "Too many requests from this IP address; slow down.",
    "ERR500": "Internal error. Before sending again, check whether the message is in the queue.",
}

# HTTP status of each error reply (the body is what clients read).
STATUS = {"ERR003": 401, "ERR001": 403, "ERR004": 403, "ERR005": 403, "ERR024": 403,
          "ERR010": 402, "ERR011": 402, "ERR013": 429, "ERR028": 429,
          "ERR019": 404, "ERR020": 404, "ERR029": 404,
          "ERR021": 409, "ERR022": 409, "ERR023": 409, "ERR030": 409}


class ApiError(Exception):
    """An error reply: {"result": "ERROR", "code": code, "description": description}."""

    def __init__(self, code, description=None, status=None, **extra):
        self.code = code
        self.description = description or DESCRIPTIONS.get(code, "Error.")
        self.status = status or STATUS.get(code) or (int(code[3:]) if code[3] in "45" else 400)
        self.extra = extra
        super().__init__(f"{code}: {self.description}")

    def reply(self):
        return {"result": "ERROR", "code": self.code, "description": self.description, **self.extra}


def english(text):
    """A message from the services (maybe a lazy translation) in English."""
    with force_locale("en"):
        return str(text)


def kuwait_timestamp(value):
    """A naive UTC datetime as kwtSMS writes times: the UTC epoch plus three hours."""
    if value is None:
        return None
    return calendar.timegm(value.timetuple()) + KUWAIT_OFFSET


# --- parameters --------------------------------------------------------------------

def text_param(params, name, *, required=False, allow_list=False):
    """A parameter as text. JSON numbers and booleans are accepted as their text, a
    list (for `mobile`) as comma-separated text; an object is refused (ERR002)."""
    value = params.get(name)
    if isinstance(value, bool):
        value = "1" if value else "0"
    elif isinstance(value, int):
        value = str(value)
    elif isinstance(value, float):
        value = str(int(value)) if value.is_integer() and abs(value) < 1e18 else str(value)
    elif allow_list and isinstance(value, list):
        value = ",".join(text_param({"v": v}, "v") or "" for v in value)
    elif value is not None and not isinstance(value, str):
        raise ApiError("ERR002", f"The parameter {name} must be text.")
    if value is not None:
        value = value.replace("\x00", "")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError("ERR002", f"The parameter {name} is not valid Unicode text.")
    if required and (value is None or not value.strip()):
        raise ApiError("ERR002", f"A required parameter is missing: {name}.")
    return value


def _flag(value):
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


# --- the caller ----------------------------------------------------------------------

def authenticate(params, remote_address):
    """The account these credentials open, after every account-level check, or ApiError."""
    username, password = params.get("username"), params.get("password")
    if username in (None, "") or password in (None, ""):
        raise ApiError("ERR002", "A required parameter is missing: username and password.")
    account = None
    if isinstance(username, str) and isinstance(password, str):
        account = credentials.authenticate(username, password)
    if account is None:
        raise ApiError("ERR003", "Authentication error: wrong API username or password. These are the API "
                                 "credentials from the account's API page, not the portal login.")
    if account.is_blocked:
        raise ApiError("ERR005")
    if not credentials.access_granted(account):
        raise ApiError("ERR004")
    if not account.api_enabled:
        raise ApiError("ERR001")
    if not credentials.ip_allowed(account, remote_address):
        raise ApiError("ERR024", f"The IP address {remote_address} is not in the account's API IP whitelist.")
    return account


# --- endpoints -------------------------------------------------------------------------

def balance(account, params):
    # "balance" repeats "available": the official PHP client reads that name.
    return {"result": "OK", "available": account.balance, "purchased": ledger.purchased_total(account),
            "balance": account.balance}


def senderid(account, params):
    return {"result": "OK", "senderid": senders_for(account)}


def coverage(account, params):
    prefixes = active_prefixes(account)
    if not prefixes:
        raise ApiError("ERR033")
    return {"result": "OK", "prefixes": prefixes, "coverage": prefixes}


def _numbers(params):
    mobile = text_param(params, "mobile", required=True, allow_list=True)
    pieces = phone.split_numbers(mobile)
    if len(pieces) > MAX_NUMBERS:
        raise ApiError("ERR007", f"Too many numbers: {len(pieces)} in one request; at most {MAX_NUMBERS}.")
    if not pieces:
        raise ApiError("ERR002", "A required parameter is missing: mobile.")
    return pieces


def validate(account, params):
    """OK: valid and routable; ER: not a valid mobile number; NR: valid, country not activated."""
    found = {"OK": [], "ER": [], "NR": []}
    seen = set()
    account_coverage = coverage_for(account)
    for raw in _numbers(params):
        checked = phone.parse_mobile(raw)
        if not checked.ok:
            kind, value = "ER", raw
        else:
            value = checked.number
            kind = "OK" if account_coverage.points_per_page(value) is not None else "NR"
        if (kind, value) not in seen:
            seen.add((kind, value))
            found[kind].append(value)
    return {"result": "OK", "mobile": found}


def send(account, params):
    sender = text_param(params, "sender", required=True)
    numbers = _numbers(params)
    text = text_param(params, "message")
    if text is None:
        raise ApiError("ERR002", "A required parameter is missing: message.")
    test = _flag(text_param(params, "test"))
    try:
        result = messages.send_message(account, sender=sender.strip(), text=text, numbers=numbers, test=test,
                                       source=Message.API, repeat_guard=True)
    except messages.SendRefused as refused:
        raise ApiError(refused.code, english(refused.message) or None)
    message = result.message
    return {"result": "OK", "msg-id": message.msg_id, "numbers": result.quote.count,
            "points-charged": message.points, "balance-after": result.balance_after,
            "unix-timestamp": kuwait_timestamp(message.created_at)}


# --- after the send ---------------------------------------------------------------------

PENDING = (Recipient.QUEUED, Recipient.SUBMITTING, Recipient.SENT)
WIRE_STATUS = {  # a recipient's state as kwtSMS names delivery states
    Recipient.DELIVERED: "DELIVERED", Recipient.REJECTED: "REJECTED",
    Recipient.FAILED: "FAILED", Recipient.EXPIRED: "FAILED", Recipient.CANCELLED: "FAILED",
    Recipient.QUEUED: "PENDING", Recipient.SUBMITTING: "PENDING", Recipient.SENT: "PENDING",
}


def wire_status(state):
    return WIRE_STATUS.get(state, "PENDING")


def _message(account, params, missing_code):
    msg_id = text_param(params, "msgid", required=True).strip().lower()
    message = None
    if MSG_ID.fullmatch(msg_id):
        message = Message.get_or_none(Message.msg_id == msg_id, Message.account == account.id)
    if message is None:
        raise ApiError(missing_code)
    return message


def _is_stuck(message, counts, now):
    """Accepted long ago but never handed to the dispatch workers, or held back by an error."""
    if message.status not in (Message.QUEUED, Message.SENDING):
        return False
    waiting_since = message.scheduled_at or message.created_at
    if now - waiting_since < STUCK_AFTER:
        return False
    if message.enqueued_at is None:
        return True
    return (Recipient.select().where(Recipient.message == message.id, Recipient.status == Recipient.QUEUED,
                                     Recipient.error != "").exists())


def _summary(counts):
    total = sum(counts.values())
    pending = sum(counts.get(s, 0) for s in PENDING)
    failed = sum(counts.get(s, 0) for s in (Recipient.FAILED, Recipient.REJECTED, Recipient.EXPIRED))
    return (f"{total} numbers: {counts.get(Recipient.DELIVERED, 0)} delivered, {failed} failed, "
            f"{counts.get(Recipient.CANCELLED, 0)} cancelled, {pending} pending.")


def status(account, params):
    message = _message(account, params, "ERR029")
    if message.is_test:
        return {"result": "OK", "status": "test",
                "description": "Test message: validated and priced, never sent; no points were charged."}
    if message.status == Message.SCHEDULED:
        return {"result": "OK", "status": "scheduled", "description": "Scheduled: it is sent at the chosen time."}
    counts = messages.status_counts(message)
    if _is_stuck(message, counts, utcnow()):
        raise ApiError("ERR030")
    total = sum(counts.values())
    waiting = counts.get(Recipient.QUEUED, 0) + counts.get(Recipient.SUBMITTING, 0)
    delivered = counts.get(Recipient.DELIVERED, 0)
    cancelled = counts.get(Recipient.CANCELLED, 0)
    if waiting:
        state = "queued" if waiting == total else "sending"
    elif counts.get(Recipient.SENT, 0):
        state = "sent"
    elif delivered == total:
        state = "delivered"
    elif cancelled == total:
        state = "cancelled"
    elif delivered == 0:
        state = "failed"
    else:
        state = "done"
    return {"result": "OK", "status": state, "description": _summary(counts)}


def _report_rows(message):
    """(mobile, state, updated_at) of every recipient, or the reason there is no report."""
    if message.is_test:
        raise ApiError("ERR019", "No delivery reports for this message: test messages are never sent.")
    rows = list(Recipient.select(Recipient.mobile, Recipient.status, Recipient.updated_at)
                .where(Recipient.message == message.id).order_by(Recipient.id).tuples())
    if not rows:
        raise ApiError("ERR023")
    states = {state for _, state, _ in rows}
    if states <= {Recipient.CANCELLED}:
        raise ApiError("ERR019", "No delivery reports for this message: it was cancelled before it was sent.")
    if states <= {Recipient.QUEUED, Recipient.SUBMITTING, Recipient.CANCELLED}:
        raise ApiError("ERR021")
    if states <= {Recipient.SENT, Recipient.QUEUED, Recipient.SUBMITTING, Recipient.CANCELLED}:
        raise ApiError("ERR022")
    if not states <= set(WIRE_STATUS):
        raise ApiError("ERR023")
    return rows


def dlr(account, params):
    message = _message(account, params, "ERR020")
    return {"result": "OK", "report": [{"Number": mobile, "Status": wire_status(state)}
                                       for mobile, state, _ in _report_rows(message)]}


def report(account, params):
    """One status for the whole message: PENDING while any number waits, else
    DELIVERED when any was delivered, REJECTED when all were rejected, else FAILED."""
    message = _message(account, params, "ERR020")
    if message.is_test:
        raise ApiError("ERR019", "No delivery reports for this message: test messages are never sent.")
    counts = messages.status_counts(message)
    if not counts:
        raise ApiError("ERR023")
    pending = sum(counts.get(s, 0) for s in PENDING)
    delivered = counts.get(Recipient.DELIVERED, 0)
    delivered_at = None
    if pending:
        state = "PENDING"
    elif delivered:
        state = "DELIVERED"
        last = (Recipient.select(Recipient.updated_at)
                .where(Recipient.message == message.id, Recipient.status == Recipient.DELIVERED)
                .order_by(Recipient.updated_at.desc()).limit(1).scalar())
        delivered_at = kuwait_timestamp(last)
    elif counts.get(Recipient.REJECTED, 0) == sum(counts.values()):
        state = "REJECTED"
    else:
        state = "FAILED"
    return {"result": "OK", "msg-id": message.msg_id, "status": state, "delivered-at": delivered_at,
            "numbers": sum(counts.values()), "delivered": delivered, "pending": pending,
            "description": _summary(counts)}


ENDPOINTS = {
    "balance": balance, "senderid": senderid, "coverage": coverage, "validate": validate,
    "send": send, "status": status, "dlr": dlr, "report": report,
}


def call(endpoint, params, remote_address):
    """Authenticate, then answer one endpoint. Raises ApiError for every refusal."""
    handler = ENDPOINTS.get(endpoint)
    if handler is None:
        raise ApiError("ERR404", f"Unknown endpoint {endpoint!r}. Endpoints: {', '.join(ENDPOINTS)}.", 404)
    account = authenticate(params, remote_address)
    return handler(account, params)
