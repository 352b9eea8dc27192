"""Support: complaints about undelivered messages, general tickets, their thread
of replies and attachments, the unread badge, refunds from a complaint, and the
dispatch trail support reads. Plain functions; views and tests call them.

A ticket is `open` while it waits for support, `answered` once support replied,
`closed` when either side closed it; a reply from either party reopens it.
Foreign tickets, messages and files raise NotAParty, which views answer with 404.
"""
import datetime
import logging
import os
import smtplib
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app, has_request_context, render_template, url_for
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from peewee import JOIN, Case, fn

from .. import ledger
from ..admin.service import audit
from ..db import db, for_update
from ..errors import FieldErrors
from ..mail import send_mail
from ..models import (Account, Attachment, ComplaintRecipient, Message, Recipient, Ticket, TicketRead, TicketReply,
                      utcnow)

log = logging.getLogger("kwtsms.support")

MAX_BODY = 5000
MAX_SUBJECT = 200
MAX_NUMBERS = 100  # numbers one complaint may list
ATTACHMENTS_PER_POST = 5
# Recipients support may refund from a complaint: final states that did not refund themselves.
REFUNDABLE = (Recipient.DELIVERED, Recipient.FAILED, Recipient.REJECTED, Recipient.EXPIRED, Recipient.CANCELLED)

KIND_LABELS = {
    Ticket.COMPLAINT: _l("Undelivered message"),
    Ticket.BILLING: _l("Billing and credit"),
    Ticket.SENDER_ID: _l("Sender ID"),
    Ticket.OTHER: _l("Something else"),
}
STATUS_LABELS = {
    Ticket.OPEN: _l("Waiting for support"),
    Ticket.ANSWERED: _l("Answered"),
    Ticket.CLOSED: _l("Closed"),
}
AGE_FILTERS = {  # inbox filter: opened more than this long ago
    "1d": datetime.timedelta(days=1),
    "3d": datetime.timedelta(days=3),
    "7d": datetime.timedelta(days=7),
}
AGE_LABELS = {"1d": _l("Older than a day"), "3d": _l("Older than 3 days"), "7d": _l("Older than a week")}


class NotAParty(LookupError):
    """The ticket, message, recipient or file is not the caller's (views: 404)."""


def is_party(account, ticket):
    return account is not None and (account.is_admin or ticket.account_id == account.id)


def _config(name, default):
    return current_app.config.get(name, default)


# --- complaints: the window and the facts --------------------------------------------

def complaint_window():
    return datetime.timedelta(hours=_config("COMPLAINT_WINDOW_HOURS", 24))


def sent_at(message):
    """When the message went out: its scheduled time, or when it was accepted."""
    return message.scheduled_at or message.created_at


@dataclass
class Eligibility:
    allowed: bool
    reason: str = ""
    deadline: datetime.datetime | None = None


def complaint_eligibility(message, now=None):
    """Whether a problem with `message` may still be reported, and if not, why."""
    now = now or utcnow()
    if message.is_test:
        return Eligibility(False, _l("This was a test: nothing was sent to the carrier, so there is nothing to report."))
    if message.status == Message.SCHEDULED:
        return Eligibility(False, _l("This message is scheduled and has not been sent yet."))
    hours = _config("COMPLAINT_WINDOW_HOURS", 24)
    deadline = sent_at(message) + complaint_window()
    if now > deadline:
        return Eligibility(False, _l(
            "Problems with a message can be reported within %(hours)d hours of sending it, while the carrier "
            "still has its records. This message was sent more than %(hours)d hours ago, so it can no longer "
            "be reported. For anything else, open a ticket from the Support page.", hours=hours), deadline)
    return Eligibility(True, deadline=deadline)


def complaint_facts(account, message):
    """What a complaint is prefilled with: who sent what, from which sender, when."""
    return {
        "contact_name": account.contact_name,
        "contact_mobile": account.mobile or "",
        "msg_id": message.msg_id,
        "sender": message.sender,
        "sent_at": sent_at(message),
        "message_text": message.text,
    }


def complaint_candidates(message, recipient_id=None, limit=MAX_NUMBERS):
    """The numbers a complaint starts with: the one recipient asked for, else the
    ones not delivered (or every one, when all say delivered), at most `limit`."""
    recipients = Recipient.select().where(Recipient.message == message.id).order_by(Recipient.id)
    if recipient_id is not None:
        return list(recipients.where(Recipient.id == recipient_id))
    rows = list(recipients.where(Recipient.status != Recipient.DELIVERED).limit(limit))
    return rows or list(recipients.limit(limit))


# --- attachments ---------------------------------------------------------------------

# What a file's first bytes say it is -> (content type, label, extensions its name may end in).
FILE_KINDS = {
    "png": ("image/png", "PNG", (".png",)),
    "jpeg": ("image/jpeg", "JPEG", (".jpg", ".jpeg")),
    "gif": ("image/gif", "GIF", (".gif",)),
    "webp": ("image/webp", "WebP", (".webp",)),
    "pdf": ("application/pdf", "PDF", (".pdf",)),
}


def sniff(head):
    """The kind of file its first bytes show (a FILE_KINDS key), or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"%PDF-"):
        return "pdf"
    return None


def _display_name(name):
    name = str(name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip() or "attachment"
    if len(name) > 200:
        stem, ext = os.path.splitext(name)
        name = stem[:200 - len(ext[:20])] + ext[:20]
    return name


def attachment_dir():
    return Path(_config("ATTACHMENT_DIR", "instance/attachments"))


def attachment_path(attachment):
    return attachment_dir() / attachment.stored_name


class PendingUploads:
    """Checked files waiting in the attachment directory until their post is saved."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.items = []  # dicts: temp, stored_name, filename, content_type, size
        self.placed = []

    def add(self, name, stream, max_bytes):
        filename = _display_name(name)
        self.directory.mkdir(parents=True, exist_ok=True)
        stored_name = uuid.uuid4().hex
        temp = self.directory / f"{stored_name}.part"
        size, head = 0, b""
        try:
            with open(temp, "wb") as out:
                while chunk := stream.read(256 * 1024):
                    size += len(chunk)
                    if size > max_bytes:
                        raise FieldErrors.single("attachments", _l(
                            "%(name)s is larger than %(mb)d MB. Attach a smaller file.",
                            name=filename, mb=max_bytes // (1024 * 1024)))
                    if len(head) < 16:
                        head += chunk[:16 - len(head)]
                    out.write(chunk)
            if size == 0:
                raise FieldErrors.single("attachments", _l("%(name)s is empty.", name=filename))
            kind = sniff(head)
            if kind is None:
                raise FieldErrors.single("attachments", _l(
                    "%(name)s cannot be attached: only images (PNG, JPEG, GIF, WebP) and PDF documents are "
                    "accepted, and its content is none of these.", name=filename))
            content_type, label, extensions = FILE_KINDS[kind]
            extension = os.path.splitext(filename)[1].lower()
            if extension not in extensions:
                raise FieldErrors.single("attachments", _l(
                    "%(name)s is a %(kind)s file, but its name does not end in %(ext)s. Rename it so that the "
                    "name matches what it is, then attach it again.", name=filename, kind=label, ext=extensions[0]))
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        self.items.append({"temp": temp, "stored_name": stored_name, "filename": filename,
                           "content_type": content_type, "size": size})

    def save(self, ticket, reply):
        """Inside the post's transaction: the rows, and each file moved to its final name."""
        for item in self.items:
            Attachment.create(ticket=ticket.id, reply=reply.id, filename=item["filename"],
                              content_type=item["content_type"], size=item["size"], stored_name=item["stored_name"])
            final = self.directory / item["stored_name"]
            os.replace(item["temp"], final)
            self.placed.append(final)

    def discard(self):
        for item in self.items:
            item["temp"].unlink(missing_ok=True)
        for path in self.placed:
            path.unlink(missing_ok=True)


def check_uploads(files):
    """Check every file of a post: (filename, binary stream) pairs; empty file inputs
    are skipped. Returns PendingUploads, or raises FieldErrors with nothing kept."""
    files = [(name, stream) for name, stream in (files or ()) if name]
    if len(files) > ATTACHMENTS_PER_POST:
        raise FieldErrors.single("attachments", _l("Attach at most %(n)d files to one message.",
                                                   n=ATTACHMENTS_PER_POST))
    pending = PendingUploads(attachment_dir())
    max_bytes = _config("ATTACHMENT_MAX_MB", 5) * 1024 * 1024
    try:
        for name, stream in files:
            pending.add(name, stream, max_bytes)
    except BaseException:
        pending.discard()
        raise
    return pending


def attachment_for(account, attachment_id):
    """An attachment the account may download (a party to its ticket), else NotAParty."""
    attachment = Attachment.get_or_none(Attachment.id == attachment_id)
    if attachment is None or not is_party(account, Ticket.get_by_id(attachment.ticket_id)):
        raise NotAParty(attachment_id)
    return attachment


# --- posting ---------------------------------------------------------------------------

def _clean_body(text, field_name, errors):
    text = (text or "").strip()
    if not text:
        errors[field_name] = _l("Write what happened, so that support can help.") if field_name == "description" \
            else _l("Write your message.")
    elif len(text) > MAX_BODY:
        errors[field_name] = _l("Write at most %(n)d characters.", n=MAX_BODY)
    return text


def _uploads_or_errors(files, errors):
    """Check the files only when the rest of the post is fine: nothing is written otherwise."""
    if errors:
        raise FieldErrors(errors)
    return check_uploads(files)


def _save_post(build, uploads):
    """Run `build()` (returns ticket, reply) in one transaction with the files; all or nothing."""
    try:
        with db.atomic():
            ticket, reply = build()
            uploads.save(ticket, reply)
    except BaseException:
        uploads.discard()
        raise
    return ticket, reply


def open_complaint(account, message, recipient_ids, description, files=(), now=None):
    """Report a problem with one of the account's messages. Returns the Ticket."""
    now = now or utcnow()
    if message.account_id != account.id:
        raise NotAParty(message.id)
    eligibility = complaint_eligibility(message, now)
    if not eligibility.allowed:
        raise FieldErrors.single("window", eligibility.reason)
    errors = {}
    description = _clean_body(description, "description", errors)
    ids = sorted({int(i) for i in recipient_ids or () if str(i).isdigit()})
    recipients = []
    if not ids:
        errors["recipients"] = _l("Choose at least one number the problem is about.")
    elif len(ids) > MAX_NUMBERS:
        errors["recipients"] = _l("Choose at most %(n)d numbers; describe the others in your message.",
                                  n=MAX_NUMBERS)
    else:
        recipients = list(Recipient.select().where(Recipient.message == message.id, Recipient.id.in_(ids))
                          .order_by(Recipient.id))
        if len(recipients) != len(ids):
            errors["recipients"] = _l("Only numbers this message was sent to can be reported.")
    uploads = _uploads_or_errors(files, errors)
    facts = complaint_facts(account, message)

    def build():
        ticket = Ticket.create(account=account.id, kind=Ticket.COMPLAINT, subject=message.text[:MAX_SUBJECT],
                               message=message.id, created_at=now, updated_at=now, **facts)
        ComplaintRecipient.insert_many([
            {"ticket": ticket.id, "recipient": r.id, "mobile": r.mobile, "status": r.status, "error": r.error}
            for r in recipients]).execute()
        reply = TicketReply.create(ticket=ticket.id, author=account.id, body=description, created_at=now)
        return ticket, reply

    ticket, reply = _save_post(build, uploads)
    mark_read(account, ticket)
    notify_support(ticket, reply)
    return ticket


def open_ticket(account, kind, subject, body, files=(), now=None):
    """A general question (billing, sender ID, other). Returns the Ticket."""
    now = now or utcnow()
    errors = {}
    if kind not in Ticket.GENERAL_KINDS:
        errors["kind"] = _l("Choose what your question is about.")
    subject = (subject or "").strip()
    if not subject:
        errors["subject"] = _l("Give your question a short title.")
    elif len(subject) > MAX_SUBJECT:
        errors["subject"] = _l("Write at most %(n)d characters.", n=MAX_SUBJECT)
    body = _clean_body(body, "body", errors)
    uploads = _uploads_or_errors(files, errors)

    def build():
        ticket = Ticket.create(account=account.id, kind=kind, subject=subject, contact_name=account.contact_name,
                               contact_mobile=account.mobile or "", created_at=now, updated_at=now)
        return ticket, TicketReply.create(ticket=ticket.id, author=account.id, body=body, created_at=now)

    ticket, reply = _save_post(build, uploads)
    mark_read(account, ticket)
    notify_support(ticket, reply)
    return ticket


def post_reply(author, ticket, body, files=(), now=None):
    """A reply from the customer (the ticket is open again) or from support (answered).
    Either reopens a closed ticket. Anyone else: NotAParty, nothing stored."""
    now = now or utcnow()
    if not is_party(author, ticket):
        raise NotAParty(ticket.id)
    from_support = author.is_admin
    errors = {}
    body = _clean_body(body, "body", errors)
    uploads = _uploads_or_errors(files, errors)

    def build():
        locked = for_update(Ticket.select().where(Ticket.id == ticket.id)).get()
        reply = TicketReply.create(ticket=locked.id, author=author.id, from_support=from_support, body=body,
                                   created_at=now)
        changes = {"status": Ticket.ANSWERED if from_support else Ticket.OPEN, "updated_at": now, "closed_at": None}
        if from_support and locked.assignee_id is None:
            changes["assignee"] = author.id  # the first to answer takes it
        Ticket.update(**changes).where(Ticket.id == locked.id).execute()
        return locked, reply

    ticket, reply = _save_post(build, uploads)
    ticket = Ticket.get_by_id(ticket.id)
    mark_read(author, ticket)
    if from_support:
        notify_customer(ticket, reply)
    else:
        notify_support(ticket, reply)
    return reply


def close_ticket(actor, ticket, now=None):
    """Close a ticket (either party). Replying later reopens it."""
    if not is_party(actor, ticket):
        raise NotAParty(ticket.id)
    now = now or utcnow()
    with db.atomic():
        closed = Ticket.update(status=Ticket.CLOSED, closed_at=now, updated_at=now).where(
            Ticket.id == ticket.id, Ticket.status != Ticket.CLOSED).execute()
        if closed and actor.is_admin:
            audit(actor, "support.closed", Account.get_by_id(ticket.account_id), ticket=ticket.id)
    return bool(closed)


def support_staff():
    return list(Account.select().where(Account.role == Account.ADMIN, Account.is_blocked == False)  # noqa: E712
                .order_by(Account.contact_name, Account.email))


def assign_ticket(admin, ticket, assignee_id):
    """Give the ticket to an admin (or to nobody with None); audited."""
    assignee = None
    if assignee_id:
        assignee = Account.get_or_none(Account.id == assignee_id, Account.role == Account.ADMIN)
        if assignee is None:
            raise FieldErrors.single("assignee", _l("Choose a member of the support team."))
    with db.atomic():
        Ticket.update(assignee=assignee.id if assignee else None).where(Ticket.id == ticket.id).execute()
        audit(admin, "support.assigned", Account.get_by_id(ticket.account_id), ticket=ticket.id,
              assignee=assignee.email if assignee else None)
    return assignee


# --- refunds from a complaint ----------------------------------------------------------------

@dataclass
class RefundResult:
    refunded: list = field(default_factory=list)  # mobiles refunded now
    points: int = 0
    already: int = 0  # chosen numbers refunded before
    in_progress: int = 0  # chosen numbers not in a final state yet


def refund_complaint(admin, ticket, recipient_ids, now=None):
    """Refund the chosen numbers of a complaint that are not refunded yet: one ledger
    row for them (referencing the message), the recipients marked refunded, one
    audit row, all in one transaction. Calling it again refunds nothing twice."""
    now = now or utcnow()
    if not admin.is_admin:
        raise NotAParty(ticket.id)
    if not ticket.is_complaint or ticket.message_id is None:
        raise FieldErrors.single("recipients", _l("Only a complaint about a message can be refunded."))
    ids = {int(i) for i in recipient_ids or () if str(i).isdigit()}
    if not ids:
        raise FieldErrors.single("recipients", _l("Choose the numbers to refund."))
    listed = {rid for (rid,) in ComplaintRecipient.select(ComplaintRecipient.recipient)
              .where(ComplaintRecipient.ticket == ticket.id, ComplaintRecipient.recipient.in_(list(ids))).tuples()}
    if listed != ids:
        raise FieldErrors.single("recipients", _l("Only numbers listed in this complaint can be refunded."))
    result = RefundResult()
    with db.atomic():
        rows = list(for_update(Recipient.select(Recipient.id, Recipient.mobile, Recipient.points, Recipient.status,
                                                Recipient.refunded)
                               .where(Recipient.id.in_(list(ids)), Recipient.message == ticket.message_id)).tuples())
        due = []
        for rid, mobile, points, status, refunded in rows:
            if refunded:
                result.already += 1
            elif status not in REFUNDABLE:
                result.in_progress += 1
            else:
                due.append((rid, mobile, points))
        if not due:
            return result
        due_ids = [rid for rid, _mobile, _points in due]
        changed = Recipient.update(refunded=True, updated_at=now).where(
            Recipient.id.in_(due_ids), Recipient.refunded == False).execute()  # noqa: E712
        if changed != len(due_ids):  # someone refunded them meanwhile: start again
            raise RuntimeError("recipients changed during the refund")
        result.points = sum(points for _rid, _mobile, points in due)
        result.refunded = [mobile for _rid, mobile, _points in due]
        if result.points:
            ledger.refund(ticket.account_id, result.points, actor=admin,
                          reason=f"complaint #{ticket.id}: {len(due)} SMS refunded", reference=ticket.msg_id)
        ComplaintRecipient.update(refunded_at=now).where(ComplaintRecipient.ticket == ticket.id,
                                                         ComplaintRecipient.recipient.in_(due_ids)).execute()
        audit(admin, "support.refunded", Account.get_by_id(ticket.account_id), ticket=ticket.id,
              msg_id=ticket.msg_id, numbers=result.refunded, points=result.points)
    return result


# --- the dispatch trail ------------------------------------------------------------------

@dataclass
class TrailPart:
    provider: str
    part: int
    parts: int
    carrier_id: str
    submitted_at: datetime.datetime | None
    state: str
    error: str
    receipts: list  # dicts: stat, err, text, received_at


@dataclass
class Trail:
    recipient: Recipient
    provider: str = ""
    submitted_at: datetime.datetime | None = None
    finished_at: datetime.datetime | None = None
    attempts: int = 0
    parts: list = field(default_factory=list)


def dispatch_trail(message, recipient_ids):
    """How each recipient went out: its provider, when it was submitted and finished,
    and per part the carrier's message id and every delivery receipt.

    The one place that reads the dispatch engine's data: Recipient's engine columns
    and, when present, the CarrierSubmission / CarrierReceipt / DispatchProvider models.
    """
    ids = [int(i) for i in recipient_ids]
    recipients = list(Recipient.select().where(Recipient.message == message.id, Recipient.id.in_(ids))
                      .order_by(Recipient.id)) if ids else []
    try:
        from ..models import dispatch as engine
    except ImportError:  # the engine is not installed: what Recipient has is the trail
        engine = None
    provider_names, parts = {}, defaultdict(list)
    if engine is not None and recipients:
        provider_names = dict(engine.DispatchProvider.select(engine.DispatchProvider.id,
                                                             engine.DispatchProvider.name).tuples())
        submissions = list(engine.CarrierSubmission.select().where(
            engine.CarrierSubmission.recipient.in_([r.id for r in recipients]))
            .order_by(engine.CarrierSubmission.id))
        receipts = defaultdict(list)
        if submissions:
            for receipt in (engine.CarrierReceipt.select()
                            .where(engine.CarrierReceipt.submission.in_([s.id for s in submissions]))
                            .order_by(engine.CarrierReceipt.id)):
                receipts[receipt.submission_id].append({
                    "stat": receipt.stat, "err": receipt.err, "text": receipt.text,
                    "received_at": receipt.received_at})
        for submission in submissions:
            parts[submission.recipient_id].append(TrailPart(
                provider=provider_names.get(submission.provider_id, ""), part=submission.part,
                parts=submission.parts, carrier_id=submission.carrier_id or "",
                submitted_at=submission.submitted_at, state=submission.state, error=submission.error,
                receipts=receipts.get(submission.id, [])))
    return [Trail(recipient=r, provider=provider_names.get(getattr(r, "provider_id", None), ""),
                  submitted_at=getattr(r, "submitted_at", None), finished_at=getattr(r, "finished_at", None),
                  attempts=getattr(r, "attempts", 0) or 0, parts=parts.get(r.id, []))
            for r in recipients]


# --- reading: lists, the inbox, unread markers ---------------------------------------------

def tickets_of(account, status=""):
    tickets = Ticket.select().where(Ticket.account == account.id)
    if status in Ticket.STATUSES:
        tickets = tickets.where(Ticket.status == status)
    return tickets.order_by(Ticket.updated_at.desc(), Ticket.id.desc())


def inbox(admin, *, status="", kind="", age="", assignee="", query="", now=None):
    """The support inbox: tickets waiting for support first, then the latest activity."""
    now = now or utcnow()
    assignee_account = Account.alias()
    tickets = (Ticket.select(Ticket, Account, assignee_account)
               .join(Account, on=(Ticket.account == Account.id))
               .switch(Ticket)
               .join(assignee_account, JOIN.LEFT_OUTER, on=(Ticket.assignee == assignee_account.id)))
    if status == "active":
        tickets = tickets.where(Ticket.status != Ticket.CLOSED)
    elif status in Ticket.STATUSES:
        tickets = tickets.where(Ticket.status == status)
    if kind in Ticket.KINDS:
        tickets = tickets.where(Ticket.kind == kind)
    if age in AGE_FILTERS:
        tickets = tickets.where(Ticket.created_at < now - AGE_FILTERS[age])
    if assignee == "me":
        tickets = tickets.where(Ticket.assignee == admin.id)
    elif assignee == "none":
        tickets = tickets.where(Ticket.assignee.is_null())
    query = (query or "").strip()
    if query:
        like = f"%{query.lower()}%"
        condition = (fn.LOWER(Account.email) ** like) | (fn.LOWER(Ticket.subject) ** like) | \
                    (fn.LOWER(Account.company) ** like)
        digits = "".join(ch for ch in query if ch.isdigit())
        if query.isdigit():
            condition |= Ticket.id == int(query)
        if len(digits) >= 6:
            condition |= Ticket.contact_mobile.contains(digits)
        tickets = tickets.where(condition)
    waiting_first = Case(None, [(Ticket.status == Ticket.OPEN, 0)], 1)
    return tickets.order_by(waiting_first, Ticket.updated_at.desc(), Ticket.id.desc())


def _unread_query(account):
    """Tickets with a post from the other side newer than the account's read marker."""
    from_support = not account.is_admin
    query = (Ticket.select(Ticket.id)
             .join(TicketReply, on=(TicketReply.ticket == Ticket.id))
             .switch(Ticket)
             .join(TicketRead, JOIN.LEFT_OUTER, on=((TicketRead.ticket == Ticket.id) &
                                                    (TicketRead.account == account.id)))
             .where(TicketReply.from_support == from_support,
                    TicketReply.id > fn.COALESCE(TicketRead.last_reply_id, 0)))
    if account.is_admin:  # support: what is theirs or nobody's yet
        query = query.where(Ticket.status != Ticket.CLOSED,
                            (Ticket.assignee == account.id) | Ticket.assignee.is_null())
    else:
        query = query.where(Ticket.account == account.id)
    return query


def unread_count(account):
    return _unread_query(account).distinct().count()


def unread_ids(account, ticket_ids):
    ticket_ids = list(ticket_ids)
    if not ticket_ids:
        return set()
    return {tid for (tid,) in _unread_query(account).where(Ticket.id.in_(ticket_ids)).distinct().tuples()}


def mark_read(account, ticket):
    """The account has seen every post of the ticket so far."""
    last = TicketReply.select(fn.MAX(TicketReply.id)).where(TicketReply.ticket == ticket.id).scalar() or 0
    with db.atomic():
        (TicketRead.insert(ticket=ticket.id, account=account.id, last_reply_id=last, read_at=utcnow())
         .on_conflict(conflict_target=[TicketRead.ticket, TicketRead.account],
                      update={TicketRead.last_reply_id: last, TicketRead.read_at: utcnow()})
         .execute())


def thread(ticket):
    """The posts of a ticket, oldest first, each with its attachments."""
    replies = list(TicketReply.select(TicketReply, Account)
                   .join(Account, JOIN.LEFT_OUTER, on=(TicketReply.author == Account.id))
                   .where(TicketReply.ticket == ticket.id).order_by(TicketReply.id))
    files = defaultdict(list)
    for attachment in Attachment.select().where(Attachment.ticket == ticket.id).order_by(Attachment.id):
        files[attachment.reply_id].append(attachment)
    return [(reply, files.get(reply.id, [])) for reply in replies]


def complaint_numbers(ticket):
    """The numbers of a complaint with their recipient now (None when it is gone)."""
    numbers = list(ComplaintRecipient.select().where(ComplaintRecipient.ticket == ticket.id)
                   .order_by(ComplaintRecipient.id))
    ids = [n.recipient_id for n in numbers if n.recipient_id]
    current = {r.id: r for r in Recipient.select().where(Recipient.id.in_(ids))} if ids else {}
    return [(number, current.get(number.recipient_id)) for number in numbers]


# --- email ---------------------------------------------------------------------------------

def _link(endpoint, **values):
    base = _config("PUBLIC_BASE_URL", "")
    if base:
        return base + url_for(endpoint, **values)
    if has_request_context():
        return url_for(endpoint, _external=True, **values)
    return url_for(endpoint, **values)


def ticket_title(ticket):
    if ticket.is_complaint:
        return str(_l("Undelivered message from %(sender)s", sender=ticket.sender))
    return ticket.subject


def _send(to, subject, body):
    try:
        send_mail(to, subject, body)
    except (smtplib.SMTPException, OSError):  # the post is saved; a lost email must not undo it
        log.exception("support email to %s failed", to)
        return False
    return True


def notify_support(ticket, reply):
    """Email SUPPORT_EMAIL about a customer's new ticket or reply (nothing when unset)."""
    to = _config("SUPPORT_EMAIL", "")
    if not to:
        return False
    account = Account.get_by_id(ticket.account_id)
    with force_locale(_config("BABEL_DEFAULT_LOCALE", "en")):
        subject = str(_l("[Ticket #%(id)d] %(title)s", id=ticket.id, title=ticket_title(ticket)))
        body = render_template("support/email_to_support.txt", ticket=ticket, reply=reply, account=account,
                               title=ticket_title(ticket), kind=KIND_LABELS[ticket.kind], link=_link("support.admin_ticket", ticket_id=ticket.id))
    return _send(to, subject, body)


def notify_customer(ticket, reply):
    """Email the customer that support replied."""
    account = Account.get_by_id(ticket.account_id)
    with force_locale(account.language or _config("BABEL_DEFAULT_LOCALE", "en")):
        subject = str(_l("[Ticket #%(id)d] Support replied: %(title)s", id=ticket.id, title=ticket_title(ticket)))
        body = render_template("support/email_to_customer.txt", ticket=ticket, reply=reply, account=account,
                               title=ticket_title(ticket), link=_link("support.ticket", ticket_id=ticket.id))
    return _send(account.email, subject, body)
