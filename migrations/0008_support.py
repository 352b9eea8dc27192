"""Support: tickets, complaint numbers, replies, attachments and read markers
(generated from a schema diff of the support models against a database at 0007,
then reviewed)."""
from peewee import *


def up(migrator, db):
    class Account(Model):
        class Meta:
            database = db
            table_name = 'account'

    class Message(Model):
        class Meta:
            database = db
            table_name = 'message'

    class Recipient(Model):
        class Meta:
            database = db
            table_name = 'recipient'

    class Ticket(Model):
        account = ForeignKeyField(Account, on_delete='CASCADE')
        kind = CharField(max_length=16)
        subject = CharField(max_length=200)
        status = CharField(max_length=10, default='open')
        assignee = ForeignKeyField(Account, null=True, on_delete='SET NULL', backref='+')
        message = ForeignKeyField(Message, null=True, on_delete='SET NULL')
        contact_name = CharField(max_length=100, default='')
        contact_mobile = CharField(max_length=15, default='')
        msg_id = CharField(max_length=32, default='')
        sender = CharField(max_length=15, default='')
        sent_at = DateTimeField(null=True)
        message_text = TextField(default='')
        created_at = DateTimeField()
        updated_at = DateTimeField()
        closed_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'ticket'
            indexes = ((('account', 'id'), False), (('status', 'updated_at'), False))
    db.create_tables([Ticket])

    class TicketReply(Model):
        ticket = ForeignKeyField(Ticket, on_delete='CASCADE')
        author = ForeignKeyField(Account, null=True, on_delete='SET NULL')
        from_support = BooleanField(default=False)
        body = TextField()
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'ticket_reply'
            indexes = ((('ticket', 'from_support', 'id'), False),)
    db.create_tables([TicketReply])

    class Attachment(Model):
        ticket = ForeignKeyField(Ticket, on_delete='CASCADE')
        reply = ForeignKeyField(TicketReply, on_delete='CASCADE')
        filename = CharField(max_length=200)
        content_type = CharField(max_length=40)
        size = IntegerField()
        stored_name = CharField(unique=True, max_length=64)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'attachment'
    db.create_tables([Attachment])

    class ComplaintRecipient(Model):
        ticket = ForeignKeyField(Ticket, on_delete='CASCADE')
        recipient = ForeignKeyField(Recipient, null=True, on_delete='SET NULL')
        mobile = CharField(max_length=15)
        status = CharField(max_length=10, default='')
        error = CharField(max_length=200, default='')
        refunded_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'complaint_recipient'
            indexes = ((('ticket', 'recipient'), True),)
    db.create_tables([ComplaintRecipient])

    class TicketRead(Model):
        ticket = ForeignKeyField(Ticket, on_delete='CASCADE')
        account = ForeignKeyField(Account, on_delete='CASCADE')
        last_reply_id = IntegerField(default=0)
        read_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'ticket_read'
            indexes = ((('ticket', 'account'), True),)
    db.create_tables([TicketRead])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('ticket_read'))
    migrator.migrate(migrator.drop_table('complaint_recipient'))
    migrator.migrate(migrator.drop_table('attachment'))
    migrator.migrate(migrator.drop_table('ticket_reply'))
    migrator.migrate(migrator.drop_table('ticket'))
