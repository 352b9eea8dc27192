"""Contact imports: upload, preview and mapping, the batched import, and its report.

The import streams the file in batches of BATCH rows. Each batch is one
transaction that inserts its new numbers, grows the group's size and records
the counters, so the report always matches what is in the group, even if the
worker dies half-way (the import is then marked failed with what it did).
"""
import datetime
import json
import logging
import uuid
from itertools import islice
from pathlib import Path

from flask_babel import lazy_gettext as _l
from rq.job import Job

from .. import phone
from ..db import db, fetch_all, placeholders, sql
from ..errors import FieldErrors
from ..groups.service import clean_name, create_group
from ..jobs import QueueUnavailable, enqueue, queue
from ..models import Contact, ContactImport, Group, utcnow
from . import reader

log = logging.getLogger("kwtsms.imports")

BATCH = 5000
REJECTED_SAMPLE = 1000  # rejected rows kept for the report; the counts are always exact
STALLED_AFTER = datetime.timedelta(minutes=10)  # a batch takes about a second: this is a lost worker


def save_upload(account, upload_dir, filename, stream, max_bytes):
    """Store an uploaded file, detect its layout and create the import in 'preview' state."""
    Path(upload_dir).mkdir(parents=True, exist_ok=True)
    path = Path(upload_dir) / f"{uuid.uuid4().hex}.upload"
    size = 0
    with open(path, "wb") as out:
        while chunk := stream.read(1024 * 1024):
            size += len(chunk)
            if size > max_bytes:
                out.close()
                path.unlink(missing_ok=True)
                raise FieldErrors.single("file", _l("The file is larger than %(mb)d MB. Split it into smaller files.",
                                                    mb=max_bytes // (1024 * 1024)))
            out.write(chunk)
    try:
        layout = reader.detect(path)
    except reader.UnreadableFile as error:
        path.unlink(missing_ok=True)
        raise FieldErrors.single("file", error.message)
    with db.atomic():
        return ContactImport.create(
            account=account.id, filename=(filename or "upload")[:255], stored_path=str(path), file_size=size,
            file_format=layout.file_format, encoding=layout.encoding, delimiter=layout.delimiter,
            has_header=int(layout.has_header), name_column=layout.name_column,
            number_column=layout.number_column, note=layout.note[:500])


def layout_of(contact_import):
    return reader.Layout(
        file_format=contact_import.file_format, encoding=contact_import.encoding,
        delimiter=contact_import.delimiter, has_header=bool(contact_import.has_header),
        name_column=contact_import.name_column, number_column=contact_import.number_column,
        note=contact_import.note)


def change_layout(contact_import, *, encoding=None, delimiter=None, has_header=None,
                  name_column=None, number_column=None):
    """Apply the user's corrections to the detected layout (only before the import starts)."""
    if contact_import.status != ContactImport.PREVIEW:
        raise FieldErrors.single("layout", _l("This import has already started."))
    if encoding is not None:
        if encoding not in reader.ENCODINGS and encoding not in ("utf-16-le", "utf-16-be"):
            raise FieldErrors.single("encoding", _l("Unknown encoding."))
        contact_import.encoding = encoding
    if delimiter is not None:
        if delimiter not in reader.DELIMITERS:
            raise FieldErrors.single("delimiter", _l("Unknown separator."))
        contact_import.delimiter = delimiter
    if has_header is not None:
        contact_import.has_header = int(bool(has_header))
    if number_column is not None:
        if number_column < 0:
            raise FieldErrors.single("number_column", _l("Choose the column that holds the numbers."))
        contact_import.number_column = number_column
    contact_import.name_column = name_column if name_column is not None and name_column >= 0 else None
    if contact_import.name_column == contact_import.number_column:
        raise FieldErrors.single("name_column", _l("Names and numbers cannot come from the same column."))
    with db.atomic():
        contact_import.save()
    return contact_import


def preview_rows(contact_import, count=10):
    """The first rows with the result each would get: (row, name, raw number, check)."""
    layout = layout_of(contact_import)
    return [(row, clean_name(name), number, phone.parse_mobile(number))
            for row, name, number in reader.preview(contact_import.stored_path, layout, count)]


def choose_group(contact_import, account, group=None, new_group_name=""):
    """Attach the target group: an existing one of the account, or a new one by name."""
    if new_group_name and new_group_name.strip():
        group = create_group(account, new_group_name)
    if group is None:
        raise FieldErrors.single("group", _l("Choose a group or type a name for a new one."))
    with db.atomic():
        ContactImport.update(group=group.id).where(ContactImport.id == contact_import.id).execute()
    contact_import.group = group
    return group


IMPORT_JOB = "kwtsms.imports.jobs.run_import_job"
LOST_AFTER = datetime.timedelta(minutes=1)  # queued, and Redis has no job for it: queue it again


def _job_id(contact_import_id):
    return f"import-{contact_import_id}"


def _enqueue_job(contact_import_id):
    enqueue(IMPORT_JOB, contact_import_id, job_id=_job_id(contact_import_id), job_timeout=3600)


def start(contact_import):
    """Queue the import's job, once: a second click or a replayed form starts nothing.
    False when Redis is unreachable (the import stays a preview, to be started again)."""
    with db.atomic():
        marked = ContactImport.update(status=ContactImport.QUEUED, progress_at=utcnow()).where(
            ContactImport.id == contact_import.id, ContactImport.status == ContactImport.PREVIEW).execute()
    if not marked:
        return True
    try:
        _enqueue_job(contact_import.id)
    except QueueUnavailable:
        with db.atomic():
            ContactImport.update(status=ContactImport.PREVIEW).where(
                ContactImport.id == contact_import.id, ContactImport.status == ContactImport.QUEUED).execute()
        return False
    return True


def requeue_lost(now=None):
    """Queue again the imports waiting for a job that Redis no longer has (it restarted
    without its data): they would stay "queued" for ever. Returns how many. The clock
    runs this; a job queued twice imports once (run_import claims the import)."""
    cutoff = (now or utcnow()) - LOST_AFTER
    waiting = [i for (i,) in ContactImport.select(ContactImport.id).where(
        ContactImport.status == ContactImport.QUEUED, ContactImport.progress_at < cutoff).tuples()]
    if not waiting:
        return 0
    connection = queue().connection
    lost = [i for i in waiting if not Job.exists(_job_id(i), connection=connection)]
    for import_id in lost:
        log.warning("import %s was queued but Redis has no job for it: queued again", import_id)
        _enqueue_job(import_id)
    return len(lost)


def raw_sample(contact_import, count=10):
    """The first rows exactly as split into cells, to size the column choices."""
    return list(islice(reader.raw_rows(contact_import.stored_path, layout_of(contact_import)), count))


# --- the import itself -----------------------------------------------------------

class _Batch:
    """Parsed rows waiting to be written, and what happened to them."""

    def __init__(self):
        self.fresh = {}  # number -> name (first occurrence in the batch wins)
        self.duplicates_in_file = 0
        self.rejected = 0
        self.rejected_rows = []
        self.rows = 0


def _insert_sql(count):
    values = ",".join(["(?, ?, ?)"] * count)
    return sql(f"INSERT INTO contact (group_id, name, mobile) VALUES {values} ON CONFLICT DO NOTHING")


def _existing(group_id, numbers):
    """{number: contact id} for the numbers already in the group."""
    return dict(fetch_all(f"SELECT mobile, id FROM contact WHERE group_id = ? AND mobile IN "
                          f"({placeholders(len(numbers))})", [group_id, *numbers]))


def _write_batch(contact_import, batch, last_id_before, fraction_done):
    """Insert one batch and record its counters, in one transaction."""
    group_id = contact_import.group_id
    numbers = list(batch.fresh)
    in_group = in_file = 0
    with db.atomic():
        if numbers and last_id_before:
            for number, contact_id in _existing(group_id, numbers).items():
                if contact_id <= last_id_before:
                    in_group += 1
                else:
                    in_file += 1  # added by an earlier batch of this same file
                del batch.fresh[number]
        inserted = 0
        if batch.fresh:
            params = []
            for number, name in batch.fresh.items():
                params += (group_id, name, number)
            inserted = db.execute_sql(_insert_sql(len(batch.fresh)), params).rowcount
        # A conflict here is a number an earlier batch of this file inserted.
        in_file += len(batch.fresh) - inserted
        Group.update(size=Group.size + inserted).where(Group.id == group_id).execute()
        sample = json.loads(contact_import.rejected_sample)
        room = REJECTED_SAMPLE - len(sample)
        if room > 0 and batch.rejected_rows:
            sample.extend(batch.rejected_rows[:room])
            contact_import.rejected_sample = json.dumps(sample, ensure_ascii=False)
        contact_import.imported += inserted
        contact_import.duplicates_in_group += in_group
        contact_import.duplicates_in_file += batch.duplicates_in_file + in_file
        contact_import.rejected += batch.rejected
        contact_import.rows_total += batch.rows
        contact_import.bytes_done = int(contact_import.file_size * min(1.0, fraction_done))
        contact_import.progress_at = utcnow()
        contact_import.save(only=[ContactImport.imported, ContactImport.duplicates_in_group,
                                  ContactImport.duplicates_in_file, ContactImport.rejected,
                                  ContactImport.rows_total, ContactImport.bytes_done,
                                  ContactImport.rejected_sample, ContactImport.progress_at])


def run_import(import_id):
    """Import the file into its group; returns the finished ContactImport."""
    contact_import = ContactImport.get_by_id(import_id)
    started = utcnow()
    claimed = ContactImport.update(status=ContactImport.RUNNING, progress_at=started).where(
        ContactImport.id == import_id,
        ContactImport.status.in_([ContactImport.QUEUED, ContactImport.PREVIEW])).execute()
    if not claimed:
        return contact_import  # already running or finished elsewhere
    contact_import.status, contact_import.progress_at = ContactImport.RUNNING, started
    try:
        _import_rows(contact_import)
    except reader.UnreadableFile as error:
        _finish(contact_import, ContactImport.FAILED, str(error.message))
    except Exception:
        log.exception("import %s failed", import_id)
        _finish(contact_import, ContactImport.FAILED,
                str(_l("The import stopped because of an internal error; the counts show what was imported.")))
        raise
    else:
        _finish(contact_import, ContactImport.DONE)
    return contact_import


def _import_rows(contact_import):
    group_id = contact_import.group_id
    if group_id is None:
        raise reader.UnreadableFile(_l("The group of this import was deleted."))
    last_id_before = (Contact.select(Contact.id).where(Contact.group == group_id)
                      .order_by(Contact.id.desc()).limit(1).scalar()) or 0
    progress = reader.Progress()
    batch = _Batch()
    parse = phone.parse_mobile
    for row_number, name, number in reader.rows(contact_import.stored_path, layout_of(contact_import), progress):
        batch.rows += 1
        checked = parse(number)
        if checked.number is None:
            batch.rejected += 1
            if len(batch.rejected_rows) < REJECTED_SAMPLE:
                batch.rejected_rows.append([row_number, number[:100], phone.storable(checked.reason)])
        elif checked.number in batch.fresh:
            batch.duplicates_in_file += 1
        else:
            batch.fresh[checked.number] = clean_name(name) if name else ""
        if batch.rows >= BATCH:
            _write_batch(contact_import, batch, last_id_before, progress.fraction())
            batch = _Batch()
    _write_batch(contact_import, batch, last_id_before, 1.0)


def _finish(contact_import, status, error=""):
    contact_import.status = status
    contact_import.error = error[:500]
    contact_import.finished_at = utcnow()
    with db.atomic():  # unless the clock gave this run up for lost meanwhile (fail_stalled): that stays
        ContactImport.update(status=status, error=contact_import.error, finished_at=contact_import.finished_at).where(
            ContactImport.id == contact_import.id, ContactImport.status == ContactImport.RUNNING).execute()
    Path(contact_import.stored_path).unlink(missing_ok=True)


def fail_stalled(now=None):
    """Fail running imports that made no progress for STALLED_AFTER: their worker was
    killed or lost (the job itself would have recorded any error). What was imported
    stays; importing the same file again adds the rest and skips the numbers already
    in the group. Returns how many were failed. The clock runs this."""
    cutoff = (now or utcnow()) - STALLED_AFTER
    stalled = list(ContactImport.select().where(ContactImport.status == ContactImport.RUNNING,
                                                ContactImport.progress_at < cutoff))
    failed_count = 0
    for contact_import in stalled:
        with db.atomic():
            failed = ContactImport.update(
                status=ContactImport.FAILED, finished_at=utcnow(),
                error=str(_l("The import stopped: the worker running it was stopped or lost. The counts show what "
                             "was imported; import the same file again to add the rest (numbers already in the "
                             "group are skipped)."))[:500],
            ).where(ContactImport.id == contact_import.id, ContactImport.status == ContactImport.RUNNING,
                    ContactImport.progress_at < cutoff).execute()
        if failed:
            failed_count += 1
            log.warning("import %s made no progress since %s: marked failed", contact_import.id,
                        contact_import.progress_at)
            Path(contact_import.stored_path).unlink(missing_ok=True)
    return failed_count


def report(contact_import):
    """The import's outcome as plain data (the CLI prints it as JSON)."""
    return {
        "status": contact_import.status,
        "group": contact_import.group.name if contact_import.group_id else None,
        "rows": contact_import.rows_total,
        "imported": contact_import.imported,
        "duplicates": contact_import.duplicates_in_file + contact_import.duplicates_in_group,
        "duplicates_in_file": contact_import.duplicates_in_file,
        "duplicates_in_group": contact_import.duplicates_in_group,
        "rejected": contact_import.rejected,
        "rejected_rows": [{"row": r, "value": v, "reason": why} for r, v, why in rejected_rows(contact_import, 20)],
        "note": contact_import.note,
        "error": contact_import.error,
    }


def rejected_rows(contact_import, limit=None):
    """The kept rejected rows as (row number, value, reason in the current language)."""
    return [(row, value, str(phone.stored_text(reason)))
            for row, value, reason in json.loads(contact_import.rejected_sample)[:limit]]


def progress_percent(contact_import):
    if contact_import.status == ContactImport.DONE:
        return 100
    if not contact_import.file_size:
        return 0
    return min(99, int(100 * contact_import.bytes_done / contact_import.file_size))
