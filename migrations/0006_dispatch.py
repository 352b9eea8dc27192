"""The dispatch engine: providers, routes, batches, the carrier trail, and the
recipient columns the engine keeps (generated from a schema diff of the dispatch
models against a database at 0005, then reviewed)."""
from peewee import *


def up(migrator, db):
    class Message(Model):
        class Meta:
            database = db
            table_name = 'message'

    class Recipient(Model):
        class Meta:
            database = db
            table_name = 'recipient'

    class DispatchProvider(Model):
        name = CharField(unique=True, max_length=50)
        kind = CharField(max_length=10)
        is_enabled = BooleanField(default=True)
        host = CharField(max_length=200, default='')
        port = IntegerField(default=2775)
        system_id = CharField(max_length=100, default='')
        secret = CharField(max_length=300, default='')
        system_type = CharField(max_length=13, default='')
        bind_mode = CharField(max_length=12, default='transceiver')
        window = IntegerField(default=10)
        mps = IntegerField(default=50)
        enquire_link = IntegerField(default=30)
        sink_delay = IntegerField(default=2)
        sink_failure_percent = IntegerField(default=0)
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'dispatch_provider'
    db.create_tables([DispatchProvider])

    class CarrierSubmission(Model):
        recipient = ForeignKeyField(Recipient, on_delete='CASCADE')
        provider = ForeignKeyField(DispatchProvider, null=True, on_delete='SET NULL', index=False)
        part = IntegerField(default=1)
        parts = IntegerField(default=1)
        carrier_id = CharField(null=True, max_length=64)
        submitted_at = DateTimeField()
        state = CharField(max_length=12, default='accepted')
        error = CharField(max_length=200, default='')
        class Meta:
            database = db
            table_name = 'carrier_submission'
            indexes = ((('provider', 'carrier_id'), False),)
    db.create_tables([CarrierSubmission])

    class CarrierReceipt(Model):
        provider = ForeignKeyField(DispatchProvider, null=True, on_delete='SET NULL', index=False)
        carrier_id = CharField(max_length=64)
        mobile = CharField(max_length=20, default='')
        submission = ForeignKeyField(CarrierSubmission, null=True, on_delete='CASCADE')
        stat = CharField(max_length=16, default='')
        err = CharField(max_length=16, default='')
        text = CharField(max_length=300, default='')
        state = CharField(max_length=8, default='matched')
        received_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'carrier_receipt'
            indexes = ((('state', 'received_at'), False), (('provider', 'carrier_id'), False))
    db.create_tables([CarrierReceipt])

    class DispatchBatch(Model):
        message = ForeignKeyField(Message, on_delete='CASCADE')
        first_id = IntegerField()
        last_id = IntegerField()
        size = IntegerField()
        status = CharField(index=True, max_length=8, default='queued')
        job_id = CharField(max_length=64, default='')
        token = CharField(max_length=32, default='')
        runs = IntegerField(default=0)
        heartbeat_at = DateTimeField(null=True)
        run_after = DateTimeField(null=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'dispatch_batch'
    db.create_tables([DispatchBatch])

    class DispatchEvent(Model):
        provider = ForeignKeyField(DispatchProvider, null=True, on_delete='SET NULL')
        kind = CharField(max_length=32)
        detail = TextField(default='')
        created_at = DateTimeField(index=True)
        class Meta:
            database = db
            table_name = 'dispatch_event'
    db.create_tables([DispatchEvent])

    class DispatchRoute(Model):
        prefix = CharField(unique=True, max_length=15)
        provider = ForeignKeyField(DispatchProvider, on_delete='CASCADE')
        note = CharField(max_length=200, default='')
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'dispatch_route'
    db.create_tables([DispatchRoute])

    # One ALTER TABLE each (a database DEFAULT, so SQLite needs no table rebuild).
    migrator.migrate(
        migrator.add_column('recipient', 'provider_id', IntegerField(null=True)),
        migrator.add_column('recipient', 'claim', CharField(null=True, max_length=32)),
        migrator.add_column('recipient', 'attempts', IntegerField(default=0, constraints=[SQL('DEFAULT 0')]),
                            allow_not_null=True),
        migrator.add_column('recipient', 'retry_at', DateTimeField(null=True)),
        migrator.add_column('recipient', 'submitted_at', DateTimeField(null=True)),
        migrator.add_column('recipient', 'finished_at', DateTimeField(null=True)),
    )


def down(migrator, db):
    migrator.migrate(migrator.drop_column('recipient', 'finished_at'))
    migrator.migrate(migrator.drop_column('recipient', 'submitted_at'))
    migrator.migrate(migrator.drop_column('recipient', 'retry_at'))
    migrator.migrate(migrator.drop_column('recipient', 'attempts'))
    migrator.migrate(migrator.drop_column('recipient', 'claim'))
    migrator.migrate(migrator.drop_column('recipient', 'provider_id'))
    migrator.migrate(migrator.drop_table('dispatch_route'))
    migrator.migrate(migrator.drop_table('dispatch_event'))
    migrator.migrate(migrator.drop_table('dispatch_batch'))
    migrator.migrate(migrator.drop_table('carrier_receipt'))
    migrator.migrate(migrator.drop_table('carrier_submission'))
    migrator.migrate(migrator.drop_table('dispatch_provider'))
