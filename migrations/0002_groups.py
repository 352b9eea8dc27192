"""Groups of numbers, their contacts, and contact imports (generated from a schema diff)."""
from peewee import *

def up(migrator, db):
    class Account(Model):
        class Meta:
            database = db
            table_name = 'account'

    class Group(Model):
        account = ForeignKeyField(Account, on_delete='CASCADE')
        name = CharField(max_length=100)
        size = IntegerField(default=0)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'contact_group'
            indexes = ((('account', 'name'), True),)
    db.create_tables([Group])

    class Contact(Model):
        group = ForeignKeyField(Group, on_delete='CASCADE')
        name = CharField(max_length=100, default='')
        mobile = CharField(max_length=15)
        class Meta:
            database = db
            table_name = 'contact'
            indexes = ((('group', 'mobile'), True), (('group', 'id'), False))
    db.create_tables([Contact])

    class ContactImport(Model):
        account = ForeignKeyField(Account, on_delete='CASCADE')
        group = ForeignKeyField(Group, null=True, on_delete='SET NULL')
        filename = CharField(max_length=255)
        stored_path = CharField(max_length=500)
        file_size = BigIntegerField(default=0)
        file_format = CharField(max_length=8)
        encoding = CharField(max_length=16, default='')
        delimiter = CharField(max_length=2, default='')
        has_header = IntegerField(default=0)
        name_column = IntegerField(null=True)
        number_column = IntegerField(default=0)
        note = CharField(max_length=500, default='')
        status = CharField(index=True, max_length=10, default='preview')
        bytes_done = BigIntegerField(default=0)
        rows_total = IntegerField(default=0)
        imported = IntegerField(default=0)
        duplicates_in_file = IntegerField(default=0)
        duplicates_in_group = IntegerField(default=0)
        rejected = IntegerField(default=0)
        rejected_sample = TextField(default='[]')
        error = CharField(max_length=500, default='')
        created_at = DateTimeField()
        finished_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'contact_import'
    db.create_tables([ContactImport])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('contact_import'))
    migrator.migrate(migrator.drop_table('contact'))
    migrator.migrate(migrator.drop_table('contact_group'))
