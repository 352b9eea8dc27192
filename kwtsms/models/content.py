"""The operator's word lists that refuse a message's text: bad language (ERR031) and spam (ERR032)."""
from peewee import CharField, DateTimeField, ForeignKeyField

from .accounts import Account
from .base import BaseModel, utcnow


class ContentRule(BaseModel):
    BAD_LANGUAGE, SPAM = "bad_language", "spam"
    KINDS = (BAD_LANGUAGE, SPAM)

    kind = CharField(max_length=16)
    phrase = CharField(max_length=100)  # as the operator typed it
    normalized = CharField(max_length=100)  # case-folded, spaces collapsed: what is matched
    created_by = ForeignKeyField(Account, null=True, backref="+", on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("kind", "normalized"), True),)
