"""The one send path: validation, pricing, charging, test mode, scheduling, cancel, sweep."""
import datetime

import pytest
from redis import Redis
from rq import Queue

from kwtsms import ledger
from kwtsms.dispatch import stream
from kwtsms.groups import service as groups
from kwtsms.messages import service
from kwtsms.messages.service import SendRefused
from kwtsms.models import Account, LedgerEntry, Message, Recipient, utcnow

from .factories import make_account


def streamed(redis_url):
    """Ids of the messages waiting in the dispatch stream."""
    return [int(i) for i in Redis.from_url(redis_url).lrange(stream.LIST_KEY, 0, -1)]


def balance(account):
    return Account.get_by_id(account.id).balance


def assert_ledger_exact(account):
    assert ledger.ledger_sum(account) == balance(account) >= 0


@pytest.fixture
def customer(app):
    # Services read settings (queue limits, Redis) from the app; these tests make no requests.
    with app.app_context():
        yield make_account(balance=1000)


def test_send_to_typed_numbers_charges_and_queues(customer, redis_url):
    result = service.send_message(customer, sender="KWT-SMS", text="Hello from the shop",
                                  numbers="+965 5123 4567, ٥٠٠٠٠٠٠١; 96551234567 , 12345")
    message = result.message
    assert result.quote.count == 2 and result.audience.duplicates == 1 and len(result.audience.invalid) == 1
    assert message.points == 2 and balance(customer) == 998 and result.balance_after == 998
    assert sorted(r.mobile for r in message.recipients) == ["96550000001", "96551234567"]
    assert all(r.status == "queued" for r in message.recipients)
    # A small message goes to the dispatch stream, with one drain job to take it.
    assert streamed(redis_url) == [message.id]
    assert Queue("dispatch", connection=Redis.from_url(redis_url)).count == 1
    assert Queue("default", connection=Redis.from_url(redis_url)).count == 0
    assert Message.get_by_id(message.id).enqueued_at is not None
    assert len(message.msg_id) == 32
    assert_ledger_exact(customer)


def test_a_campaign_gets_its_own_dispatch_job(customer, redis_url):
    numbers = [f"9655{i:07d}" for i in range(stream.MAX_RECIPIENTS + 1)]
    message = service.send_message(customer, sender="KWT-SMS", text="Offer", numbers=numbers).message
    assert Queue("default", connection=Redis.from_url(redis_url)).job_ids == [f"dispatch-{message.msg_id}"]
    assert streamed(redis_url) == []
    assert Message.get_by_id(message.id).enqueued_at is not None


def test_groups_and_numbers_are_merged_without_duplicates_and_opt_outs_skipped(customer):
    group = groups.create_group(customer, "Customers")
    for number in ("96550000001", "96550000002", "96550000003"):
        groups.add_contact(group, "", number)
    service.add_opt_outs(customer, "96550000003")
    result = service.send_message(customer, sender="KWT-SMS", text="Offer", numbers="96550000001 96550000009",
                                  group_ids=[group.id])
    assert result.quote.count == 3 and result.audience.duplicates == 1 and result.audience.opted_out == 1


def test_name_placeholder_is_priced_per_recipient(customer):
    group = groups.create_group(customer, "VIP")
    groups.add_contact(group, "Al", "96550000001")
    groups.add_contact(group, "A" * 100, "96550000002")
    text = "Dear {name}, " + "x" * 140  # 153 chars with a short name: 1 page; 240 with a long one: 2 pages
    result = service.send_message(customer, sender="KWT-SMS", text=text, group_ids=[group.id])
    pages = {r[0]: r[2] for r in result.quote.rows}
    assert pages == {"96550000001": 1, "96550000002": 2}
    assert result.message.points == 3


@pytest.mark.parametrize("kwargs, code, field", [
    ({"text": "   \u200b "}, "ERR009", "message"),
    ({"text": "<b>sale</b>"}, "ERR027", "message"),
    ({"text": "x" * (153 * 7 + 1)}, "ERR012", "message"),
    ({"numbers": ""}, "ERR006", "numbers"),
    ({"numbers": "9657119440"}, "ERR025", "numbers"),
    ({"numbers": "12, 34"}, "ERR006", "numbers"),
    ({"sender": "NOPE"}, "ERR008", "sender"),
    ({"sender": "kwt-sms"}, "ERR008", "sender"),
    ({"numbers": "+966 50 123 4567"}, "ERR026", "numbers"),
])
def test_refused_sends_charge_and_queue_nothing(customer, redis_url, kwargs, code, field):
    arguments = {"sender": "KWT-SMS", "text": "Hello", "numbers": "96551234567", **kwargs}
    with pytest.raises(SendRefused) as refused:
        service.send_message(customer, **arguments)
    assert (refused.value.code, refused.value.field) == (code, field)
    assert balance(customer) == 1000 and Message.select().count() == 0
    assert Queue("default", connection=Redis.from_url(redis_url)).count == 0


def test_not_enough_credit_says_how_much_is_missing(customer):
    poor = make_account(balance=1)
    with pytest.raises(SendRefused) as refused:
        service.send_message(poor, sender="KWT-SMS", text="Hi", numbers="96550000001, 96550000002, 96550000003")
    assert refused.value.code == "ERR011" and refused.value.details["missing"] == 2
    broke = make_account()
    with pytest.raises(SendRefused) as refused:
        service.send_message(broke, sender="KWT-SMS", text="Hi", numbers="96550000001")
    assert refused.value.code == "ERR010"
    assert Message.select().count() == 0 and Recipient.select().count() == 0
    assert LedgerEntry.select().where(LedgerEntry.kind == LedgerEntry.SEND).count() == 0
    assert balance(poor) == 1 and balance(broke) == 0


def test_a_send_is_recorded_alike_on_either_side_of_the_one_statement_limit(customer):
    """Up to ONE_STATEMENT_MAX numbers PostgreSQL writes a send in one statement; above, in a
    transaction (SQLite always): the rows must not tell which."""
    ledger.credit(customer, 9_000, reason="a bigger send")
    for count in (service.ONE_STATEMENT_MAX, service.ONE_STATEMENT_MAX + 1):
        before = balance(customer)
        numbers = [f"965{50 if count % 2 == 0 else 99}0{i:05d}" for i in range(count)]
        result = service.send_message(customer, sender="KWT-SMS", text="Hello", numbers=numbers)
        message = Message.get_by_id(result.message.id)
        entry = LedgerEntry.get(LedgerEntry.reference == message.msg_id)
        assert (entry.account_id, entry.kind, entry.amount, entry.balance_after) == (
            customer.id, LedgerEntry.SEND, -count, before - count)
        assert entry.reason == f"SMS from KWT-SMS to {count} numbers" and result.balance_after == before - count
        assert (message.points, message.recipients_count, message.status) == (count, count, Message.QUEUED)
        recipients = list(Recipient.select().where(Recipient.message == message.id).order_by(Recipient.id))
        assert [r.mobile for r in recipients] == numbers
        assert {(r.pages, r.points, r.status, r.error, r.refunded) for r in recipients} == {
            (1, 1, Recipient.QUEUED, "", False)}
    assert_ledger_exact(customer)


def test_test_mode_records_but_charges_and_queues_nothing(customer, redis_url):
    result = service.send_message(customer, sender="KWT-SMS", text="Test", numbers="96550000001", test=True)
    assert result.message.status == "test" and result.message.points == 0
    assert [r.status for r in result.message.recipients] == ["test"]
    assert balance(customer) == 1000
    assert Queue("default", connection=Redis.from_url(redis_url)).count == 0


def test_schedule_in_the_past_is_refused_and_future_goes_to_the_scheduler(customer, redis_url):
    with pytest.raises(SendRefused) as refused:
        service.send_message(customer, sender="KWT-SMS", text="Hi", numbers="96550000001",
                             schedule_at=utcnow() - datetime.timedelta(minutes=1))
    assert refused.value.field == "schedule_at" and balance(customer) == 1000
    when = utcnow() + datetime.timedelta(hours=2)
    result = service.send_message(customer, sender="KWT-SMS", text="Hi", numbers="96550000001", schedule_at=when)
    assert result.message.status == "scheduled" and balance(customer) == 999
    jobs = Queue("default", connection=Redis.from_url(redis_url))
    assert jobs.count == 0  # not runnable yet
    assert jobs.scheduled_job_registry.get_job_ids() == [f"dispatch-{result.message.msg_id}"]
    scheduled_for = jobs.scheduled_job_registry.get_scheduled_time(f"dispatch-{result.message.msg_id}")
    assert abs(scheduled_for.replace(tzinfo=None) - when) < datetime.timedelta(seconds=1)


def test_cancel_refunds_exactly_the_unsent_part(customer):
    result = service.send_message(customer, sender="KWT-SMS", text="Hi",
                                  numbers="96550000001, 96550000002, 96550000003, 96550000004")
    message = result.message
    # A dispatch worker already took two of them.
    taken = [r.id for r in message.recipients.order_by(Recipient.id).limit(2)]
    Recipient.update(status="sent").where(Recipient.id.in_(taken)).execute()
    assert service.cancel_message(customer, message) == 2
    assert balance(customer) == 998
    statuses = sorted(r.status for r in Message.get_by_id(message.id).recipients)
    assert statuses == ["cancelled", "cancelled", "sent", "sent"]
    assert Message.get_by_id(message.id).status == "sending"
    with pytest.raises(SendRefused):
        service.cancel_message(make_account(), message)  # another account's message
    assert_ledger_exact(customer)


def test_repeat_guard_refuses_a_number_sent_to_in_the_last_15_seconds(customer):
    service.send_message(customer, sender="KWT-SMS", text="1", numbers="96550000001", repeat_guard=True)
    with pytest.raises(SendRefused) as refused:
        service.send_message(customer, sender="KWT-SMS", text="2", numbers="96550000002, 96550000001",
                             repeat_guard=True)
    assert refused.value.code == "ERR028" and balance(customer) == 999
    later = utcnow() + datetime.timedelta(seconds=16)
    service.send_message(customer, sender="KWT-SMS", text="3", numbers="96550000001", repeat_guard=True, now=later)


def test_repeat_guard_finds_a_recent_number_beyond_the_first_in_list(customer):
    service.send_message(customer, sender="KWT-SMS", text="1", numbers="96550000600", repeat_guard=True)
    many = [f"965500{i:05d}" for i in range(service.IN_LIST + 200)]  # 96550000600 is in the second IN list
    with pytest.raises(SendRefused) as refused:
        service.send_message(customer, sender="KWT-SMS", text="2", numbers=many, repeat_guard=True)
    assert refused.value.code == "ERR028" and "96550000600" in str(refused.value.message)
    assert balance(customer) == 999


def test_full_queue_refuses_with_err013(customer, app):
    app.config["MAX_QUEUED_MESSAGES"] = 2
    for i in range(2):
        service.send_message(customer, sender="KWT-SMS", text=f"m{i}", numbers="96550000001")
    with pytest.raises(SendRefused) as refused:
        service.send_message(customer, sender="KWT-SMS", text="m3", numbers="96550000001")
    assert refused.value.code == "ERR013"


def test_sweep_queues_messages_accepted_while_redis_was_down(customer, app, redis_url):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    with app.app_context():
        result = service.send_message(customer, sender="KWT-SMS", text="Hi", numbers="96550000001")
    assert result.message.enqueued_at is None and balance(customer) == 999  # accepted all the same
    app.config["REDIS_URL"] = redis_url
    later = utcnow() + datetime.timedelta(minutes=1)
    with app.app_context():
        assert service.sweep_unqueued(now=later) == 1
        assert service.sweep_unqueued(now=later) == 0
    assert streamed(redis_url) == [result.message.id]
    assert Message.get_by_id(result.message.id).enqueued_at is not None


def test_a_message_that_is_only_name_is_refused_for_numbers_without_one(customer):
    with pytest.raises(SendRefused) as refused:
        service.send_message(customer, sender="KWT-SMS", text="{name}", numbers="96550000001")
    assert refused.value.code == "ERR009" and balance(customer) == 1000
    assert Message.select().count() == 0


def test_mixed_countries_are_priced_by_each_destination(customer):
    from kwtsms.destinations.service import invalidate_cache
    from kwtsms.models import AccountCountry, Country
    saudi = Country.get(Country.prefix == "966")
    AccountCountry.create(account=customer.id, country=saudi.id, is_active=True)
    invalidate_cache()
    result = service.send_message(customer, sender="KWT-SMS", text="Hi", numbers="96550000001, +966 50 123 4567")
    points = {r[0]: r[3] for r in result.quote.rows}
    assert points["96550000001"] == 1 and points["966501234567"] == saudi.points_per_page
    assert balance(customer) == 1000 - 1 - saudi.points_per_page
