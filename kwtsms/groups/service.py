"""Groups and their contacts. Every change keeps Group.size exact in the same transaction."""
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from peewee import IntegrityError, chunked

from .. import phone
from ..db import db
from ..errors import FieldErrors
from ..models import Contact, Group

NAME_MAX = 100
# Characters that make a spreadsheet treat a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@")


def clean_name(name):
    """A contact or group name as stored: single spaces, at most 100 characters.

    An apostrophe that our CSV export put in front of a formula-like name is
    removed again, so an exported group imports back unchanged.
    """
    if not name:
        return ""
    if not (isinstance(name, str) and name.isprintable() and "  " not in name and name.strip() == name):
        name = " ".join(str(name).split())  # the slow path, for the few names that need it
    if name.startswith("'") and name[1:2] in FORMULA_STARTS:
        name = name[1:]
    return name[:NAME_MAX]


def spreadsheet_safe(name):
    """Neutralise a name that a spreadsheet would run as a formula."""
    return "'" + name if name.startswith(FORMULA_STARTS) else name


# --- groups ---------------------------------------------------------------

def _check_group_name(account, name, exclude_id=None):
    name = " ".join((name or "").split())
    if not name:
        raise FieldErrors.single("name", _l("Give the group a name."))
    if len(name) > NAME_MAX:
        raise FieldErrors.single("name", _l("Use at most %(n)d characters.", n=NAME_MAX))
    clash = Group.select().where(Group.account == account.id, Group.name == name)
    if exclude_id is not None:
        clash = clash.where(Group.id != exclude_id)
    if clash.exists():
        raise FieldErrors.single("name", _l("You already have a group with this name."))
    return name


def create_group(account, name):
    name = _check_group_name(account, name)
    try:
        with db.atomic():
            return Group.create(account=account.id, name=name)
    except IntegrityError:
        raise FieldErrors.single("name", _l("You already have a group with this name."))


def find_or_create_group(account, name):
    existing = Group.get_or_none(Group.account == account.id, Group.name == " ".join((name or "").split()))
    return existing or create_group(account, name)


def rename_group(group, name):
    group.name = _check_group_name(group.account, name, exclude_id=group.id)
    with db.atomic():
        Group.update(name=group.name).where(Group.id == group.id).execute()
    return group


def delete_group(group):
    """Delete the group and all its numbers (the foreign key cascades)."""
    with db.atomic():
        return Group.delete().where(Group.id == group.id).execute()


def groups_of(account):
    return Group.select().where(Group.account == account.id).order_by(Group.name)


def _resize(group_id, delta):
    if delta:
        Group.update(size=Group.size + delta).where(Group.id == group_id).execute()


def recount(group):
    """Recompute the stored size from the rows (for repair scripts and tests)."""
    return Contact.select().where(Contact.group == group.id).count()


# --- contacts --------------------------------------------------------------

@dataclass
class AddedContact:
    contact: Contact
    country_added: bool  # the number had no country code; the default was assumed


def _checked_mobile(mobile):
    checked = phone.parse_mobile(mobile or "")
    if not checked.ok:
        raise FieldErrors.single("mobile", _l("Not a valid mobile number: %(reason)s", reason=checked.reason))
    return checked


def add_contact(group, name, mobile):
    checked = _checked_mobile(mobile)
    if Contact.select().where(Contact.group == group.id, Contact.mobile == checked.number).exists():
        raise FieldErrors.single("mobile", _l("%(number)s is already in this group.", number=checked.number))
    try:
        with db.atomic():
            contact = Contact.create(group=group.id, name=clean_name(name), mobile=checked.number)
            _resize(group.id, 1)
    except IntegrityError:
        raise FieldErrors.single("mobile", _l("%(number)s is already in this group.", number=checked.number))
    return AddedContact(contact, checked.country_added)


def update_contact(contact, name, mobile):
    checked = _checked_mobile(mobile)
    clash = Contact.select().where(Contact.group == contact.group_id, Contact.mobile == checked.number,
                                   Contact.id != contact.id)
    if clash.exists():
        raise FieldErrors.single("mobile", _l("%(number)s is already in this group.", number=checked.number))
    try:
        with db.atomic():
            Contact.update(name=clean_name(name), mobile=checked.number).where(Contact.id == contact.id).execute()
    except IntegrityError:
        raise FieldErrors.single("mobile", _l("%(number)s is already in this group.", number=checked.number))
    contact.name, contact.mobile = clean_name(name), checked.number
    return AddedContact(contact, checked.country_added)


def delete_contacts(group, contact_ids):
    """Delete the given contacts of this group (ids of other groups are ignored)."""
    deleted = 0
    with db.atomic():
        for batch in chunked(list(contact_ids), 500):
            deleted += Contact.delete().where(Contact.group == group.id, Contact.id.in_(batch)).execute()
        _resize(group.id, -deleted)
    return deleted


def copy_contacts(group, contact_ids, target, move=False):
    """Copy (or move) contacts to another group of the same account.

    Numbers already in the target are skipped (and, when moving, stay where
    they are). Returns (copied, skipped).
    """
    if target.id == group.id:
        raise FieldErrors.single("target", _l("Choose a different group."))
    copied = skipped = 0
    with db.atomic():
        for batch in chunked(list(contact_ids), 500):
            rows = list(Contact.select(Contact.id, Contact.name, Contact.mobile)
                        .where(Contact.group == group.id, Contact.id.in_(batch)).tuples())
            present = set(Contact.select(Contact.mobile).where(
                Contact.group == target.id, Contact.mobile.in_([r[2] for r in rows])).tuples())
            fresh = [r for r in rows if (r[2],) not in present]
            skipped += len(rows) - len(fresh)
            if fresh:
                Contact.insert_many([(target.id, name, mobile) for _, name, mobile in fresh],
                                    fields=[Contact.group, Contact.name, Contact.mobile]).execute()
                copied += len(fresh)
                if move:
                    Contact.delete().where(Contact.id.in_([r[0] for r in fresh])).execute()
        _resize(target.id, copied)
        if move:
            _resize(group.id, -copied)
    return copied, skipped


def contacts_page(group, query="", after=None, before=None, per_page=50):
    """One page of a group's contacts, walking by id so page 20,000 is as fast as page 1.

    A query matches the start of the number (with or without the country code,
    in any digits people type) or any part of the name.
    """
    select = Contact.select().where(Contact.group == group.id)
    query = (query or "").strip()
    if query:
        digits = phone.clean_digits(query)
        if digits:
            digits = digits.lstrip("+")
            select = select.where(_starts_with(Contact.mobile, digits) |
                                  _starts_with(Contact.mobile, phone.DEFAULT_COUNTRY_CODE + digits))
        else:
            select = select.where(Contact.name.contains(query))
    if before is not None:
        rows = list(select.where(Contact.id < before).order_by(Contact.id.desc()).limit(per_page + 1))
        has_more = len(rows) > per_page
        rows = rows[:per_page][::-1]
        return ContactsPage(rows, has_prev=has_more, has_next=True)
    if after is not None:
        select = select.where(Contact.id > after)
    rows = list(select.order_by(Contact.id).limit(per_page + 1))
    return ContactsPage(rows[:per_page], has_prev=after is not None, has_next=len(rows) > per_page)


def _starts_with(field, digits):
    # A range instead of LIKE, so the (group, mobile) index serves it on both
    # databases (":" is the character after "9").
    return (field >= digits) & (field < digits + ":")


@dataclass
class ContactsPage:
    items: list
    has_prev: bool
    has_next: bool

    @property
    def first_id(self):
        return self.items[0].id if self.items else None

    @property
    def last_id(self):
        return self.items[-1].id if self.items else None


def export_rows(group, batch=5000):
    """(name, mobile) rows of the whole group, names made spreadsheet-safe, streamed in batches."""
    last = 0
    while True:
        rows = list(Contact.select(Contact.id, Contact.name, Contact.mobile)
                    .where(Contact.group == group.id, Contact.id > last)
                    .order_by(Contact.id).limit(batch).tuples())
        if not rows:
            return
        for _, name, mobile in rows:
            yield spreadsheet_safe(name), mobile
        last = rows[-1][0]
