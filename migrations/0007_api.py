"""The developer API: API access, credentials, IP lockdown and the delivery-report webhook.

Written by hand. The new account columns carry a database DEFAULT so each is added
in one ALTER TABLE on SQLite and PostgreSQL alike (no table rebuild); the API
username gets a unique index (NULLs do not collide: accounts without one).
The content rules table is a frozen copy of kwtsms/models/content.py.
"""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('account', 'api_access_granted', BooleanField(null=True)),
        migrator.add_column('account', 'api_enabled', BooleanField(
            default=False, constraints=[SQL('DEFAULT FALSE')]), allow_not_null=True),
        migrator.add_column('account', 'api_username', CharField(max_length=64, null=True, unique=True)),
        migrator.add_column('account', 'api_password_hash', CharField(
            max_length=255, default='', constraints=[SQL("DEFAULT ''")]), allow_not_null=True),
        migrator.add_column('account', 'api_credentials_version', IntegerField(
            default=0, constraints=[SQL('DEFAULT 0')]), allow_not_null=True),
        migrator.add_column('account', 'api_ip_whitelist', TextField(
            default='', constraints=[SQL("DEFAULT ''")]), allow_not_null=True),
        migrator.add_column('account', 'webhook_url', CharField(
            max_length=500, default='', constraints=[SQL("DEFAULT ''")]), allow_not_null=True),
        migrator.add_column('account', 'webhook_secret', CharField(
            max_length=64, default='', constraints=[SQL("DEFAULT ''")]), allow_not_null=True),
    )

    class Account(Model):
        class Meta:
            database = db
            table_name = 'account'

    class ContentRule(Model):
        kind = CharField(max_length=16)
        phrase = CharField(max_length=100)
        normalized = CharField(max_length=100)
        created_by = ForeignKeyField(Account, null=True, on_delete='SET NULL')
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'content_rule'
            indexes = ((('kind', 'normalized'), True),)
    db.create_tables([ContentRule])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('content_rule'))
    migrator.migrate(*[migrator.drop_column('account', name) for name in (
        'webhook_secret', 'webhook_url', 'api_ip_whitelist', 'api_credentials_version',
        'api_password_hash', 'api_username', 'api_enabled', 'api_access_granted')])
