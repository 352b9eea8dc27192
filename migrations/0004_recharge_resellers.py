"""Recharge (packages, limits, payment providers, orders, the callback log) and resellers.

Written by hand: new tables are frozen copies of kwtsms/models/billing.py; the new
account columns carry a database DEFAULT so they are added in one ALTER TABLE on
SQLite and PostgreSQL alike (no table rebuild). Seeds three packages, the custom
amount limits and the three providers (only the demo one enabled).
"""
import datetime

from peewee import *


def up(migrator, db):
    class Account(Model):
        class Meta:
            database = db
            table_name = 'account'

    migrator.migrate(
        migrator.add_column('account', 'parent_id', ForeignKeyField(
            Account, field=Account.id, null=True, on_delete='SET NULL')),
        migrator.add_column('account', 'listed_publicly', BooleanField(
            default=False, constraints=[SQL('DEFAULT FALSE')]), allow_not_null=True),
        migrator.add_column('account', 'public_phone', CharField(
            max_length=30, default='', constraints=[SQL("DEFAULT ''")]), allow_not_null=True),
        migrator.add_column('account', 'public_email', CharField(
            max_length=254, default='', constraints=[SQL("DEFAULT ''")]), allow_not_null=True),
        migrator.add_column('account', 'public_website', CharField(
            max_length=200, default='', constraints=[SQL("DEFAULT ''")]), allow_not_null=True),
        migrator.add_column('account', 'low_balance_threshold', IntegerField(
            default=0, constraints=[SQL('DEFAULT 0')]), allow_not_null=True),
        migrator.add_column('account', 'low_balance_alerted', BooleanField(
            default=False, constraints=[SQL('DEFAULT FALSE')]), allow_not_null=True),
    )

    class Package(Model):
        name = CharField(max_length=100)
        points = IntegerField(constraints=[Check('points > 0')])
        price_fils = IntegerField(constraints=[Check('price_fils > 0')])
        is_active = BooleanField(default=True)
        sort_order = IntegerField(default=0)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'package'
    db.create_tables([Package])

    class RechargeSettings(Model):
        min_custom_fils = IntegerField(default=5000)
        max_custom_fils = IntegerField(default=1000000)
        points_per_kwd = IntegerField(default=50)
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'recharge_settings'
    db.create_tables([RechargeSettings])

    class PaymentProvider(Model):
        code = CharField(unique=True, max_length=16)
        label = CharField(max_length=100, default='')
        is_enabled = BooleanField(default=False)
        sort_order = IntegerField(default=0)
        gateway_url = CharField(max_length=300, default='')
        merchant_id = CharField(max_length=100, default='')
        secret = CharField(max_length=300, default='')
        secret2 = CharField(max_length=300, default='')
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'payment_provider'
    db.create_tables([PaymentProvider])

    class Order(Model):
        account = ForeignKeyField(Account, on_delete='RESTRICT')
        reference = CharField(unique=True, max_length=32)
        package = ForeignKeyField(Package, null=True, on_delete='SET NULL')
        description = CharField(max_length=200, default='')
        points = IntegerField(constraints=[Check('points > 0')])
        amount_fils = IntegerField(constraints=[Check('amount_fils > 0')])
        currency = CharField(max_length=3, default='KWD')
        provider = CharField(max_length=16)
        provider_reference = CharField(max_length=200, null=True)
        status = CharField(index=True, max_length=16, default='pending')
        created_at = DateTimeField()
        expires_at = DateTimeField()
        paid_at = DateTimeField(null=True)
        refunded_at = DateTimeField(null=True)
        refunded_by = ForeignKeyField(Account, null=True, on_delete='SET NULL')
        refund_reason = CharField(max_length=500, default='')
        class Meta:
            database = db
            table_name = 'recharge_order'
            indexes = ((('provider', 'provider_reference'), True), (('account', 'id'), False))
    db.create_tables([Order])

    class PaymentCallback(Model):
        provider = CharField(max_length=16)
        order = ForeignKeyField(Order, null=True, on_delete='SET NULL')
        order_reference = CharField(max_length=100, default='')
        provider_reference = CharField(max_length=200, default='')
        outcome = CharField(index=True, max_length=24)
        detail = CharField(max_length=500, default='')
        payload = TextField(default='')
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'payment_callback'
    db.create_tables([PaymentCallback])

    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    Package.insert_many([
        {'name': 'Starter', 'points': 500, 'price_fils': 10000, 'sort_order': 1, 'created_at': now},
        {'name': 'Business', 'points': 2500, 'price_fils': 45000, 'sort_order': 2, 'created_at': now},
        {'name': 'Corporate', 'points': 10000, 'price_fils': 160000, 'sort_order': 3, 'created_at': now},
    ]).execute()
    RechargeSettings.insert(id=1, min_custom_fils=5000, max_custom_fils=1000000, points_per_kwd=50,
                            updated_at=now).execute()
    PaymentProvider.insert_many([
        {'code': 'stripe', 'label': 'Card (Stripe)', 'is_enabled': False, 'sort_order': 1, 'updated_at': now},
        {'code': 'hosted', 'label': 'KNET', 'is_enabled': False, 'sort_order': 2, 'updated_at': now},
        {'code': 'demo', 'label': 'Demo payment', 'is_enabled': True, 'sort_order': 3, 'updated_at': now},
    ]).execute()


def down(migrator, db):
    migrator.migrate(migrator.drop_table('payment_callback'))
    migrator.migrate(migrator.drop_table('recharge_order'))
    migrator.migrate(migrator.drop_table('payment_provider'))
    migrator.migrate(migrator.drop_table('recharge_settings'))
    migrator.migrate(migrator.drop_table('package'))
    migrator.migrate(
        migrator.drop_column('account', 'low_balance_alerted'),
        migrator.drop_column('account', 'low_balance_threshold'),
        migrator.drop_column('account', 'public_website'),
        migrator.drop_column('account', 'public_email'),
        migrator.drop_column('account', 'public_phone'),
        migrator.drop_column('account', 'listed_publicly'),
        migrator.drop_column('account', 'parent_id'),
    )
