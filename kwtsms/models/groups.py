"""Groups of mobile numbers, their contacts, and contact imports."""
from peewee import BigIntegerField, CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from .accounts import Account
from .base import BaseModel, utcnow


class Group(BaseModel):
    account = ForeignKeyField(Account, backref="groups", on_delete="CASCADE")
    name = CharField(max_length=100)
    # Kept by kwtsms.groups.service in the same transaction as every insert and
    # delete, so list pages never COUNT(*) a million-row group.
    size = IntegerField(default=0)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "contact_group"  # GROUP is an SQL keyword
        indexes = ((("account", "name"), True),)


class Contact(BaseModel):
    group = ForeignKeyField(Group, backref="contacts", on_delete="CASCADE")
    name = CharField(max_length=100, default="")
    mobile = CharField(max_length=15)  # digits with country code, see kwtsms.phone

    class Meta:
        # (group, mobile) unique: a number is in a group at most once; it also
        # serves number-prefix search. Pages walk the group by id (keyset).
        indexes = ((("group", "mobile"), True), (("group", "id"), False))


class ContactImport(BaseModel):
    """One uploaded file: its detected layout, progress and report."""
    PREVIEW, QUEUED, RUNNING, DONE, FAILED = "preview", "queued", "running", "done", "failed"

    account = ForeignKeyField(Account, backref="+", on_delete="CASCADE")
    group = ForeignKeyField(Group, null=True, backref="+", on_delete="SET NULL")
    filename = CharField(max_length=255)
    stored_path = CharField(max_length=500)
    file_size = BigIntegerField(default=0)
    file_format = CharField(max_length=8)  # csv or xlsx
    encoding = CharField(max_length=16, default="")
    delimiter = CharField(max_length=2, default="")
    has_header = IntegerField(default=0)
    name_column = IntegerField(null=True)  # 0-based; None = no names
    number_column = IntegerField(default=0)
    note = CharField(max_length=500, default="")  # e.g. "only the first of 3 sheets"
    status = CharField(max_length=10, default=PREVIEW, index=True)
    bytes_done = BigIntegerField(default=0)
    rows_total = IntegerField(default=0)
    imported = IntegerField(default=0)
    duplicates_in_file = IntegerField(default=0)
    duplicates_in_group = IntegerField(default=0)
    rejected = IntegerField(default=0)
    rejected_sample = TextField(default="[]")  # JSON: first rejected rows [row, raw, reason]
    error = CharField(max_length=500, default="")
    created_at = DateTimeField(default=utcnow)
    progress_at = DateTimeField(null=True)  # when it was queued, started or last wrote a batch (imports.fail_stalled)
    finished_at = DateTimeField(null=True)
