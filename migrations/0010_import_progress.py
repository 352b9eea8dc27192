"""Contact imports record when they last made progress, so that the clock can fail an
import whose worker was killed instead of leaving it "running" for ever. Imports queued
or running at upgrade time count from their upload."""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('contact_import', 'progress_at', DateTimeField(null=True)),
    )
    db.execute_sql("UPDATE contact_import SET progress_at = created_at WHERE status IN ('queued', 'running')")


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column('contact_import', 'progress_at'),
    )
