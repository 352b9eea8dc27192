"""Sender IDs: the naming rules, names that belong to others, the approval
workflow, the account's own mobile number as a sender, and the one question
the composer and the API ask: may this account send as X to these numbers?

Look-alike matching (`blocked_match`)
-------------------------------------
Both the candidate and every blocked name are reduced to a *look-alike key*:
NFKC, casefold, then 0->o, 1/l/i/!/|->i, 2->z, 3->e, 4/@->a, 5/$->s, 7->t,
8->b, 9->g, and everything that is not a letter or digit dropped. So `Z4IN`,
`zain` and `Z.A.I.N` all become `zain`, and `N.B.K` becomes `nbk`.

The candidate is also split into words at its separators (space - . &). A
blocked name matches when its key equals:

1. the key of the whole candidate (`Z4IN`, `N.B.K`, `Gulf-Bank`);
2. the key of one or more consecutive words (`NBK-KW`, `KW NBK`, `MY GULF BANK`);
3. either of those with a common affix glued on: KW, KWT, Q8, KUWAIT, SMS,
   OTP, INFO, ALERT(S), BANK, GROUP, APP, ONLINE, PAY, MSG (`NBKKW`, `KFHONLINE`);
4. for blocked names whose key has 5 or more characters only, the start or
   the end of the whole candidate (`OOREDOOKW`, `MYBOUBYAN`).

Short names (2-4 characters, most of the list: NBK, KFH, MOI, ZAIN ...) are
never matched as a bare substring, because too many ordinary names start with
them: `ABKARY TRADING`, `ZAINAB`, `MOHAMMED` and `STCAFE` stay allowed. The
cost: `NBK2024` or `XNBKX` pass the automatic check; every request still goes
to a person for approval. The rule for long names does block a few innocent
names (`VIRGINIA`); the operator can approve those with an override.
"""
import datetime
import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from peewee import IntegrityError, fn
from werkzeug.security import check_password_hash, generate_password_hash

from ..admin.service import audit
from ..db import db, fetch_model
from ..errors import FieldErrors
from ..models import Account, BlockedName, MobileVerification, SenderId, utcnow

log = logging.getLogger("kwtsms.sms")

SHARED_SENDER = "KWT-SMS"  # every account may send as it, for testing
KUWAIT_PREFIX = "965"
MAX_NAME_LENGTH = 11
MAX_NUMERIC_LENGTH = 15
MAX_OPEN_REQUESTS = 20  # waiting for approval at once, per account

CODE_MINUTES = 10
CODE_ATTEMPTS = 5
CODE_RESEND_SECONDS = 60
CODES_PER_DAY = 5

_SEPARATORS = "-.& "
_NAME_CHARACTERS = re.compile(r"[A-Za-z0-9\-.& ]+")
_WORD_SPLIT = re.compile(r"[\s\-.&_/,+]+")

KIND_LABELS = {
    SenderId.PROMOTIONAL: _l("Promotional"),
    SenderId.TRANSACTIONAL: _l("Transactional"),
}
KIND_HELP = {
    SenderId.PROMOTIONAL: _l("Marketing and offers. Carriers filter it: subscribers who asked for "
                             "no advertising (do-not-disturb) do not receive it."),
    SenderId.TRANSACTIONAL: _l("One-time codes, alerts, reminders and receipts. It reaches every "
                               "subscriber; do not use it for marketing."),
}
STATUS_LABELS = {
    SenderId.REQUESTED: _l("Waiting for approval"),
    SenderId.APPROVED: _l("Approved"),
    SenderId.REJECTED: _l("Rejected"),
    SenderId.SUSPENDED: _l("Suspended"),
}
CATEGORY_LABELS = {
    BlockedName.CARRIER: _l("a mobile carrier"),
    BlockedName.BANK: _l("a bank"),
    BlockedName.GOVERNMENT: _l("a ministry or public authority"),
    BlockedName.BRAND: _l("a well-known company"),
}


# --- Look-alikes -----------------------------------------------------------------

_LOOKALIKES = str.maketrans({
    "0": "o", "1": "i", "l": "i", "!": "i", "|": "i", "2": "z", "3": "e", "4": "a", "@": "a",
    "5": "s", "$": "s", "7": "t", "8": "b", "9": "g",
})
_NOT_KEY = re.compile(r"[^a-z0-9]+")
_LONG_NAME = 5  # keys this long also match the start or end of a glued-together name


def lookalike_key(text):
    """`Z4IN` -> `zain`, `N.B.K` -> `nbk`: the form in which names are compared."""
    text = unicodedata.normalize("NFKC", text or "").casefold().translate(_LOOKALIKES)
    return _NOT_KEY.sub("", text)


_AFFIXES = frozenset(lookalike_key(a) for a in (
    "KW", "KWT", "Q8", "KUWAIT", "SMS", "OTP", "INFO", "ALERT", "ALERTS", "BANK", "GROUP",
    "APP", "ONLINE", "PAY", "MSG"))


def _word_runs(name):
    """Keys of every run of consecutive words: "MY GULF BANK" -> my, myguifbank, guif, ..."""
    words = [key for key in (lookalike_key(w) for w in _WORD_SPLIT.split(name)) if key]
    for start in range(len(words)):
        joined = ""
        for word in words[start:]:
            joined += word
            yield joined


def _matches(blocked_key, whole_key, runs):
    if not blocked_key:
        return False
    for run in runs:
        if run == blocked_key:
            return True
        if run.startswith(blocked_key) and run[len(blocked_key):] in _AFFIXES:
            return True
        if run.endswith(blocked_key) and run[:-len(blocked_key)] in _AFFIXES:
            return True
    return len(blocked_key) >= _LONG_NAME and (whole_key.startswith(blocked_key)
                                               or whole_key.endswith(blocked_key))


def blocked_match(name, blocked_names=None):
    """The BlockedName that `name` imitates, or None (see the module docstring)."""
    whole = lookalike_key(name)
    if not whole:
        return None
    runs = set(_word_runs(name)) | {whole}
    candidates = blocked_names if blocked_names is not None else BlockedName.select().order_by(BlockedName.id)
    for blocked in candidates:
        if _matches(blocked.normalized, whole, runs):
            return blocked
    return None


# --- Naming rules ------------------------------------------------------------------

def _is_arabic_letter(ch):
    return ch.isalpha() and unicodedata.name(ch, "").startswith("ARABIC")


def name_problem(name):
    """Why `name` breaks the spelling rules of a sender ID, or None.

    Digits-only names pass here; whether they are the account's own mobile
    number is for validate_sender_name().
    """
    if not name:
        return _l("Enter a sender ID.")
    if any(_is_arabic_letter(ch) for ch in name):
        return _l("Arabic letters cannot be used in a sender ID; use English letters (A-Z) and digits.")
    if not _NAME_CHARACTERS.fullmatch(name):
        odd = "".join(dict.fromkeys(ch for ch in name if not _NAME_CHARACTERS.fullmatch(ch)))
        return _l("These characters cannot be used in a sender ID: %(chars)s. Use English letters, "
                  "digits, and - . & or a space inside the name.", chars=odd)
    if name[0] in _SEPARATORS or name[-1] in _SEPARATORS:
        return _l("A sender ID cannot start or end with a dash, dot, ampersand or space.")
    if name.isdigit():
        if len(name) > MAX_NUMERIC_LENGTH:
            return _l("A mobile number has at most %(max)d digits; this has %(n)d.",
                      max=MAX_NUMERIC_LENGTH, n=len(name))
        return None
    if len(name) > MAX_NAME_LENGTH:
        return _l("A sender ID has at most %(max)d characters; this one has %(n)d.",
                  max=MAX_NAME_LENGTH, n=len(name))
    if not any(ch.isalpha() for ch in name):
        return _l("A sender ID needs at least one letter. Only your own mobile number may be all digits.")
    return None


def mobile_is_verified(account):
    """The account confirmed its current mobile number with a one-time code."""
    return bool(account.mobile and account.mobile_verified_at
                and account.mobile_verified_number == account.mobile)


def blocked_reason(name, blocked):
    return _l("\"%(name)s\" is too close to %(blocked)s, a name that belongs to %(owner)s. Only its "
              "owner may use it; contact support if that is you.",
              name=name, blocked=blocked.name, owner=CATEGORY_LABELS.get(blocked.category, CATEGORY_LABELS["brand"]))


def validate_sender_name(account, name, *, check_blocked=True):
    """(name, is_mobile) when `account` may ask for `name`, else FieldErrors on "name"."""
    name = name or ""
    if problem := name_problem(name):
        raise FieldErrors.single("name", problem)
    if name.isdigit():
        if not account.mobile or name != account.mobile:
            if account.mobile:
                raise FieldErrors.single("name", _l(
                    "A sender ID of digits only must be your own registered mobile number, %(mobile)s, "
                    "written with the country code.", mobile=account.mobile))
            raise FieldErrors.single("name", _l(
                "A sender ID of digits only must be your own registered mobile number, and your "
                "account has none."))
        if not mobile_is_verified(account):
            raise FieldErrors.single("name", _l(
                "Confirm your mobile number first: we send a one-time code to it."))
        return name, True
    if lookalike_key(name) == lookalike_key(SHARED_SENDER):
        raise FieldErrors.single("name", _l(
            "%(sender)s is the shared test sender; every account has it already.", sender=SHARED_SENDER))
    if check_blocked and (blocked := blocked_match(name)):
        raise FieldErrors.single("name", blocked_reason(name, blocked))
    return name, False


def _check_kind(kind):
    if kind not in SenderId.KINDS:
        raise FieldErrors.single("kind", _l("Choose promotional or transactional."))


# --- The customer's requests ----------------------------------------------------------

def request_sender(account, name, kind, purpose=""):
    """Ask for a sender ID. A name (letters) waits for an operator; the account's own
    verified mobile number is approved at once, since the code proved it is theirs."""
    name = (name or "").strip()
    name, is_mobile = validate_sender_name(account, name)
    _check_kind(kind)
    purpose = (purpose or "").strip()[:300]
    status = SenderId.APPROVED if is_mobile else SenderId.REQUESTED
    existing = SenderId.get_or_none(SenderId.account == account.id, SenderId.name == name)
    if existing is not None and existing.status != SenderId.REJECTED:
        raise FieldErrors.single("name", _l("You already have the sender ID %(name)s (%(status)s).",
                                            name=name, status=STATUS_LABELS[existing.status]))
    open_requests = SenderId.select().where(SenderId.account == account.id,
                                            SenderId.status == SenderId.REQUESTED).count()
    if not is_mobile and open_requests >= MAX_OPEN_REQUESTS:
        raise FieldErrors.single("name", _l(
            "You have %(n)d sender IDs waiting for approval; wait for them before asking for more.",
            n=open_requests))
    try:
        with db.atomic():
            if existing is not None:  # asking again after a rejection
                (SenderId.update(status=status, kind=kind, purpose=purpose, status_reason="",
                                 reviewed_by=None, reviewed_at=None, created_at=utcnow())
                 .where(SenderId.id == existing.id, SenderId.status == SenderId.REJECTED).execute())
                sender = SenderId.get_by_id(existing.id)
            else:
                sender = SenderId.create(account=account.id, name=name, kind=kind, status=status,
                                         is_mobile=is_mobile, purpose=purpose,
                                         reviewed_at=utcnow() if is_mobile else None)
            audit(account, "sender.requested", account, name=name, kind=kind)
            if is_mobile:
                audit(None, "sender.approved", account, name=name, automatic="mobile number verified")
    except IntegrityError:  # the same request twice at once
        raise FieldErrors.single("name", _l("You already have the sender ID %(name)s.", name=name))
    return sender


def withdraw_sender(account, sender):
    """The customer removes a sender ID (not a suspended one: that stays on record)."""
    if sender.account_id != account.id:
        raise ValueError("sender ID of another account")
    if sender.status == SenderId.SUSPENDED:
        raise FieldErrors.single("status", _l("A suspended sender ID cannot be deleted; contact support."))
    with db.atomic():
        SenderId.delete().where(SenderId.id == sender.id, SenderId.status != SenderId.SUSPENDED).execute()
        audit(account, "sender.withdrawn", account, name=sender.name, status=sender.status)


# --- The operator's decisions ----------------------------------------------------------

def _transition(admin, sender, source, target, action, reason="", **details):
    with db.atomic():
        changed = (SenderId.update(status=target, status_reason=reason[:500], reviewed_by=admin.id,
                                   reviewed_at=utcnow())
                   .where(SenderId.id == sender.id, SenderId.status == source).execute())
        if changed != 1:
            current = SenderId.get_or_none(SenderId.id == sender.id)
            status = STATUS_LABELS[current.status] if current else _l("deleted")
            raise FieldErrors.single("status", _l("This sender ID changed meanwhile; it is now: %(status)s.",
                                                  status=status))
        if reason:
            details["reason"] = reason
        audit(admin, action, sender.account, name=sender.name, sender_id=sender.id, **details)
    return SenderId.get_by_id(sender.id)


def _require_override(name, override, override_reason, *, is_mobile=False):
    """The blocked name `name` matches, after checking the operator overrode it on purpose."""
    blocked = None if is_mobile else blocked_match(name)
    if blocked is None:
        return None, ""
    reason = (override_reason or "").strip()
    if not override:
        raise FieldErrors.single("override", _l(
            "%(name)s matches the blocked name %(blocked)s. Tick the override and say why this "
            "account may use it.", name=name, blocked=blocked.name))
    if not reason:
        raise FieldErrors.single("override_reason", _l(
            "Say why this account may use a blocked name, for example the document that proves it owns it."))
    return blocked, reason


def approve_sender(admin, sender, *, override=False, override_reason=""):
    """Approve a request. A name on the blocked list needs an explicit, audited override."""
    blocked, reason = _require_override(sender.name, override, override_reason, is_mobile=sender.is_mobile)
    if blocked is None:
        return _transition(admin, sender, SenderId.REQUESTED, SenderId.APPROVED, "sender.approved")
    return _transition(admin, sender, SenderId.REQUESTED, SenderId.APPROVED, "sender.approved_override",
                       blocked=blocked.name, override_reason=reason)


def reject_sender(admin, sender, reason):
    reason = (reason or "").strip()
    if not reason:
        raise FieldErrors.single("reason", _l("Say why it is rejected; the customer sees the reason."))
    return _transition(admin, sender, SenderId.REQUESTED, SenderId.REJECTED, "sender.rejected", reason)


def suspend_sender(admin, sender, reason):
    reason = (reason or "").strip()
    if not reason:
        raise FieldErrors.single("reason", _l("Say why it is suspended; the customer sees the reason."))
    return _transition(admin, sender, SenderId.APPROVED, SenderId.SUSPENDED, "sender.suspended", reason)


def reinstate_sender(admin, sender):
    return _transition(admin, sender, SenderId.SUSPENDED, SenderId.APPROVED, "sender.reinstated")


def grant_sender(admin, account, name, kind, *, override=False, override_reason=""):
    """The operator gives an account an approved sender ID directly, e.g. a bank its
    own name; a blocked name needs the override like an approval does."""
    name = (name or "").strip()
    name, is_mobile = validate_sender_name(account, name, check_blocked=False)
    _check_kind(kind)
    blocked, reason = _require_override(name, override, override_reason, is_mobile=is_mobile)
    if SenderId.select().where(SenderId.account == account.id, SenderId.name == name).exists():
        raise FieldErrors.single("name", _l("This account already has the sender ID %(name)s.", name=name))
    details = {"blocked": blocked.name, "override_reason": reason} if blocked else {}
    try:
        with db.atomic():
            sender = SenderId.create(account=account.id, name=name, kind=kind, status=SenderId.APPROVED,
                                     is_mobile=is_mobile, reviewed_by=admin.id, reviewed_at=utcnow())
            audit(admin, "sender.granted_override" if blocked else "sender.granted", account,
                  name=name, kind=kind, sender_id=sender.id, **details)
    except IntegrityError:
        raise FieldErrors.single("name", _l("This account already has the sender ID %(name)s.", name=name))
    return sender


def search_senders(query="", status=""):
    """The operator's list: newest first, by status and by name or account."""
    senders = (SenderId.select(SenderId, Account).join(Account, on=(SenderId.account == Account.id))
               .order_by(SenderId.id.desc()))
    if status in SenderId.STATUSES:
        senders = senders.where(SenderId.status == status)
    query = (query or "").strip()
    if query:
        like = f"%{query.lower()}%"
        senders = senders.where((fn.LOWER(SenderId.name) ** like) | (fn.LOWER(Account.email) ** like)
                                | (fn.LOWER(Account.company) ** like))
    return senders


# --- The blocked list -------------------------------------------------------------------

def add_blocked_name(admin, name, category):
    name = (name or "").strip()
    key = lookalike_key(name)
    if not name or not key:
        raise FieldErrors.single("name", _l("Enter a name with at least one letter or digit."))
    if len(name) > 40 or len(key) > 40:
        raise FieldErrors.single("name", _l("At most 40 characters."))
    if len(key) < 2:
        raise FieldErrors.single("name", _l("A blocked name needs at least two letters or digits."))
    if category not in BlockedName.CATEGORIES:
        raise FieldErrors.single("category", _l("Choose whose name it is."))
    existing = BlockedName.get_or_none(BlockedName.normalized == key)
    if existing is not None:
        raise FieldErrors.single("name", _l("Already blocked as %(name)s.", name=existing.name))
    try:
        with db.atomic():
            blocked = BlockedName.create(name=name, normalized=key, category=category)
            audit(admin, "blocked_name.added", None, name=name, category=category)
    except IntegrityError:
        raise FieldErrors.single("name", _l("Already blocked as %(name)s.", name=name))
    return blocked


def remove_blocked_name(admin, blocked):
    with db.atomic():
        BlockedName.delete().where(BlockedName.id == blocked.id).execute()
        audit(admin, "blocked_name.removed", None, name=blocked.name, category=blocked.category)


# --- The account's own mobile number -------------------------------------------------------

def _deliver_code(number, code):
    # Until SMS sending exists the code goes to the log, like the password-reset mail.
    log.warning("SMS sending is not set up yet; message to %s not sent:\n"
                "Your kwtsms confirmation code is %s. It expires in %d minutes.", number, code, CODE_MINUTES)


def start_mobile_verification(account, now=None):
    """Send a new one-time code to the account's mobile (the older ones stop working)."""
    now = now or utcnow()
    if not account.mobile:
        raise FieldErrors.single("code", _l("Your account has no mobile number to confirm."))
    if mobile_is_verified(account):
        raise FieldErrors.single("code", _l("Your mobile number is already confirmed."))
    recent = (MobileVerification.select().where(MobileVerification.account == account.id,
                                                MobileVerification.created_at > now - datetime.timedelta(days=1))
              .order_by(MobileVerification.id.desc()))
    latest = recent.first()
    if latest is not None and latest.created_at > now - datetime.timedelta(seconds=CODE_RESEND_SECONDS):
        raise FieldErrors.single("code", _l("A code was sent less than a minute ago. Wait a moment, then ask again."))
    if recent.count() >= CODES_PER_DAY:
        raise FieldErrors.single("code", _l("Too many codes today. Try again tomorrow or contact support."))
    code = f"{secrets.randbelow(10 ** 6):06d}"
    with db.atomic():
        (MobileVerification.update(used_at=now)
         .where(MobileVerification.account == account.id, MobileVerification.used_at.is_null()).execute())
        MobileVerification.create(account=account.id, number=account.mobile, code_hash=generate_password_hash(code),
                                  expires_at=now + datetime.timedelta(minutes=CODE_MINUTES), created_at=now)
    _deliver_code(account.mobile, code)
    return code


def _clean_code(code):
    digits = "".join(str(unicodedata.decimal(ch)) for ch in (code or "") if unicodedata.decimal(ch, None) is not None)
    return digits


def verify_mobile(account, code, now=None):
    """Check a code; on success the account's current mobile number is verified."""
    now = now or utcnow()
    row = (MobileVerification.select().where(MobileVerification.account == account.id,
                                             MobileVerification.used_at.is_null())
           .order_by(MobileVerification.id.desc()).first())
    if row is None or row.number != account.mobile:
        raise FieldErrors.single("code", _l("Ask for a code first."))
    if row.expires_at < now:
        raise FieldErrors.single("code", _l("This code has expired. Ask for a new one."))
    # Count the attempt before checking it, so parallel guesses cannot exceed the limit.
    counted = (MobileVerification.update(attempts=MobileVerification.attempts + 1)
               .where(MobileVerification.id == row.id, MobileVerification.attempts < CODE_ATTEMPTS,
                      MobileVerification.used_at.is_null()).execute())
    if counted != 1:
        raise FieldErrors.single("code", _l("Too many wrong codes. Ask for a new one."))
    if not check_password_hash(row.code_hash, _clean_code(code)):
        left = CODE_ATTEMPTS - row.attempts - 1
        if left <= 0:
            raise FieldErrors.single("code", _l("Too many wrong codes. Ask for a new one."))
        raise FieldErrors.single("code", _l("This is not the code we sent. %(n)d attempts left.", n=left))
    with db.atomic():
        claimed = (MobileVerification.update(used_at=now)
                   .where(MobileVerification.id == row.id, MobileVerification.used_at.is_null()).execute())
        if claimed != 1:
            raise FieldErrors.single("code", _l("Ask for a code first."))
        Account.update(mobile_verified_number=row.number, mobile_verified_at=now).where(
            Account.id == account.id).execute()
        audit(account, "mobile.verified", account, number=row.number)
    return Account.get_by_id(account.id)


# --- What the composer and the API ask -------------------------------------------------------

@dataclass(frozen=True)
class SenderDecision:
    """The answer to "may this account send as `sender` to these numbers"; truthy when allowed."""

    sender: str
    allowed: bool
    reason: object = None  # why not (a lazy string in the user's language), None when allowed
    code: str | None = None  # the API error code for a refusal (ERR008)
    sender_id: SenderId | None = None  # None for the shared sender

    def __bool__(self):
        return self.allowed

    @property
    def is_shared(self):
        return self.allowed and self.sender_id is None


def _refused(sender, reason, row=None):
    return SenderDecision(sender=sender, allowed=False, reason=reason, code="ERR008", sender_id=row)


def is_kuwait_number(number):
    return str(number).startswith(KUWAIT_PREFIX)


def check_sender(account, sender, destination_numbers=()):
    """May `account` send as `sender` (exact, case-sensitive) to `destination_numbers`
    (digits with country code, as kwtsms.phone.parse_mobile gives them)?

    KWT-SMS always; an approved sender ID of the account; its verified mobile
    number (an approved numeric sender ID) only when no number is in Kuwait:
    messages to Kuwait need a registered name.
    """
    sender = sender if isinstance(sender, str) else ""
    if sender == SHARED_SENDER:
        return SenderDecision(sender=sender, allowed=True)
    # Raw SQL (kwtsms.db.fetch_model): every API send asks this.
    row = fetch_model(SenderId, "account_id = ? AND name = ?", (account.id, sender)) if sender else None
    if row is None:
        return _refused(sender, _l("%(sender)s is not a sender ID of this account. Sender IDs are case "
                                   "sensitive.", sender=sender or "''"))
    if row.status == SenderId.REQUESTED:
        return _refused(sender, _l("%(sender)s is still waiting for approval.", sender=sender), row)
    if row.status == SenderId.REJECTED:
        return _refused(sender, _l("%(sender)s was rejected: %(reason)s", sender=sender,
                                   reason=row.status_reason), row)
    if row.status == SenderId.SUSPENDED:
        return _refused(sender, _l("%(sender)s is suspended: %(reason)s", sender=sender,
                                   reason=row.status_reason), row)
    if row.is_mobile:
        fresh = Account.get_by_id(account.id)
        if not mobile_is_verified(fresh) or fresh.mobile != row.name:
            return _refused(sender, _l("%(sender)s is no longer your confirmed mobile number.", sender=sender), row)
        if any(is_kuwait_number(number) for number in destination_numbers):
            return _refused(sender, _l(
                "Messages to Kuwait numbers need an approved sender ID name or %(shared)s; your mobile "
                "number can be the sender only for other countries.", shared=SHARED_SENDER), row)
    return SenderDecision(sender=sender, allowed=True, sender_id=row)


def approved_sender_ids(account):
    """The account's approved SenderId rows (the shared sender is not a row)."""
    return list(SenderId.select().where(SenderId.account == account.id, SenderId.status == SenderId.APPROVED)
                .order_by(SenderId.is_mobile, SenderId.name))


def senders_for(account, destination_numbers=None):
    """Sender IDs the account may use: KWT-SMS first, then its approved IDs. Given the
    destination numbers, only those check_sender() would allow for them."""
    names = [SHARED_SENDER]
    for row in approved_sender_ids(account):
        if row.is_mobile and (not mobile_is_verified(account) or row.name != account.mobile):
            continue
        if row.is_mobile and destination_numbers is not None and any(
                is_kuwait_number(n) for n in destination_numbers):
            continue
        names.append(row.name)
    return names


def blocked_matches(senders):
    """{sender id: BlockedName} for the senders (rows of a list page) that match one."""
    blocked = list(BlockedName.select())
    return {s.id: m for s in senders if not s.is_mobile and (m := blocked_match(s.name, blocked))}
