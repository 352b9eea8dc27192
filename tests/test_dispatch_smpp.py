"""The SMPP provider against a real SMPP peer (tests/smsc.py, on smpp34): binds,
windowed submit_sm, GSM-7 / UCS-2 concatenation, receipts on the worker's and the
receiver's binds, and a carrier that rejects, throttles, drops the connection,
answers garbage, refuses the bind, or sends receipts early or for unknown ids."""
import datetime
import time

import pytest
from peewee import fn
from redis import Redis
from rq import SimpleWorker

from kwtsms import ledger, smstext
from kwtsms.dispatch import providers, service
from kwtsms.dispatch.providers.smpp import Session
from kwtsms.dispatch.receiver import Receiver
from kwtsms.messages import service as messages
from kwtsms.models import (Account, CarrierReceipt, CarrierSubmission, DispatchEvent, DispatchProvider, DispatchRoute,
                           Message, Recipient, utcnow)

from .factories import make_account
from .smsc import FakeSMSC

OPEN = ("queued", "submitting", "sent")


def numbers(n, start=0):
    return [f"9655{start + i:07d}" for i in range(n)]


def statuses(message_id):
    return dict(Recipient.select(Recipient.status, fn.COUNT(Recipient.id)).where(Recipient.message == message_id)
                .group_by(Recipient.status).tuples())


def balance(account):
    return Account.get_by_id(account.id).balance


def assert_ledger_exact(account):
    assert ledger.ledger_sum(account) == balance(account) >= 0


@pytest.fixture
def ctx(app):
    with app.app_context():
        service.router().refresh()
        yield app
        providers.close_all()


@pytest.fixture
def smsc():
    fake = FakeSMSC().start()
    yield fake
    fake.stop()


@pytest.fixture
def carrier(ctx, smsc):
    provider = DispatchProvider.create(name="Carrier", kind="smpp", host="127.0.0.1", port=smsc.port,
                                       system_id="kwtsms", secret="secret", window=10, mps=0)
    DispatchRoute.create(prefix="", provider=provider)
    service.router().refresh()
    return provider


@pytest.fixture
def customer(ctx):
    return make_account(balance=10_000)


def run_until_final(app, redis_url, message_ids, timeout=30, receiver=True):
    """Work the queues (due retries too), hold the receiving bind, match receipts: until all are final."""
    connection = Redis.from_url(redis_url)
    rx = Receiver(app) if receiver else None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            SimpleWorker(["dispatch", "default"], connection=connection).work(burst=True, with_scheduler=True)
            if rx is not None:
                for _ in range(5):
                    rx.step(0.02)
            service.match_pending_receipts()
            if not Recipient.select().where(Recipient.message.in_(list(message_ids)),
                                            Recipient.status.in_(OPEN)).exists():
                return True
            time.sleep(0.05)
        return False
    finally:
        if rx is not None:
            rx.close()


def send(account, count, text="Hello from the shop", start=0):
    return messages.send_message(account, sender="KWT-SMS", text=text, numbers=numbers(count, start)).message


def test_submits_through_a_window_and_records_receipts(ctx, carrier, smsc, customer, redis_url):
    message = send(customer, 60)
    assert run_until_final(ctx, redis_url, [message.id])
    assert statuses(message.id) == {"delivered": 60}
    assert sorted(smsc.accepted) == numbers(60) and set(smsc.accepted.values()) == {1}
    assert Message.get_by_id(message.id).status == "done"
    assert CarrierSubmission.select().count() == 60
    assert CarrierReceipt.select().where(CarrierReceipt.state == "matched").count() == 60
    first = Recipient.select().where(Recipient.message == message.id).first()
    [(submission, receipts)] = service.trail(first.id)
    assert submission.carrier_id.startswith("m") and receipts[0].stat == "DELIVRD"
    assert balance(customer) == 10_000 - 60
    assert_ledger_exact(customer)


def test_long_messages_go_as_concatenated_parts(ctx, carrier, smsc, customer, redis_url):
    gsm = "Offer {braces} " * 15  # 225 septets with escapes: 2 GSM-7 parts
    arabic = "عرض خاص اليوم فقط " * 5  # 90 UCS-2 units: 2 parts
    m1 = send(customer, 3, text=gsm)
    m2 = send(customer, 2, text=arabic, start=100)
    assert run_until_final(ctx, redis_url, [m1.id, m2.id])
    assert statuses(m1.id) == {"delivered": 3} and statuses(m2.id) == {"delivered": 2}
    for number, text, coding in ((numbers(1)[0], gsm, 0), (numbers(1, 100)[0], arabic, 8)):
        parts = [s for s in smsc.submitted if s[0] == number]
        assert len(parts) == 2 and {p[2] for p in parts} == {coding} and {p[3] & 0x40 for p in parts} == {0x40}
        udh = [p[4][:6] for p in parts]
        assert [u[:3] for u in udh] == [b"\x05\x00\x03"] * 2 and [u[4:] for u in udh] == [b"\x02\x01", b"\x02\x02"]
        codec = "gsm03.38" if coding == 0 else "utf-16-be"
        assert "".join(p[4][6:].decode(codec) for p in parts) == smstext.clean(text)
    assert CarrierSubmission.select().where(CarrierSubmission.parts == 2).count() == 10


def test_rejected_and_failed_numbers_are_refunded(ctx, carrier, smsc, customer, redis_url):
    all_numbers = numbers(20)
    smsc.reject = {all_numbers[0], all_numbers[1]}
    smsc.fail = {all_numbers[2]}
    message = send(customer, 20)
    assert run_until_final(ctx, redis_url, [message.id])
    assert statuses(message.id) == {"delivered": 17, "rejected": 2, "failed": 1}
    rejected = Recipient.get(Recipient.mobile == all_numbers[0])
    assert rejected.error.startswith("0x0000000B") and rejected.refunded
    assert Recipient.get(Recipient.mobile == all_numbers[2]).error == "UNDELIV 001"
    assert balance(customer) == 10_000 - 20 + 3
    assert_ledger_exact(customer)


def test_throttled_submits_are_retried_with_backoff(ctx, carrier, smsc, customer, redis_url):
    all_numbers = numbers(30)
    smsc.throttle_next = 4
    smsc.throttle = {all_numbers[-1]: 2}
    message = send(customer, 30)
    assert run_until_final(ctx, redis_url, [message.id], timeout=40)
    assert statuses(message.id) == {"delivered": 30}
    assert max(smsc.accepted.values()) == 1 and sum(smsc.attempts.values()) == 30 + 6
    retried = Recipient.get(Recipient.mobile == all_numbers[-1])
    assert retried.attempts == 2
    assert_ledger_exact(customer)


def test_a_dropped_connection_fails_only_what_was_in_flight(ctx, carrier, smsc, customer, redis_url):
    smsc.drop_after = 25
    message = send(customer, 60)
    assert run_until_final(ctx, redis_url, [message.id], timeout=40)
    counts = statuses(message.id)
    interrupted = Recipient.select().where(Recipient.message == message.id, Recipient.status == "failed")
    assert counts.get("failed", 0) >= 1 and counts.get("delivered", 0) + counts["failed"] == 60
    assert all(r.error.startswith("interrupted") for r in interrupted)
    assert max(smsc.accepted.values()) == 1  # nothing was submitted twice
    # every number the carrier took and answered is delivered; the ones in flight are failed, refunded
    assert balance(customer) == 10_000 - 60 + counts["failed"]
    assert DispatchEvent.select().where(DispatchEvent.kind == "disconnect").exists()
    assert_ledger_exact(customer)


def test_a_refused_bind_is_logged_and_nothing_is_lost(ctx, carrier, smsc, customer, redis_url):
    DispatchProvider.update(secret="wrong", updated_at=utcnow()).where(DispatchProvider.id == carrier.id).execute()
    service.router().refresh()
    message = send(customer, 5)
    assert not run_until_final(ctx, redis_url, [message.id], timeout=1.5)
    assert statuses(message.id) == {"queued": 5}
    assert all(r.retry_at is not None for r in Recipient.select())
    assert smsc.accepted == {} and ("kwtsms", "trx", "refused") in smsc.binds
    event = DispatchEvent.select().where(DispatchEvent.kind == "bind_refused").first()
    assert event is not None and "wrong" not in event.detail and "0x0000000E" in event.detail
    # The admin fixes the password: they go out.
    DispatchProvider.update(secret="secret", updated_at=utcnow()).where(DispatchProvider.id == carrier.id).execute()
    service.router().refresh()
    Recipient.update(retry_at=None).execute()
    assert run_until_final(ctx, redis_url, [message.id], timeout=30)
    assert statuses(message.id) == {"delivered": 5}


def test_garbage_from_the_carrier_drops_the_bind_and_loses_nobody(ctx, carrier, smsc, customer, redis_url):
    smsc.garbage = "responses"
    message = send(customer, 12)
    run_until_final(ctx, redis_url, [message.id], timeout=1.5, receiver=False)
    assert DispatchEvent.select().where(DispatchEvent.kind == "bad_pdu").exists()
    smsc.garbage = None
    Recipient.update(retry_at=None).where(Recipient.status == "queued").execute()
    providers.close_all()
    for session_fix in DispatchProvider.select():
        DispatchProvider.update(updated_at=utcnow()).where(DispatchProvider.id == session_fix.id).execute()
    service.router().refresh()
    assert run_until_final(ctx, redis_url, [message.id], timeout=30)
    counts = statuses(message.id)
    assert sum(counts.values()) == 12 and set(counts) <= {"delivered", "failed"}
    assert all(r.error.startswith("interrupted") for r in Recipient.select().where(Recipient.status == "failed"))
    assert max(smsc.accepted.values()) == 1
    assert_ledger_exact(customer)


def test_garbage_instead_of_a_bind_response(ctx, carrier, smsc, customer, redis_url):
    smsc.garbage = "bind"
    message = send(customer, 3)
    run_until_final(ctx, redis_url, [message.id], timeout=1, receiver=False)
    assert statuses(message.id) == {"queued": 3}
    assert DispatchEvent.select().where(DispatchEvent.kind.in_(["bad_pdu", "bind_failed"])).exists()


def test_receipt_before_the_submit_response_is_matched(ctx, carrier, smsc, customer, redis_url):
    smsc.receipt_first = True
    message = send(customer, 5)
    assert run_until_final(ctx, redis_url, [message.id])
    assert statuses(message.id) == {"delivered": 5}


def test_receipt_on_the_receiving_bind_before_the_worker_commits(ctx, carrier, smsc, customer):
    """The receiver records a receipt whose submission is not stored yet: it waits as pending."""
    from kwtsms.dispatch.providers.base import Receipt
    service.record_receipts([Receipt(provider_id=carrier.id, carrier_id="m1", stat="DELIVRD")])
    message = send(customer, 1)
    [batch] = service.plan_batches(message.id)
    batch, token = service.start_run(batch.id)
    [row] = service.claim(batch, token, 10)
    from kwtsms.dispatch.providers.base import SENT, Outcome
    service.record_outcomes(token, carrier.id, [Outcome(row[0], SENT, parts=[(1, 1, "m1")])])
    assert statuses(message.id) == {"delivered": 1}
    assert CarrierReceipt.get().state == "matched"


def test_receipts_that_beat_their_submissions_are_matched_together(ctx, carrier, customer):
    """Pending receipts (an intermediate one too) are matched when the worker records the submissions;
    a failure's error comes from its final receipt."""
    from kwtsms.dispatch.providers.base import SENT, Outcome, Receipt
    service.record_receipts([Receipt(provider_id=carrier.id, carrier_id="m1", stat="DELIVRD"),
                             Receipt(provider_id=carrier.id, carrier_id="m2", stat="ENROUTE"),
                             Receipt(provider_id=carrier.id, carrier_id="m2", stat="UNDELIV", err="001"),
                             Receipt(provider_id=carrier.id, carrier_id="m3", stat="DELIVRD")])
    message = send(customer, 3)
    [batch] = service.plan_batches(message.id)
    batch, token = service.start_run(batch.id)
    rows = service.claim(batch, token, 10)
    service.record_outcomes(token, carrier.id, [Outcome(row[0], SENT, parts=[(1, 1, f"m{n}")])
                                                for n, row in enumerate(rows, start=1)])
    assert statuses(message.id) == {"delivered": 2, "failed": 1}
    assert Recipient.get_by_id(rows[1][0]).error == "UNDELIV 001"
    assert CarrierReceipt.select().where(CarrierReceipt.state == "matched").count() == 4
    assert balance(customer) == 10_000 - 3 + 1
    assert_ledger_exact(customer)


def test_receipt_for_an_unknown_id_is_logged(ctx, carrier, smsc, customer, redis_url):
    message = send(customer, 2)
    assert run_until_final(ctx, redis_url, [message.id])
    rx = Receiver(ctx)
    try:
        deadline = time.monotonic() + 10
        smsc.wait_for(lambda: True)
        for _ in range(20):
            rx.step(0.05)
        smsc.send_receipt("no-such-id")
        while time.monotonic() < deadline and not CarrierReceipt.select().where(
                CarrierReceipt.carrier_id == "no-such-id").exists():
            rx.step(0.05)
    finally:
        rx.close()
    assert CarrierReceipt.get(CarrierReceipt.carrier_id == "no-such-id").state == "pending"
    service.match_pending_receipts(now=utcnow() + datetime.timedelta(minutes=5))
    event = DispatchEvent.get(DispatchEvent.kind == "unknown_receipt")
    assert "no-such-id" in event.detail
    assert statuses(message.id) == {"delivered": 2}


def test_a_missing_unbind_resp_does_not_hang(ctx, carrier, smsc):
    session = Session(carrier, "trx", "test")
    session.connect()
    started = time.monotonic()
    session.close()
    assert time.monotonic() - started < 2.5 and not session.connected


def test_messages_per_second_cap(ctx, carrier, smsc, customer, redis_url):
    DispatchProvider.update(mps=40, updated_at=utcnow()).where(DispatchProvider.id == carrier.id).execute()
    service.router().refresh()
    message = send(customer, 60)
    started = time.monotonic()
    assert run_until_final(ctx, redis_url, [message.id])
    assert time.monotonic() - started > 1.0  # 60 at 40/s with a one-second burst allowance


def test_split_binds_workers_transmit_and_the_receiver_gets_every_receipt(ctx, carrier, smsc, customer, redis_url):
    DispatchProvider.update(bind_mode="split", updated_at=utcnow()).where(DispatchProvider.id == carrier.id).execute()
    service.router().refresh()
    message = send(customer, 40)
    assert run_until_final(ctx, redis_url, [message.id])
    assert statuses(message.id) == {"delivered": 40}
    assert {(kind, outcome) for _s, kind, outcome in smsc.binds} == {("tx", "bound"), ("trx", "bound")}
