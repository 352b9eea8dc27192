"""Small messages (API sends) are dispatched many at a time: a batch run may cover
several messages, so dispatch_batch.message_id becomes optional; and the send path
counts an account's open messages on an (account, status) index."""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.drop_not_null('dispatch_batch', 'message_id'),
        migrator.add_index('message', ('account_id', 'status'), False),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index('message', 'message_account_id_status'),
        migrator.add_not_null('dispatch_batch', 'message_id'),
    )
