"""Delivery reports pushed to the account's webhook: signed JSON per final recipient, retried with backoff.

The dispatch engine gives recipients their final state and sends recipients_finalized;
here the test plays the dispatcher: it sets the states itself and sends the signal.
"""
import json

import pytest
from redis import Redis
from rq import Queue, SimpleWorker

from kwtsms.api import webhooks
from kwtsms.events import recipients_finalized
from kwtsms.messages.service import send_message
from kwtsms.models import Recipient

from .test_api_support import make_api_account, official_client, webhook_receiver  # noqa: F401


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WEBHOOK_RETRY_DELAYS": "0,0", "WEBHOOK_TIMEOUT_SECONDS": 5}


@pytest.fixture
def app_context(app):
    with app.app_context():
        yield


@pytest.fixture
def jobs(redis_url):
    return Queue("default", connection=Redis.from_url(redis_url))


def run_jobs(jobs):
    SimpleWorker([jobs], connection=jobs.connection).work(burst=True)


def sent_message(account, jobs, numbers="96550000001,96550000002,96550000003"):
    message = send_message(account, sender="KWT-SMS", text="Your order shipped", numbers=numbers).message
    jobs.empty()  # the dispatch job: this test plays the dispatcher
    return message, [r.id for r in message.recipients.order_by(Recipient.id)]


def finalize(message, states):
    ids = []
    for recipient, state in zip(message.recipients.order_by(Recipient.id), states):
        Recipient.update(status=state).where(Recipient.id == recipient.id).execute()
        ids.append(recipient.id)
    recipients_finalized.send("dispatch", message_id=message.id, recipient_ids=ids)
    return ids


def test_final_states_are_posted_signed_and_the_official_parser_reads_them(app_context, jobs, webhook_receiver):
    account = webhooks.set_webhook(make_api_account(), webhook_receiver.url)
    assert len(account.webhook_secret) == 64
    message, _ = sent_message(account, jobs)
    finalize(message, [Recipient.DELIVERED, Recipient.EXPIRED, Recipient.REJECTED])
    run_jobs(jobs)

    assert len(webhook_receiver.requests) == 3
    parse_webhook = official_client().parse_webhook
    by_number = {}
    for request in webhook_receiver.requests:
        assert request["headers"]["content-type"] == "application/json"
        assert webhooks.verify_signature(account.webhook_secret, request["headers"][webhooks.SIGNATURE_HEADER.lower()],
                                         request["body"])
        assert not webhooks.verify_signature("another-secret", request["headers"][webhooks.SIGNATURE_HEADER.lower()],
                                             request["body"])
        assert not webhooks.verify_signature(account.webhook_secret, request["headers"][webhooks.SIGNATURE_HEADER.lower()],
                                             request["body"] + b" ")
        parsed = parse_webhook(json.loads(request["body"]))
        assert parsed["ok"] and parsed["msg_id"] == message.msg_id
        by_number[parsed["phone"]] = parsed
    assert by_number["96550000001"]["status"] == "DELIVERED" and isinstance(by_number["96550000001"]["delivered_at"], int)
    assert by_number["96550000002"]["status"] == "FAILED" and by_number["96550000002"]["raw"]["state"] == "expired"
    assert by_number["96550000003"]["status"] == "REJECTED" and by_number["96550000003"]["delivered_at"] is None


def test_a_failed_post_is_retried_without_resending_what_was_accepted(app_context, jobs, webhook_receiver):
    account = webhooks.set_webhook(make_api_account(), webhook_receiver.url)
    message, _ = sent_message(account, jobs, numbers="96550000001,96550000002")
    webhook_receiver.answers = [200, 500]  # the second report fails the first time
    finalize(message, [Recipient.DELIVERED, Recipient.FAILED])
    run_jobs(jobs)
    numbers = [json.loads(r["body"])["mobile"] for r in webhook_receiver.requests]
    assert numbers == ["96550000001", "96550000002", "96550000002"]
    assert [r["status"] for r in webhook_receiver.requests] == [200, 500, 200]
    assert len(webhook_receiver.accepted()) == 2


def test_retries_back_off_and_give_up(app, app_context, jobs, webhook_receiver):
    app.config["WEBHOOK_RETRY_DELAYS"] = "10,60"
    assert webhooks.retry_policy().intervals == [10, 60]
    app.config["WEBHOOK_RETRY_DELAYS"] = "0,0"
    account = webhooks.set_webhook(make_api_account(), webhook_receiver.url)
    message, _ = sent_message(account, jobs, numbers="96550000001")
    webhook_receiver.answers = [503, 503, 503, 503]
    finalize(message, [Recipient.DELIVERED])
    run_jobs(jobs)
    assert len(webhook_receiver.requests) == 3  # the first try and two retries
    assert jobs.failed_job_registry.count == 1


def test_no_webhook_no_job_and_not_final_is_not_reported(app_context, jobs, webhook_receiver):
    account = make_api_account()
    message, ids = sent_message(account, jobs)
    finalize(message, [Recipient.DELIVERED])
    assert jobs.count == 0
    account = webhooks.set_webhook(account, webhook_receiver.url)
    recipients_finalized.send("dispatch", message_id=message.id, recipient_ids=ids)  # two are still queued
    run_jobs(jobs)
    assert [json.loads(r["body"])["mobile"] for r in webhook_receiver.requests] == ["96550000001"]


def test_a_receiver_that_fails_never_breaks_the_dispatcher(app_context, jobs, monkeypatch):
    account = webhooks.set_webhook(make_api_account(), "https://example.com/hook")
    message, ids = sent_message(account, jobs)
    monkeypatch.setattr(webhooks.jobs, "queue", lambda: (_ for _ in ()).throw(RuntimeError("redis down")))
    recipients_finalized.send("dispatch", message_id=message.id, recipient_ids=ids)  # logs, does not raise


def test_private_addresses_are_refused_unless_allowed(app, app_context, webhook_receiver):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    with pytest.raises(webhooks.WebhookFailed, match="non-public"):
        webhooks.post(webhook_receiver.url, "secret", {"msg-id": "x", "status": "DELIVERED"})
    assert webhook_receiver.requests == []


def test_redirects_are_not_followed(app_context, webhook_receiver):
    webhook_receiver.answers = [302]
    with pytest.raises(webhooks.WebhookFailed, match="302"):
        webhooks.post(webhook_receiver.url, "secret", {"msg-id": "x", "status": "DELIVERED"})


def test_webhook_url_must_be_a_web_address(app_context):
    from kwtsms.errors import FieldErrors
    account = make_api_account()
    for bad in ("ftp://example.com/x", "example.com/hook", "https://user:pw@example.com/", "javascript:alert(1)"):
        with pytest.raises(FieldErrors):
            webhooks.set_webhook(account, bad)
    assert webhooks.set_webhook(account, "").webhook_url == ""


def test_signatures_expire():
    header = webhooks.sign("s", b"{}", timestamp=1_000_000)
    assert webhooks.verify_signature("s", header, b"{}", now=1_000_100)
    assert not webhooks.verify_signature("s", header, b"{}", now=1_001_000)
    assert not webhooks.verify_signature("s", "garbage", b"{}")
