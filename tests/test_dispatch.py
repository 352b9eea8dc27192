"""The dispatch engine's rules through the development sink: batches on RQ, atomic
claims, receipts, refunds by policy, reconciliation after a crash, expiry, routes,
lost Redis jobs, and the recipients_finalized signal."""
import datetime

import pytest
from peewee import fn
from redis import Redis
from rq import Queue, SimpleWorker

from kwtsms import ledger
from kwtsms.db import db
from kwtsms.dispatch import clock, runner, service, stream
from kwtsms.dispatch.providers import sink
from kwtsms.events import recipients_finalized
from kwtsms.messages import service as messages
from kwtsms.models import (Account, CarrierReceipt, CarrierSubmission, DispatchBatch, DispatchProvider, DispatchRoute,
                           LedgerEntry, Message, Recipient, utcnow)

from .factories import make_account


def numbers(n, start=0):
    return [f"9655{start + i:07d}" for i in range(n)]


def balance(account):
    return Account.get_by_id(account.id).balance


def assert_ledger_exact(account):
    assert ledger.ledger_sum(account) == balance(account) >= 0


def statuses(message):
    return dict(Recipient.select(Recipient.status, fn.COUNT(Recipient.id)).where(Recipient.message == message.id)
                .group_by(Recipient.status).tuples())


def work(redis_url):
    """Run every queued job (dispatch, then its batches) in this process, as the worker would."""
    SimpleWorker(["dispatch", "default"], connection=Redis.from_url(redis_url)).work(burst=True)


@pytest.fixture
def ctx(app):
    with app.app_context():
        service.router().refresh()
        yield app


@pytest.fixture
def customer(ctx):
    return make_account(balance=10_000)


@pytest.fixture
def sink_route(ctx):
    provider = DispatchProvider.create(name="Test sink", kind="sink", sink_delay=0, sink_failure_percent=0)
    DispatchRoute.create(prefix="", provider=provider)
    service.router().refresh()
    return provider


def send(account, count, text="Hello", start=0, **kwargs):
    return messages.send_message(account, sender="KWT-SMS", text=text, numbers=numbers(count, start), **kwargs).message


def test_sink_delivers_every_recipient_once_with_a_trail(ctx, customer, sink_route, redis_url):
    message = send(customer, 30)
    work(redis_url)
    assert statuses(message) == {"sent": 30}
    assert Message.get_by_id(message.id).status == "sending"
    assert sink.generate_reports() == 30
    assert statuses(message) == {"delivered": 30}
    done = Message.get_by_id(message.id)
    assert done.status == "done" and done.finished_at is not None
    recipient = Recipient.select().where(Recipient.message == message.id).first()
    assert recipient.provider_id == sink_route.id and recipient.submitted_at and recipient.finished_at
    [(submission, receipts)] = service.trail(recipient.id)
    assert submission.carrier_id.startswith("sink-") and submission.state == "delivered"
    assert [r.stat for r in receipts] == ["DELIVRD"]
    assert balance(customer) == 10_000 - 30
    assert_ledger_exact(customer)


def test_one_job_per_batch_not_per_recipient(ctx, customer, sink_route, redis_url, app):
    app.config["DISPATCH_BATCH_SIZE"] = 10
    message = send(customer, 25)
    from kwtsms.dispatch import jobs
    assert jobs.dispatch_message(message.id) == 3
    assert jobs.dispatch_message(message.id) == 0  # a repeated job plans nothing twice
    dispatch = Queue("dispatch", connection=Redis.from_url(redis_url))
    assert [job.func_name for job in dispatch.jobs].count(jobs.BATCH_JOB) == 3
    assert [(b.first_id, b.last_id, b.size) for b in DispatchBatch.select().order_by(DispatchBatch.id)][0][2] == 10


def test_failures_are_refunded_in_one_ledger_row_per_call(ctx, customer, redis_url):
    provider = DispatchProvider.create(name="Flaky sink", kind="sink", sink_delay=0, sink_failure_percent=40)
    DispatchRoute.create(prefix="965", provider=provider)
    message = send(customer, 100)
    work(redis_url)
    sink.generate_reports()
    counts = statuses(message)
    failed = sum(1 for r in Recipient.select().where(Recipient.message == message.id)
                 if sink.fails(r.id, 40))
    assert counts == {"delivered": 100 - failed, "failed": failed} and 10 < failed < 70
    refunds = list(LedgerEntry.select().where(LedgerEntry.account == customer.id, LedgerEntry.kind == "refund"))
    assert len(refunds) == 1 and refunds[0].amount == failed and refunds[0].reference == message.msg_id
    assert all(r.refunded for r in Recipient.select().where(Recipient.message == message.id,
                                                             Recipient.status == "failed"))
    assert balance(customer) == 10_000 - 100 + failed
    # A repeated receipt changes nothing: one final state, one refund.
    from kwtsms.dispatch.providers.base import Receipt
    receipts = [Receipt(provider_id=provider.id, carrier_id=s.carrier_id, stat="UNDELIV")
                for s in CarrierSubmission.select()]
    assert service.record_receipts(receipts) == {}
    assert statuses(message) == counts and balance(customer) == 10_000 - 100 + failed
    assert_ledger_exact(customer)


def test_refund_policy_none_keeps_the_points(ctx, customer, app, redis_url):
    app.config["DISPATCH_REFUND_STATES"] = "none"
    provider = DispatchProvider.create(name="Failing sink", kind="sink", sink_delay=0, sink_failure_percent=100)
    DispatchRoute.create(prefix="", provider=provider)
    message = send(customer, 5)
    work(redis_url)
    sink.generate_reports()
    assert statuses(message) == {"failed": 5}
    assert balance(customer) == 10_000 - 5
    assert_ledger_exact(customer)


def test_two_runs_of_one_batch_never_claim_the_same_recipient(ctx, customer, sink_route):
    message = send(customer, 40)
    [batch] = service.plan_batches(message.id)
    first, token_a = service.start_run(batch.id)
    token_b = "b" * 32  # a duplicate job that ran anyway
    claimed_a = service.claim(first, token_a, 15)
    claimed_b = service.claim(first, token_b, 100)
    claimed_c = service.claim(first, token_a, 100)
    ids = [r[0] for r in claimed_a + claimed_b + claimed_c]
    assert len(ids) == len(set(ids)) == 40 and len(claimed_a) == 15 and claimed_c == []


def test_a_crash_mid_submit_fails_and_refunds_never_resends(ctx, customer, sink_route, app):
    message = send(customer, 20)
    [batch] = service.plan_batches(message.id)
    batch, token = service.start_run(batch.id)
    stuck = service.claim(batch, token, 8)  # the worker died holding these
    assert len(stuck) == 8
    assert service.reconcile_stuck() == 0  # its heartbeat is fresh: hands off
    later = utcnow() + datetime.timedelta(seconds=app.config["DISPATCH_STALE_SECONDS"] + 5)
    assert service.reconcile_stuck(now=later) == 8
    counts = statuses(message)
    assert counts == {"failed": 8, "queued": 12}
    assert {r.error for r in Recipient.select().where(Recipient.status == "failed")} == {"interrupted"}
    assert DispatchBatch.get_by_id(batch.id).status == "queued"  # the rest goes on
    assert balance(customer) == 10_000 - 20 + 8
    # The next run takes only the 12 never claimed.
    runner.run_batch(batch.id)
    assert statuses(message) == {"failed": 8, "sent": 12}
    assert CarrierSubmission.select().count() == 12
    assert_ledger_exact(customer)


def test_unsent_recipients_expire_after_the_validity_and_are_refunded(ctx, customer, app):
    app.config["DISPATCH_DEV_SINK"] = False  # no route and no sink: they wait
    message = send(customer, 6)
    from kwtsms.dispatch import jobs
    jobs.dispatch_message(message.id)
    batch = DispatchBatch.get()
    runner.run_batch(batch.id)
    assert statuses(message) == {"queued": 6}
    assert all(r.retry_at and r.attempts == 1 for r in Recipient.select())
    assert service.expire_overdue() == 0
    later = utcnow() + datetime.timedelta(hours=app.config["DISPATCH_VALIDITY_HOURS"], minutes=1)
    assert service.expire_overdue(now=later) == 6
    assert statuses(message) == {"expired": 6}
    assert Message.get_by_id(message.id).status == "done"
    assert balance(customer) == 10_000
    assert_ledger_exact(customer)


def test_sent_without_a_receipt_expires_after_the_wait(ctx, customer, app, redis_url):
    provider = DispatchProvider.create(name="Silent sink", kind="sink", sink_delay=10**6)
    DispatchRoute.create(prefix="", provider=provider)
    message = send(customer, 3)
    work(redis_url)
    assert sink.generate_reports() == 0 and statuses(message) == {"sent": 3}
    later = utcnow() + datetime.timedelta(hours=app.config["DISPATCH_RECEIPT_WAIT_HOURS"], minutes=1)
    assert service.expire_unreported(now=later) == 3
    assert statuses(message) == {"expired": 3}
    assert {r.error for r in Recipient.select()} == {"no delivery report"}
    assert_ledger_exact(customer)


def test_longest_prefix_wins(ctx):
    a = DispatchProvider.create(name="A", kind="sink")
    b = DispatchProvider.create(name="B", kind="sink")
    c = DispatchProvider.create(name="C", kind="sink", is_enabled=False)
    DispatchRoute.create(prefix="", provider=a)
    DispatchRoute.create(prefix="965", provider=b)
    DispatchRoute.create(prefix="9656", provider=c)
    router = service.Router()
    assert router.provider_for("96550000000").name == "B"
    assert router.provider_for("966500000000").name == "A"
    assert router.provider_for("96560000000") is None  # its route's provider is switched off


def test_cancel_while_dispatching_refunds_only_the_unclaimed(ctx, customer, sink_route):
    message = send(customer, 10)
    [batch] = service.plan_batches(message.id)
    batch, token = service.start_run(batch.id)
    service.claim(batch, token, 4)
    assert messages.cancel_message(customer, message) == 6
    assert service.claim(batch, token, 100) == []
    assert Message.get_by_id(message.id).status == "sending"
    service.finish_run(batch, token)
    later = utcnow() + datetime.timedelta(minutes=5)
    service.reconcile_stuck(now=later)
    assert statuses(message) == {"cancelled": 6, "failed": 4}
    assert Message.get_by_id(message.id).status == "cancelled"
    assert balance(customer) == 10_000
    assert_ledger_exact(customer)


def test_finalized_signal_is_sent_after_commit(ctx, customer, sink_route, redis_url):
    seen = []

    def receiver(sender, message_id, recipient_ids):
        # After the commit: another connection-free read sees the final state.
        seen.append((message_id, sorted(recipient_ids), db.in_transaction()))

    recipients_finalized.connect(receiver)
    try:
        message = send(customer, 4)
        work(redis_url)
        sink.generate_reports()
    finally:
        recipients_finalized.disconnect(receiver)
    ids = sorted(r.id for r in Recipient.select().where(Recipient.message == message.id))
    assert seen == [(message.id, ids, False)]


def test_jobs_lost_with_redis_are_queued_again(ctx, customer, sink_route, redis_url, app, monkeypatch):
    app.config["DISPATCH_BATCH_SIZE"] = 10
    monkeypatch.setattr(stream, "MAX_RECIPIENTS", 20)  # 35 numbers make a campaign with its own job
    message = send(customer, 35)
    redis = Redis.from_url(redis_url)
    SimpleWorker(["default"], connection=redis).work(burst=True)  # cut into batches; batch jobs queued
    redis.flushall()  # Redis restarted without persistence: every job is gone
    assert Queue("dispatch", connection=redis).count == 0
    later = utcnow() + datetime.timedelta(minutes=1)
    assert service.rescue(now=later) == 4
    assert service.rescue(now=later) == 0  # their jobs exist now
    work(redis_url)
    assert statuses(message) == {"sent": 35}
    # A message whose dispatch job itself was lost (before it cut batches):
    second = send(customer, 5, start=100)
    redis.flushall()
    assert service.rescue(now=utcnow() + datetime.timedelta(minutes=1)) == 1
    work(redis_url)
    assert statuses(second) == {"sent": 5}


def test_clock_runs_every_task_without_errors(ctx, customer, sink_route, redis_url, app):
    send(customer, 3)
    work(redis_url)
    results = clock.run_once(app)
    assert not [name for name, result in results.items() if isinstance(result, str) and result.startswith("error")]
    assert results["sink reports"] == 3


def test_personalised_text_is_rendered_per_recipient(ctx, customer, redis_url, sink_route):
    from kwtsms.groups import service as groups
    group = groups.create_group(customer, "VIP")
    groups.add_contact(group, "Ali", "96550000001")
    groups.add_contact(group, "", "96550000002")
    captured = []
    from kwtsms.dispatch.providers.sink import SinkProvider
    original = SinkProvider.submit

    def spy(self, work):
        captured.extend((i.mobile, i.text) for i in work.items)
        return original(self, work)

    SinkProvider.submit = spy
    try:
        messages.send_message(customer, sender="KWT-SMS", text="Dear {name}, hi", group_ids=[group.id])
        work(redis_url)
    finally:
        SinkProvider.submit = original
    assert sorted(captured) == [("96550000001", "Dear Ali, hi"), ("96550000002", "Dear , hi")]


def test_pending_receipt_becomes_unknown_and_is_shown(ctx, sink_route):
    from kwtsms.dispatch.providers.base import Receipt
    service.record_receipts([Receipt(provider_id=sink_route.id, carrier_id="nobody-knows", stat="DELIVRD")])
    assert CarrierReceipt.get().state == "pending"
    service.match_pending_receipts()
    assert CarrierReceipt.get().state == "pending"
    service.match_pending_receipts(now=utcnow() + datetime.timedelta(minutes=5))
    assert CarrierReceipt.get().state == "unknown"
    assert [e.kind for e in service.recent_events()] == ["unknown_receipt"]
