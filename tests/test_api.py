"""The API's endpoints and every error code of API.md, bad input, and access rules."""
import datetime
import json
import time

import pytest

from kwtsms import ledger
from kwtsms.admin.service import block_account
from kwtsms.api import content, credentials
from kwtsms.destinations.service import set_account_country
from kwtsms.messages.service import send_message
from kwtsms.models import Account, ContentRule, Country, Message, Recipient, utcnow

from .factories import make_account
from .test_api_support import API_PASSWORD, api, make_api_account


@pytest.fixture
def app_config(app_config):
    return {**app_config, "API_RATE_LIMIT": "1000 per second"}


@pytest.fixture(autouse=True)
def app_context(app):
    # Services read settings from the app; API requests use no session, so sharing the context is safe.
    with app.app_context():
        yield


@pytest.fixture
def account(app_context):
    return make_api_account(balance=100)


def balance(account):
    return Account.get_by_id(account.id).balance


def nothing_charged_or_queued(account, points=100):
    assert balance(account) == points == ledger.ledger_sum(account)
    assert not Message.select().where(Message.account == account.id).exists()
    return True


def send_params(**overrides):
    return {"sender": "KWT-SMS", "mobile": "96598765432", "message": "Hello", **overrides}


# --- OK replies ------------------------------------------------------------------------

def test_balance_senderid_coverage(client, account):
    assert api(client, "balance", account) == (200, {"result": "OK", "available": 100, "purchased": 100, "balance": 100})
    assert api(client, "senderid", account) == (200, {"result": "OK", "senderid": ["KWT-SMS"]})
    assert api(client, "coverage", account) == (200, {"result": "OK", "prefixes": ["965"], "coverage": ["965"]})


def test_purchased_counts_recharges_only(client, account):
    send_message(account, sender="KWT-SMS", text="x", numbers="96550000001")
    ledger.adjust(account, 5, actor=None, reason="goodwill")
    status, reply = api(client, "balance", account)
    assert reply == {"result": "OK", "available": 104, "purchased": 100, "balance": 104}


def test_send_reply_and_kuwait_timestamp(client, account, monkeypatch):
    status, reply = api(client, "send", account, **send_params(mobile="96598765432,96598765433"))
    assert status == 200 and reply["result"] == "OK"
    assert set(reply) == {"result", "msg-id", "numbers", "points-charged", "balance-after", "unix-timestamp"}
    message = Message.get(Message.msg_id == reply["msg-id"])
    created = message.created_at.replace(tzinfo=datetime.UTC)
    assert reply["unix-timestamp"] == int(created.timestamp()) + 10800
    assert reply["numbers"] == 2 and reply["points-charged"] == 2 and reply["balance-after"] == 98
    assert message.source == Message.API


def test_validate_sorts_numbers(client, account):
    status, reply = api(client, "validate", account,
                        mobile="+965 9876 5432, 0096598765432, 966501234567, 123, 96522345678, ٩٦٥٥٠٠٠٠٠٠١")
    assert status == 200
    assert reply["mobile"] == {"OK": ["96598765432", "96550000001"], "ER": ["123", "96522345678"],
                               "NR": ["966501234567"]}


def test_numbers_as_json_numbers_and_lists(client, account):
    status, reply = api(client, "send", account, sender="KWT-SMS", mobile=96598765432, message=12345, test=1)
    assert status == 200 and reply["numbers"] == 1 and reply["points-charged"] == 0
    status, reply = api(client, "send", account, sender="KWT-SMS", mobile=[96598765431, "+96598765430"],
                        message="list")
    assert status == 200 and reply["numbers"] == 2
    status, reply = api(client, "validate", account, mobile=9.6598765432e10)
    assert reply["mobile"]["OK"] == ["96598765432"]


def test_unknown_fields_are_ignored_and_the_path_works_without_slash(client, account):
    response = client.post("/API/balance", json={"username": account.api_username, "password": API_PASSWORD,
                                                 "lang": "ar", "extra": {"nested": [1, 2]}})
    assert response.status_code == 200 and response.get_json()["available"] == 100


def test_form_encoded_legacy_clients(client, account):
    response = client.post("/API/send/", data={"username": account.api_username, "password": API_PASSWORD,
                                               **send_params()})
    assert response.status_code == 200 and response.get_json()["numbers"] == 1


def test_status_dlr_report_through_a_messages_life(client, account):
    reply = api(client, "send", account, **send_params(mobile="96550000001,96550000002,96550000003"))[1]
    msgid = reply["msg-id"]
    message = Message.get(Message.msg_id == msgid)

    def states(*values):
        for recipient, value in zip(message.recipients.order_by(Recipient.id), values):
            Recipient.update(status=value, updated_at=datetime.datetime(2026, 1, 2, 3, 4, 5)).where(
                Recipient.id == recipient.id).execute()

    assert api(client, "status", account, msgid=msgid)[1]["status"] == "queued"
    assert api(client, "dlr", account, msgid=msgid)[1]["code"] == "ERR021"
    assert api(client, "report", account, msgid=msgid)[1]["status"] == "PENDING"

    states("sent", "submitting", "queued")
    assert api(client, "status", account, msgid=msgid)[1]["status"] == "sending"
    states("sent", "sent", "sent")
    assert api(client, "status", account, msgid=msgid)[1]["status"] == "sent"
    status, reply = api(client, "dlr", account, msgid=msgid)
    assert (status, reply["code"]) == (409, "ERR022")

    states("delivered", "failed", "sent")
    status, reply = api(client, "dlr", account, msgid=msgid)
    assert reply["report"] == [{"Number": "96550000001", "Status": "DELIVERED"},
                               {"Number": "96550000002", "Status": "FAILED"},
                               {"Number": "96550000003", "Status": "PENDING"}]
    assert api(client, "report", account, msgid=msgid)[1]["status"] == "PENDING"

    states("delivered", "failed", "rejected")
    reply = api(client, "report", account, msgid=msgid)[1]
    assert reply["status"] == "DELIVERED" and reply["msg-id"] == msgid
    assert reply["delivered-at"] == int(datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC).timestamp()) + 10800
    status_reply = api(client, "status", account, msgid=msgid)[1]
    assert status_reply["status"] == "done" and "1 delivered, 2 failed" in status_reply["description"]

    states("rejected", "rejected", "rejected")
    assert api(client, "report", account, msgid=msgid)[1] | {"delivered-at": None} == {
        **api(client, "report", account, msgid=msgid)[1], "status": "REJECTED", "delivered-at": None}
    states("delivered", "delivered", "delivered")
    assert api(client, "status", account, msgid=msgid)[1]["status"] == "delivered"
    states("failed", "expired", "cancelled")
    assert api(client, "report", account, msgid=msgid)[1]["status"] == "FAILED"
    assert api(client, "status", account, msgid=msgid)[1]["status"] == "failed"


def test_messages_of_another_account_do_not_exist(client, account, app):
    other = make_api_account(username="other-dev")
    msgid = api(client, "send", other, **send_params())[1]["msg-id"]
    assert api(client, "status", account, msgid=msgid)[1]["code"] == "ERR029"
    assert api(client, "dlr", account, msgid=msgid)[1]["code"] == "ERR020"
    status, reply = api(client, "report", account, msgid=msgid)
    assert (status, reply["code"]) == (404, "ERR020")


# --- every error code ------------------------------------------------------------------

def test_err001_api_turned_off(client, account):
    credentials.set_enabled(account, False)
    status, reply = api(client, "balance", account)
    assert (status, reply["code"]) == (403, "ERR001")


@pytest.mark.parametrize("params", [{}, {"username": "x"}, {"password": "y"}])
def test_err002_credentials_missing(client, params):
    status, reply = api(client, "balance", **params)
    assert (status, reply["code"]) == (400, "ERR002")


@pytest.mark.parametrize("missing", ["sender", "mobile", "message"])
def test_err002_send_parameter_missing(client, account, missing):
    params = send_params()
    del params[missing]
    status, reply = api(client, "send", account, **params)
    assert (status, reply["code"]) == (400, "ERR002") and missing in reply["description"]
    assert nothing_charged_or_queued(account)


@pytest.mark.parametrize("endpoint", ["validate", "status", "dlr", "report"])
def test_err002_other_parameters_missing(client, account, endpoint):
    assert api(client, endpoint, account)[1]["code"] == "ERR002"


def test_err003_wrong_credentials(client, account):
    for username, password in [(account.api_username, "wrong-password"), ("nobody", API_PASSWORD),
                               (account.api_username.upper(), "x" * 500), (["list"], {"dict": 1})]:
        status, reply = api(client, "send", username=username, password=password, **send_params())
        assert (status, reply["code"]) == (401, "ERR003")
        assert reply["description"].startswith("Authentication error")
    assert nothing_charged_or_queued(account)


def test_err003_the_portal_login_is_not_the_api_login(client, account):
    from .factories import DEFAULT_PASSWORD
    assert api(client, "balance", username=account.email, password=DEFAULT_PASSWORD)[1]["code"] == "ERR003"


def test_username_is_not_case_sensitive(client, account):
    assert api(client, "balance", username=account.api_username.upper(), password=API_PASSWORD)[0] == 200


def test_err004_no_api_access(client, account, app):
    admin = make_account(role="admin")
    credentials.grant_access(admin, account, False)
    assert api(client, "balance", account) [1]["code"] == "ERR004"
    credentials.grant_access(admin, account, True)
    assert api(client, "balance", account)[0] == 200
    # Without a decision of the operator, the API_ACCESS_DEFAULT setting decides.
    Account.update(api_access_granted=None).where(Account.id == account.id).execute()
    app.config["API_ACCESS_DEFAULT"] = False
    assert api(client, "balance", account)[1]["code"] == "ERR004"


def test_err005_blocked_account(client, account):
    block_account(make_account(role="admin"), account, "unpaid invoices")
    status, reply = api(client, "send", account, **send_params())
    assert (status, reply["code"]) == (403, "ERR005")
    assert nothing_charged_or_queued(account)


@pytest.mark.parametrize("mobile, code", [("123, 456", "ERR006"), ("abc", "ERR025"), (",", "ERR002"),
                                          ("96512345678", "ERR025")])
def test_err006_err025_invalid_numbers(client, account, mobile, code):
    status, reply = api(client, "send", account, **send_params(mobile=mobile))
    assert (status, reply["code"]) == (400, code)
    assert nothing_charged_or_queued(account)


def test_err007_more_than_200_numbers(client, account):
    numbers = ",".join(f"965500{i:05d}" for i in range(201))
    status, reply = api(client, "send", account, **send_params(mobile=numbers))
    assert (status, reply["code"]) == (400, "ERR007")
    assert api(client, "validate", account, mobile=numbers)[1]["code"] == "ERR007"
    assert nothing_charged_or_queued(account)
    numbers = ",".join(f"965500{i:05d}" for i in range(200))
    assert api(client, "send", account, **send_params(mobile=numbers, test="1"))[1]["numbers"] == 200


def test_err007_ten_thousand_numbers(client, account):
    numbers = [f"965500{i:05d}" for i in range(10_000)]
    status, reply = api(client, "send", account, **send_params(mobile=numbers))
    assert (status, reply["code"]) == (400, "ERR007") and "10000" in reply["description"]
    assert nothing_charged_or_queued(account)


@pytest.mark.parametrize("sender", ["NOPE", "kwt-sms", " ", 123])
def test_err008_sender(client, account, sender):
    status, reply = api(client, "send", account, **send_params(sender=sender))
    assert reply["code"] == ("ERR002" if sender == " " else "ERR008")
    assert nothing_charged_or_queued(account)


@pytest.mark.parametrize("message", ["", "   ", "\u200b\u200b", "\x00"])
def test_err009_empty_message(client, account, message):
    status, reply = api(client, "send", account, **send_params(message=message))
    assert (status, reply["code"]) == (400, "ERR009")
    assert nothing_charged_or_queued(account)


def test_err010_zero_balance(client, app):
    account = make_api_account(balance=0)
    status, reply = api(client, "send", account, **send_params())
    assert (status, reply["code"]) == (402, "ERR010")
    assert nothing_charged_or_queued(account, points=0)


def test_err011_balance_too_low(client, app):
    account = make_api_account(balance=1)
    status, reply = api(client, "send", account, **send_params(mobile="96550000001,96550000002"))
    assert (status, reply["code"]) == (402, "ERR011")
    assert nothing_charged_or_queued(account, points=1)


def test_err012_longer_than_7_pages_and_a_1mb_message(client, account):
    assert api(client, "send", account, **send_params(message="x" * (153 * 7 + 1)))[1]["code"] == "ERR012"
    status, reply = api(client, "send", account, **send_params(message="x" * 1_000_000))
    assert (status, reply["code"]) == (400, "ERR012")
    assert nothing_charged_or_queued(account)


def test_err013_queue_full(client, account, app):
    app.config["MAX_QUEUED_MESSAGES"] = 1
    assert api(client, "send", account, **send_params())[0] == 200
    status, reply = api(client, "send", account, **send_params(mobile="96598765431"))
    assert (status, reply["code"]) == (429, "ERR013")
    assert balance(account) == 99


def test_err019_no_reports_for_test_or_cancelled_messages(client, account):
    msgid = api(client, "send", account, **send_params(test="1"))[1]["msg-id"]
    assert api(client, "dlr", account, msgid=msgid)[1]["code"] == "ERR019"
    assert api(client, "report", account, msgid=msgid)[1]["code"] == "ERR019"
    assert api(client, "status", account, msgid=msgid)[1]["status"] == "test"
    msgid = api(client, "send", account, **send_params(mobile="96598765431"))[1]["msg-id"]
    Recipient.update(status=Recipient.CANCELLED).execute()
    assert api(client, "dlr", account, msgid=msgid)[1]["code"] == "ERR019"


def test_err020_unknown_message(client, account):
    for msgid in ("0" * 32, "nope", "' OR 1=1 --"):
        assert api(client, "dlr", account, msgid=msgid)[1]["code"] == "ERR020"
        assert api(client, "report", account, msgid=msgid)[1]["code"] == "ERR020"


def test_err021_err022_err023_reports_not_ready_or_unknown(client, account):
    msgid = api(client, "send", account, **send_params())[1]["msg-id"]
    assert api(client, "dlr", account, msgid=msgid)[1]["code"] == "ERR021"
    Recipient.update(status=Recipient.SENT).execute()
    assert api(client, "dlr", account, msgid=msgid)[1]["code"] == "ERR022"
    Recipient.update(status="bogus").execute()
    status, reply = api(client, "dlr", account, msgid=msgid)
    assert (status, reply["code"]) == (409, "ERR023")
    Recipient.delete().execute()
    assert api(client, "report", account, msgid=msgid)[1]["code"] == "ERR023"


def test_err024_ip_lockdown(client, account):
    credentials.set_ip_whitelist(account, "10.0.0.0/8\n192.0.2.7")
    status, reply = api(client, "balance", account)
    assert (status, reply["code"]) == (403, "ERR024") and "127.0.0.1" in reply["description"]
    for address in ("10.1.2.3", "192.0.2.7"):
        response = client.post("/API/balance/", json={"username": account.api_username, "password": API_PASSWORD},
                               environ_base={"REMOTE_ADDR": address})
        assert response.status_code == 200, address
    credentials.set_ip_whitelist(account, "127.0.0.1, ::1")
    assert api(client, "balance", account)[0] == 200
    credentials.set_ip_whitelist(account, "")
    assert api(client, "balance", account)[0] == 200


def test_ip_whitelist_refuses_what_is_not_an_address(account):
    from kwtsms.errors import FieldErrors
    with pytest.raises(FieldErrors) as refused:
        credentials.set_ip_whitelist(account, "10.0.0.1\nexample.com\n300.1.1.1")
    assert "example.com" in str(refused.value.errors["ip_whitelist"])


def test_err026_country_not_activated(client, account):
    status, reply = api(client, "send", account, **send_params(mobile="966501234567"))
    assert (status, reply["code"]) == (400, "ERR026")
    assert nothing_charged_or_queued(account)


@pytest.mark.parametrize("message", ["<b>Sale</b>", "Click <a href='x'>here</a>"])
def test_err027_html(client, account, message):
    assert api(client, "send", account, **send_params(message=message))[1]["code"] == "ERR027"
    assert nothing_charged_or_queued(account)


def test_err028_same_number_within_15_seconds(client, account):
    assert api(client, "send", account, **send_params())[0] == 200
    status, reply = api(client, "send", account, **send_params(mobile="96550000001,+965 9876 5432"))
    assert (status, reply["code"]) == (429, "ERR028")
    assert balance(account) == 99 and Message.select().count() == 1
    # Test sends do not count, and a test send is not blocked by them.
    assert api(client, "send", account, **send_params(mobile="96550000009", test="1"))[0] == 200
    assert api(client, "send", account, **send_params(mobile="96550000009"))[0] == 200


def test_err029_status_of_a_wrong_message_id(client, account):
    status, reply = api(client, "status", account, msgid="f" * 32)
    assert (status, reply["code"]) == (404, "ERR029")


def test_err030_message_stuck_in_the_queue(client, account):
    msgid = api(client, "send", account, **send_params())[1]["msg-id"]
    Message.update(enqueued_at=None, created_at=utcnow() - datetime.timedelta(minutes=30)).execute()
    status, reply = api(client, "status", account, msgid=msgid)
    assert (status, reply["code"]) == (409, "ERR030")


@pytest.mark.parametrize("kind, phrase, text, code", [
    (ContentRule.BAD_LANGUAGE, "darn", "Well DARN it", "ERR031"),
    (ContentRule.SPAM, "free   money", "Get free money now", "ERR032"),
    (ContentRule.SPAM, "bit.ly", "See bit.ly/x", "ERR032"),
])
def test_err031_err032_operator_word_lists(client, account, kind, phrase, text, code):
    content.add_rule(make_account(role="admin"), kind, phrase)
    status, reply = api(client, "send", account, **send_params(message=text))
    assert (status, reply["code"]) == (400, code)
    assert nothing_charged_or_queued(account)
    # Whole words only.
    assert api(client, "send", account, **send_params(message="darning freemoney bitxly"))[0] == 200


def test_err033_no_coverage(client, account):
    admin = make_account(role="admin")
    for country in Country.select().where(Country.active_by_default == True):  # noqa: E712
        set_account_country(admin, account, country, False)
    status, reply = api(client, "coverage", account)
    assert (status, reply["code"]) == (400, "ERR033")


def test_every_error_code_of_the_contract_is_described():
    from kwtsms.api.service import DESCRIPTIONS
    contract = [f"ERR{n:03d}" for n in [*range(1, 14), *range(19, 34)]]
    assert all(code in DESCRIPTIONS for code in contract)
    assert DESCRIPTIONS["ERR003"].startswith("Authentication error")


# --- bad input -----------------------------------------------------------------------

def raw(client, body, content_type="application/json", path="/API/send/"):
    response = client.post(path, data=body, content_type=content_type)
    assert response.mimetype == "application/json"
    return response.status_code, response.get_json()


@pytest.mark.parametrize("body, content_type, status, code", [
    (b"{not json", "application/json", 400, "ERR400"),
    (b"[1, 2]", "application/json", 400, "ERR400"),
    (b'"just a string"', "application/json", 400, "ERR400"),
    (b"[" * 100_000, "application/json", 400, "ERR400"),
    (b'{"username": "\xff\xfe\xfd"}', "application/json", 400, "ERR400"),
    (b"\xff\xfe\x00\x01garbage", "application/json", 400, "ERR400"),
    (b"<send/>", "application/xml", 415, "ERR415"),
    (b"username=a&password=b", "image/png", 415, "ERR415"),
    (b"", "application/json", 400, "ERR002"),
    (b"username=%ff%fe&password=%00", "application/x-www-form-urlencoded", 401, "ERR003"),
    (b"username=nobody&password=x\xff", "", 401, "ERR003"),
    (b'{"username": "a\\ud800", "password": "b"}', "application/json", 401, "ERR003"),
])
def test_unreadable_bodies_get_a_json_4xx(client, account, body, content_type, status, code):
    assert raw(client, body, content_type)[:1] == (status,)
    assert raw(client, body, content_type)[1]["code"] == code
    assert nothing_charged_or_queued(account)


def test_bad_values_inside_valid_json(client, account):
    base = {"username": account.api_username, "password": API_PASSWORD}
    for params in ({"sender": {"x": 1}, "mobile": "96598765432", "message": "x"},
                   {"sender": "KWT-SMS", "mobile": {"a": 1}, "message": "x"},
                   {"sender": "KWT-SMS", "mobile": "96598765432", "message": "bad \ud800 surrogate"},
                   {"sender": "KWT-SMS", "mobile": "96598765432", "message": ["x"]},
                   {"sender": "KWT-SMS", "mobile": [None, {"x": 1}], "message": "x"}):
        status, reply = raw(client, json.dumps({**base, **params}))
        assert status == 400 and reply["code"] in ("ERR002", "ERR006", "ERR025"), (params, reply)
    assert nothing_charged_or_queued(account)


def test_nul_characters_do_not_reach_the_database(client, account):
    status, reply = api(client, "send", account, **send_params(message="Hel\x00lo", sender="KWT-SMS\x00"))
    assert status == 200
    assert Message.get(Message.msg_id == reply["msg-id"]).text == "Hello"


def test_bodies_over_the_limit_are_refused(client, account, app):
    app.config["API_MAX_BODY_BYTES"] = 10_000
    status, reply = raw(client, json.dumps({"username": "x", "password": "y", "message": "x" * 20_000}))
    assert (status, reply["code"]) == (413, "ERR413")
    status, reply = raw(client, "username=x&message=" + "x" * 20_000, "application/x-www-form-urlencoded")
    assert (status, reply["code"]) == (413, "ERR413")


def test_http_level_errors_are_json(client):
    response = client.get("/API/balance/?username=a&password=b")
    assert response.status_code == 405 and response.get_json()["code"] == "ERR405"
    assert response.headers["Allow"] == "POST"
    for path in ("/API/unknown/", "/API/", "/API", "/API/a/b/c"):
        response = client.post(path)
        assert response.status_code == 404 and response.get_json()["code"] == "ERR404", path


def test_replies_set_no_cookie_and_need_no_csrf(app_config, redis_client, account):
    from kwtsms import create_app
    app = create_app({**app_config, "WTF_CSRF_ENABLED": True})
    client = app.test_client()
    response = client.post("/API/balance/", json={"username": account.api_username, "password": API_PASSWORD})
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


def test_an_unexpected_failure_is_a_json_500(client, account, monkeypatch):
    from kwtsms.api import service
    monkeypatch.setitem(service.ENDPOINTS, "balance", lambda account, params: 1 / 0)
    response = client.post("/API/balance/", json={"username": account.api_username, "password": API_PASSWORD})
    assert response.status_code == 500 and response.get_json()["code"] == "ERR500"


# --- credentials ------------------------------------------------------------------------

def test_the_slow_hash_is_checked_once_then_an_hmac(client, account, monkeypatch):
    from kwtsms.api import credentials as module
    calls = []
    real = module.check_password_hash
    monkeypatch.setattr(module, "check_password_hash", lambda *args: calls.append(1) or real(*args))
    for _ in range(5):
        assert api(client, "balance", account)[0] == 200
    assert len(calls) <= 1
    for _ in range(3):  # a wrong password pays the slow check once, then is refused from memory
        assert api(client, "balance", account, password="wrong-password")[0] == 401
    assert len(calls) <= 2
    # The password hash is not the password; the cache holds no password.
    stored = Account.get_by_id(account.id).api_password_hash
    assert stored.startswith("scrypt:") and API_PASSWORD not in stored
    assert all(API_PASSWORD.encode() not in value for value in module._verified.values())


def test_a_new_password_retires_the_old_one_at_once(client, account):
    assert api(client, "balance", account)[0] == 200  # cached now
    account, new_password = credentials.regenerate_password(account)
    assert api(client, "balance", account)[1]["code"] == "ERR003"
    assert api(client, "balance", account, password=new_password)[0] == 200
    assert len(new_password) >= 24


def test_a_different_secret_key_does_not_reuse_verifications(app_config, redis_client, account):
    from kwtsms import create_app
    first = create_app(app_config).test_client()
    assert api(first, "balance", account)[0] == 200
    other = create_app({**app_config, "SECRET_KEY": "another"}).test_client()
    assert api(other, "balance", account)[0] == 200
    assert api(other, "balance", account, password="wrong-password")[0] == 401


# --- rate limit ------------------------------------------------------------------------

def test_rate_limit_default_is_5_per_second_per_ip(app_config, redis_client, account):
    from kwtsms import create_app
    app = create_app({k: v for k, v in app_config.items() if k != "API_RATE_LIMIT"})
    assert app.config["API_RATE_LIMIT"] == "5 per second"
    client = app.test_client()
    statuses = [client.post("/API/balance/", json={"username": account.api_username, "password": API_PASSWORD})
                for _ in range(11)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    reply = limited[0].get_json()
    assert reply["result"] == "ERROR" and reply["code"] == "ERR429" and limited[0].headers["Retry-After"] == "1"


def test_rate_limit_is_configurable_and_per_ip(app_config, redis_client, account):
    from kwtsms import create_app
    # Per hour, not per minute: four calls straddling a window's end would all pass.
    client = create_app({**app_config, "API_RATE_LIMIT": "3 per hour"}).test_client()
    body = {"username": account.api_username, "password": API_PASSWORD}
    codes = [client.post("/API/balance/", json=body).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = client.post("/API/balance/", json=body)
    window_left = 3600 - time.time() % 3600  # Retry-After says when this hour's window ends
    assert abs(int(limited.headers["Retry-After"]) - window_left) <= 1
    other_ip = client.post("/API/balance/", json=body, environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other_ip.status_code == 200
    # The API's limit is its own: the login form keeps its limit.
    assert client.get("/login").status_code == 200
