"""Contact imports record when they last made progress, so that the clock can fail an
import whose worker was killed instead of leaving it "running" for ever."""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('contact_import', 'progress_at', DateTimeField(null=True)),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column('contact_import', 'progress_at'),
    )
