"""The stream of small messages (API sends): many messages dispatched per group run,
each recipient submitted once, crash safety, lost pushes, retries, cancelled ones."""
import datetime

from redis import Redis
from rq import Queue

from kwtsms.dispatch import service, stream
from kwtsms.dispatch.providers import ProviderError, sink
from kwtsms.messages import service as messages
from kwtsms.models import CarrierSubmission, DispatchBatch, DispatchProvider, DispatchRoute, Message, Recipient, utcnow

from .test_dispatch import assert_ledger_exact, balance, ctx, customer, sink_route, statuses, work  # noqa: F401


def send_one(account, number, text="Your code is 4711"):
    return messages.send_message(account, sender="KWT-SMS", text=text, numbers=[number], repeat_guard=True).message


def test_many_small_messages_go_out_in_one_group_run(ctx, customer, sink_route, redis_url):
    sent = [send_one(customer, f"965500000{i:02d}") for i in range(40)]
    dispatch = Queue("dispatch", connection=Redis.from_url(redis_url))
    assert dispatch.count == 1  # one drain job for all forty, not a job per message
    work(redis_url)
    assert all(statuses(m) == {"sent": 1} for m in sent)
    assert CarrierSubmission.select().count() == 40  # each number handed over once
    runs = list(DispatchBatch.select())
    assert len(runs) == 1 and runs[0].message_id is None and runs[0].status == "done"
    assert Redis.from_url(redis_url).llen(stream.LIST_KEY) == 0
    assert not Redis.from_url(redis_url).exists(stream.DRAINING_KEY)  # the next send queues a new drain job
    sink.generate_reports()
    assert {Message.get_by_id(m.id).status for m in sent} == {"done"}
    assert balance(customer) == 10_000 - 40
    assert_ledger_exact(customer)


def test_the_admin_monitor_counts_small_messages_in_line(ctx, customer, sink_route, redis_url):
    send_one(customer, "96550000001")
    send_one(customer, "96550000002")
    assert service.overview()["streamed"] == 2
    work(redis_url)
    assert service.overview()["streamed"] == 0


def test_a_message_pushed_twice_is_sent_once(ctx, customer, sink_route, redis_url):
    message = send_one(customer, "96550000001")
    assert stream.push([message.id, message.id])
    work(redis_url)
    assert stream.push([message.id])
    work(redis_url)
    assert statuses(message) == {"sent": 1} and CarrierSubmission.select().count() == 1


def test_a_message_cancelled_before_the_drain_is_not_sent(ctx, customer, sink_route, redis_url):
    message = send_one(customer, "96550000001")
    assert messages.cancel_message(customer, message) == 1
    work(redis_url)
    assert statuses(message) == {"cancelled": 1} and CarrierSubmission.select().count() == 0
    assert balance(customer) == 10_000
    assert_ledger_exact(customer)


def test_a_worker_dying_mid_group_fails_and_refunds_never_resends(ctx, customer, sink_route, redis_url, app):
    sent = [send_one(customer, f"965500000{i:02d}") for i in range(5)]
    Redis.from_url(redis_url).delete(stream.LIST_KEY)  # the drain job popped them...
    stream._start_group(sorted(m.id for m in sent), utcnow())  # ...claimed them, and its worker died
    later = utcnow() + datetime.timedelta(seconds=app.config["DISPATCH_STALE_SECONDS"] + 5)
    assert service.reconcile_stuck(now=later) == 5
    [run] = DispatchBatch.select()
    assert run.message_id is None and run.status == "done"  # ended, not queued again as a batch
    assert stream.push([m.id for m in sent])  # a late push changes nothing
    work(redis_url)
    assert all(statuses(m) == {"failed": 1} for m in sent)
    assert CarrierSubmission.select().count() == 0
    assert balance(customer) == 10_000
    assert_ledger_exact(customer)


def test_a_push_lost_with_redis_is_made_again_by_the_rescue(ctx, customer, sink_route, redis_url):
    message = send_one(customer, "96550000001")
    Redis.from_url(redis_url).flushall()  # Redis restarted without persistence
    assert service.rescue(now=utcnow() + datetime.timedelta(minutes=1)) == 1
    work(redis_url)
    assert statuses(message) == {"sent": 1}


def test_the_rescue_leaves_small_messages_in_line_while_a_drain_job_runs(ctx, customer, sink_route, redis_url):
    send_one(customer, "96550000001")  # pushed: the drain job is queued and marked
    assert service.rescue(now=utcnow() + datetime.timedelta(minutes=1)) == 0
    assert Redis.from_url(redis_url).llen(stream.LIST_KEY) == 1  # not pushed twice


def test_the_clock_starts_a_drain_job_when_none_runs(ctx, customer, sink_route, redis_url):
    message = send_one(customer, "96550000001")
    redis = Redis.from_url(redis_url)
    Queue("dispatch", connection=redis).empty()
    redis.delete(stream.DRAINING_KEY)  # the drain job's worker died; its mark expired
    assert stream.ensure_draining() == 1
    assert stream.ensure_draining() == 0  # one is queued now
    work(redis_url)
    assert statuses(message) == {"sent": 1}


def test_a_throttled_group_retries_as_an_ordinary_batch(ctx, customer, redis_url, monkeypatch):
    provider = DispatchProvider.create(name="Busy sink", kind="sink", sink_delay=0, sink_failure_percent=0)
    DispatchRoute.create(prefix="", provider=provider)
    service.router().refresh()
    message = send_one(customer, "96550000001")

    def busy(self, work):
        raise ProviderError("throttled", retry_after=30)
    monkeypatch.setattr(sink.SinkProvider, "submit", busy)
    work(redis_url)
    recipient = Recipient.get(Recipient.message == message.id)
    assert recipient.status == "queued" and recipient.retry_at > utcnow() and recipient.error == "throttled"
    [batch] = DispatchBatch.select().where(DispatchBatch.message == message.id)
    assert batch.status == "queued" and batch.job_id  # its job waits in RQ's schedule for the retry time
    assert Queue("dispatch", connection=Redis.from_url(redis_url)).scheduled_job_registry.count == 1
