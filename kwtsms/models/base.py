import datetime

from peewee import Model

from ..db import db


def utcnow():
    # Naive UTC everywhere in the database; templates convert to Asia/Kuwait.
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False
