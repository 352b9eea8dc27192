"""Accounts, the credit ledger, password-reset tokens and the audit log.

Generated from a schema diff, then the CHECK constraints were added by hand
(the diff does not carry them). Python-side defaults need no DDL.
"""
from peewee import *

def up(migrator, db):
    class Account(Model):
        email = CharField(unique=True, max_length=254)
        password_hash = CharField(max_length=255)
        company = CharField(max_length=100, default='')
        contact_name = CharField(max_length=100, default='')
        mobile = CharField(unique=True, null=True, max_length=15)
        role = CharField(index=True, max_length=16, default='customer')
        balance = IntegerField(default=0, constraints=[Check('balance >= 0')])
        is_blocked = BooleanField(default=False)
        blocked_reason = CharField(max_length=500, default='')
        language = CharField(max_length=5, default='')
        session_version = IntegerField(default=0)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'account'
    db.create_tables([Account])

    class AuditLog(Model):
        actor = ForeignKeyField(Account, null=True, on_delete='SET NULL')
        account = ForeignKeyField(Account, null=True, on_delete='CASCADE')
        action = CharField(index=True, max_length=64)
        details = TextField(default='')
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'audit_log'
    db.create_tables([AuditLog])

    class LedgerEntry(Model):
        account = ForeignKeyField(Account, on_delete='RESTRICT')
        kind = CharField(max_length=16)
        amount = IntegerField()
        balance_after = IntegerField(constraints=[Check('balance_after >= 0')])
        actor = ForeignKeyField(Account, null=True, on_delete='SET NULL')
        reason = CharField(max_length=500, default='')
        reference = CharField(index=True, max_length=100, default='')
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'ledger_entry'
            indexes = ((('account', 'id'), False),)
    db.create_tables([LedgerEntry])

    class PasswordResetToken(Model):
        account = ForeignKeyField(Account, on_delete='CASCADE')
        token_hash = CharField(unique=True, max_length=64)
        expires_at = DateTimeField()
        used_at = DateTimeField(null=True)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'password_reset_token'
    db.create_tables([PasswordResetToken])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('password_reset_token'))
    migrator.migrate(migrator.drop_table('ledger_entry'))
    migrator.migrate(migrator.drop_table('audit_log'))
    migrator.migrate(migrator.drop_table('account'))
