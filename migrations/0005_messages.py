"""Messages, their recipients, and opt-out lists (generated from a schema diff)."""
from peewee import *

def up(migrator, db):
    class Account(Model):
        class Meta:
            database = db
            table_name = 'account'

    class Message(Model):
        account = ForeignKeyField(Account, on_delete='CASCADE')
        msg_id = CharField(unique=True, max_length=32)
        sender = CharField(max_length=15)
        text = TextField()
        encoding = CharField(max_length=4)
        pages = IntegerField()
        recipients_count = IntegerField(default=0)
        points = IntegerField(default=0)
        status = CharField(index=True, max_length=10, default='queued')
        source = CharField(max_length=4, default='web')
        is_test = BooleanField(default=False)
        scheduled_at = DateTimeField(index=True, null=True)
        enqueued_at = DateTimeField(null=True)
        created_at = DateTimeField(index=True)
        finished_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'message'
            indexes = ((('account', 'id'), False), (('status', 'enqueued_at'), False))
    db.create_tables([Message])

    class OptOut(Model):
        account = ForeignKeyField(Account, on_delete='CASCADE')
        mobile = CharField(max_length=15)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'opt_out'
            indexes = ((('account', 'mobile'), True),)
    db.create_tables([OptOut])

    class Recipient(Model):
        message = ForeignKeyField(Message, on_delete='CASCADE')
        mobile = CharField(max_length=15)
        name = CharField(max_length=100, default='')
        pages = IntegerField()
        points = IntegerField()
        status = CharField(max_length=10, default='queued')
        error = CharField(max_length=200, default='')
        refunded = BooleanField(default=False)
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'recipient'
            indexes = ((('message', 'status'), False), (('mobile',), False))
    db.create_tables([Recipient])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('recipient'))
    migrator.migrate(migrator.drop_table('opt_out'))
    migrator.migrate(migrator.drop_table('message'))
