"""The official kwtSMS Python client (PyPI `kwtsms`) against our API on a real loopback HTTP server."""
import calendar
import json
import urllib.request

import pytest

from kwtsms import ledger
from kwtsms.models import Account, Message, Recipient

from .browser import LiveServer
from .factories import make_sender
from .test_api_support import API_PASSWORD, make_api_account, official_client


@pytest.fixture
def app_config(app_config):
    return {**app_config, "API_RATE_LIMIT": "1000 per second"}


@pytest.fixture
def server(app):
    with LiveServer(app) as live:
        yield live


@pytest.fixture
def kwtsms_client(server):
    """The official client module, pointed at our server."""
    client = official_client()
    original = client._core.BASE_URL
    client._core.BASE_URL = server.url + "/API/"
    yield client
    client._core.BASE_URL = original


@pytest.fixture
def account(app):
    with app.app_context():
        return make_api_account(balance=1000)


def sms_for(kwtsms_client, account, **options):
    return kwtsms_client.KwtSMS(account.api_username, API_PASSWORD, log_file="", **options)


def balance(account):
    return Account.get_by_id(account.id).balance


def test_verify_balance_senderids_coverage(kwtsms_client, account, app):
    sms = sms_for(kwtsms_client, account)
    assert sms.verify() == (True, 1000.0, None)
    assert sms.purchased == 1000.0
    assert sms.balance() == 1000.0
    assert sms.senderids() == {"result": "OK", "senderids": ["KWT-SMS"]}
    with app.app_context():
        make_sender(account, "MYSHOP")
    assert sms.senderids()["senderids"] == ["KWT-SMS", "MYSHOP"]
    coverage = sms.coverage()
    assert coverage["result"] == "OK" and coverage["prefixes"] == ["965"] == coverage["coverage"]


def test_wrong_credentials(kwtsms_client, account):
    ok, value, error = kwtsms_client.KwtSMS(account.api_username, "not-the-password", log_file="").verify()
    assert not ok and value is None and error.startswith("Authentication error")
    ok, _, error = kwtsms_client.KwtSMS("nobody-here", API_PASSWORD, log_file="").verify()
    assert not ok and error.startswith("Authentication error")
    result = kwtsms_client.KwtSMS(account.api_username, "wrong-password", log_file="").send("96598765432", "Hi")
    assert result["code"] == "ERR003" and "action" in result
    assert balance(account) == 1000


def test_send_single_then_status_and_history(kwtsms_client, account, app):
    sms = sms_for(kwtsms_client, account)
    result = sms.send("96598765432", "Your code is 1234")
    assert result["result"] == "OK", result
    assert result["numbers"] == 1 and result["points-charged"] == 1 and result["balance-after"] == 999
    assert len(result["msg-id"]) == 32 and isinstance(result["unix-timestamp"], int)
    assert sms.balance() == 999.0
    message = Message.get(Message.msg_id == result["msg-id"])
    assert message.source == Message.API and message.account_id == account.id and not message.is_test
    assert [r.mobile for r in message.recipients] == ["96598765432"]
    # Kuwait server time: the UTC epoch + 3 hours.
    assert result["unix-timestamp"] == calendar.timegm(message.created_at.timetuple()) + 10800
    report = sms.status(result["msg-id"])
    assert report["result"] == "OK" and report["status"] == "PENDING" and report["delivered-at"] is None
    # Shown in the web history and queue, marked API.
    from .factories import DEFAULT_PASSWORD
    browser = app.test_client()
    browser.post("/login", data={"email": account.email, "password": DEFAULT_PASSWORD})
    page = browser.get("/messages/").get_data(as_text=True)
    assert ">API</span>" in page and "KWT-SMS" in page
    page = browser.get("/messages/queue").get_data(as_text=True)
    assert ">API</span>" in page and "Your code is 1234" in page


def test_send_to_a_list_and_numbers_in_every_format(kwtsms_client, account):
    sms = sms_for(kwtsms_client, account)
    result = sms.send(["+96550000001", "0096550000002", "965 5000 0003", "٩٦٥٥٠٠٠٠٠٠٤"], "Hello all")
    assert result["result"] == "OK" and result["numbers"] == 4 and result["points-charged"] == 4
    message = Message.get(Message.msg_id == result["msg-id"])
    assert sorted(r.mobile for r in message.recipients) == [f"9655000000{i}" for i in range(1, 5)]


def test_the_server_itself_normalises_numbers(server, account):
    """Not only the client: raw requests with +, 00, spaces, brackets and Arabic digits are understood."""
    body = json.dumps({"username": account.api_username, "password": API_PASSWORD, "sender": "KWT-SMS",
                       "mobile": "+965 5100 0001,00965-5100-0002,(965) 51000003,٩٦٥٥١٠٠٠٠٠٤,۹۶۵۵۱۰۰۰۰۰۵",
                       "message": "Raw"}).encode()
    request = urllib.request.Request(server.url + "/API/send/", data=body,
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        reply = json.loads(response.read())
    assert reply["numbers"] == 5
    message = Message.get(Message.msg_id == reply["msg-id"])
    assert sorted(r.mobile for r in message.recipients) == [f"9655100000{i}" for i in range(1, 6)]


def test_send_with_some_invalid_numbers_charges_only_the_valid(kwtsms_client, account):
    sms = sms_for(kwtsms_client, account)
    # "abc" is refused by the client itself; 99912345678 passes its checks but has no country.
    result = sms.send(["96550000011", "99912345678", "abc"], "Mixed")
    assert result["result"] == "OK" and result["numbers"] == 1 and result["points-charged"] == 1
    assert [item["input"] for item in result["invalid"]] == ["abc"]
    assert balance(account) == 999


def test_more_than_200_numbers_are_sent_in_batches(kwtsms_client, account):
    sms = sms_for(kwtsms_client, account)
    numbers = [f"965500{i:05d}" for i in range(250)]
    result = sms.send(numbers, "Bulk")
    assert result["result"] == "OK" and result["bulk"] and result["batches"] == 2, result
    assert result["numbers"] == 250 and result["points-charged"] == 250 and result["balance-after"] == 750
    assert Message.select().where(Message.account == account.id).count() == 2


def test_test_mode_is_validated_recorded_and_free(kwtsms_client, account):
    sms = sms_for(kwtsms_client, account, test_mode=True)
    result = sms.send("96598765400", "Testing")
    assert result["result"] == "OK" and result["points-charged"] == 0 and result["balance-after"] == 1000
    message = Message.get(Message.msg_id == result["msg-id"])
    assert message.is_test and message.status == Message.TEST and message.enqueued_at is None
    assert [r.status for r in message.recipients] == [Recipient.TEST]
    assert balance(account) == 1000
    assert sms.status(result["msg-id"])["code"] == "ERR019"


def test_validate(kwtsms_client, account):
    sms = sms_for(kwtsms_client, account)
    result = sms.validate(["96598765432", "+966 50 123 4567", "99912345678", "hello"])
    assert result["ok"] == ["96598765432"]
    assert result["nr"] == ["966501234567"]
    assert result["er"] == ["99912345678", "hello"]  # ours, then the one the client refused itself


def test_unknown_sender_and_country_not_activated(kwtsms_client, account):
    sms = sms_for(kwtsms_client, account)
    result = sms.send("96598765432", "Hi", sender="NOT-MINE")
    assert result["code"] == "ERR008" and "case sensitive" in result["action"]
    result = sms.send("96598765432", "Hi", sender="kwt-sms")  # case sensitive
    assert result["code"] == "ERR008"
    result = sms.send("966501234567", "Hi")
    assert result["code"] == "ERR026"
    assert balance(account) == 1000 and not Message.select().where(Message.account == account.id).exists()


def test_same_number_within_15_seconds_is_refused_as_a_whole(kwtsms_client, account):
    sms = sms_for(kwtsms_client, account)
    assert sms.send("96598765432", "First")["result"] == "OK"
    result = sms.send(["96598765499", "96598765432"], "Second")
    assert result["code"] == "ERR028" and "15 seconds" in result["action"]
    assert balance(account) == 999 == ledger.ledger_sum(account)
    assert Message.select().where(Message.account == account.id).count() == 1


def test_status_of_unknown_message(kwtsms_client, account):
    sms = sms_for(kwtsms_client, account)
    assert sms.status("0" * 32)["code"] == "ERR020"
    assert sms.status("not-an-id")["code"] == "ERR020"


def test_webhook_payload_is_what_parse_webhook_reads(kwtsms_client, app):
    from kwtsms.api.webhooks import payload
    with app.app_context():
        account = make_api_account()
        from kwtsms.messages.service import send_message
        message = send_message(account, sender="KWT-SMS", text="x", numbers="96598765432").message
        recipient = message.recipients[0]
        Recipient.update(status=Recipient.DELIVERED).where(Recipient.id == recipient.id).execute()
        parsed = kwtsms_client.parse_webhook(payload(message, Recipient.get_by_id(recipient.id)))
    assert parsed["ok"] and parsed["msg_id"] == message.msg_id and parsed["phone"] == "96598765432"
    assert parsed["status"] == "DELIVERED" and isinstance(parsed["delivered_at"], int)
