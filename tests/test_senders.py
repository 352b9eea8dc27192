"""Sender IDs: naming rules, blocked names and look-alikes, approval and
suspension, the admin override, the mobile number as sender, and the Kuwait rule."""
import datetime
import json
import logging
import re

import pytest

from kwtsms.errors import FieldErrors
from kwtsms.models import Account, AuditLog, BlockedName, MobileVerification, SenderId, utcnow
from kwtsms.senders import service

from .factories import make_account, make_sender, verify_account_mobile


def _error(callable_, *args, **kwargs):
    with pytest.raises(FieldErrors) as raised:
        callable_(*args, **kwargs)
    return raised.value.errors


# --- Naming rules ------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "MyShop", "KWT", "A", "Gulf Roses", "AL-NOOR", "B&Q", "shop.kw", "ABCDEFGHIJK", "Shop 24", "7ELEVEN",
    "Kuwait", "KUWAIT",
])
def test_valid_sender_ids(app, name):
    account = make_account()
    sender = service.request_sender(account, name, SenderId.TRANSACTIONAL)
    assert sender.name == name and sender.status == SenderId.REQUESTED and not sender.is_mobile


@pytest.mark.parametrize("name, reason", [
    ("", "Enter a sender ID"),
    ("ABCDEFGHIJKL", "at most 11 characters; this one has 12"),
    ("-SHOP", "cannot start or end"),
    ("SHOP.", "cannot start or end"),
    ("&SHOP", "cannot start or end"),
    ("متجر", "Arabic letters cannot be used"),
    ("SHOPمتجر", "Arabic letters cannot be used"),
    ("SHOP😀", "cannot be used in a sender ID: 😀"),
    ("MY_SHOP", "cannot be used in a sender ID: _"),
    ("Café", "cannot be used in a sender ID: é"),
    ("12-34", "needs at least one letter"),
    ("96599999999", "must be your own registered mobile number"),
    ("1234567890123456", "at most 15 digits"),
    ("KWT-SMS", "shared test sender"),
    ("kwt sms", "shared test sender"),
])
def test_invalid_sender_ids_say_why(app, name, reason):
    account = make_account()
    errors = _error(service.request_sender, account, name, SenderId.TRANSACTIONAL)
    assert reason in str(errors["name"])
    assert SenderId.select().count() == 0


def test_case_is_kept_and_matters_and_duplicates_are_refused(app):
    account = make_account()
    service.request_sender(account, "Kuwait", SenderId.PROMOTIONAL)
    service.request_sender(account, "KUWAIT", SenderId.PROMOTIONAL)
    errors = _error(service.request_sender, account, "Kuwait", SenderId.TRANSACTIONAL)
    assert "already have the sender ID Kuwait" in str(errors["name"])
    # Another account may ask for the same name (each is reviewed on its own).
    assert service.request_sender(make_account(), "Kuwait", SenderId.PROMOTIONAL).status == SenderId.REQUESTED


def test_type_must_be_promotional_or_transactional(app):
    errors = _error(service.request_sender, make_account(), "MyShop", "marketing")
    assert "kind" in errors


def test_request_page_shows_each_reason_beside_the_field(login):
    browser, _ = login()
    for name, reason in [("", "Enter a sender ID"), ("ABCDEFGHIJKLM", "at most 11 characters"),
                         ("SHOP-", "cannot start or end"), ("متجر", "Arabic letters"),
                         ("SHOP😀", "cannot be used"), ("96599999999", "own registered mobile number"),
                         ("Z4IN", "belongs to a mobile carrier")]:
        response = browser.post("/senders/new", data={"name": name, "kind": "transactional"})
        page = response.get_data(as_text=True)
        assert response.status_code == 400, name
        field = re.search(r'<input[^>]*id="name"[^>]*>\s*<div id="name-feedback"[^>]*>\s*'
                          r'<div class="invalid-feedback d-block">([^<]*)</div>', page)
        assert field and reason in field.group(1).replace("&#34;", '"').replace("&#39;", "'"), (name, page)
    # The duplicate, too.
    assert browser.post("/senders/new", data={"name": "MyShop", "kind": "promotional"}).status_code == 303
    page = browser.post("/senders/new", data={"name": "MyShop", "kind": "promotional"}).get_data(as_text=True)
    assert "You already have the sender ID MyShop" in page


def test_request_page_explains_the_two_types(login):
    browser, _ = login()
    page = browser.get("/senders/new").get_data(as_text=True)
    assert "Promotional" in page and "do-not-disturb" in page
    assert "Transactional" in page and "One-time codes" in page


def test_inline_check_answers_with_the_feedback_only(login):
    browser, _ = login()
    response = browser.post("/senders/check", data={"name": "N.B.K"}, headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html and "NBK" in html and "a bank" in html
    html = browser.post("/senders/check", data={"name": "GulfRoses"}, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "This name can be requested" in html


# --- Blocked names and look-alikes ----------------------------------------------------------

@pytest.mark.parametrize("name, blocked", [
    ("ZAIN", "ZAIN"), ("zain", "ZAIN"), ("Z4IN", "ZAIN"), ("ZA1N", "ZAIN"), ("Z.A.I.N", "ZAIN"),
    ("N.B.K", "NBK"), ("NBK-KW", "NBK"), ("KW NBK", "NBK"), ("NBKKW", "NBK"), ("NBK SMS", "NBK"),
    ("0OREDOO", "Ooredoo"), ("OOREDOOKW", "Ooredoo"), ("MyOoredoo", "Ooredoo"), ("Gulf Bank", "Gulf Bank"),
    ("GU1F-BANK", "Gulf Bank"), ("GULFBANKKW", "Gulf Bank"), ("5TC", "STC"), ("STC PAY", "STC"),
    ("M0I", "MOI"), ("MOI-KW", "MOI"), ("KFH Online", "KFH"), ("B0UBYAN", "Boubyan"), ("BURGAN1", "Burgan"),
    ("CITRA", "CITRA"), ("Warba Bank", "Warba"), ("Q8 ABK", "ABK"), ("K1B", "KIB"), ("CBK.KW", "CBK"),
])
def test_names_of_others_are_blocked_with_look_alikes(app, name, blocked):
    match = service.blocked_match(name)
    assert match is not None and match.name == blocked, (name, match and match.name)
    errors = _error(service.request_sender, make_account(), name, SenderId.TRANSACTIONAL)
    assert blocked in str(errors["name"]) and "Only its owner may use it" in str(errors["name"])


@pytest.mark.parametrize("name", [
    # Short blocked names (ABK, ZAIN, MOH, STC, NBK) never match inside an ordinary word.
    "ABKARY TRAD", "ZAINAB", "MOHAMMED", "STCAFE", "SNBKR", "Kuwait", "GULF ROSES", "BANK SHOP", "Mobile 24",
])
def test_ordinary_names_that_merely_contain_a_short_blocked_name_pass(app, name):
    assert service.blocked_match(name) is None
    assert service.request_sender(make_account(), name, SenderId.PROMOTIONAL).status == SenderId.REQUESTED


def test_lookalike_key():
    assert service.lookalike_key("Z4IN") == service.lookalike_key("zain") == "zain"
    assert service.lookalike_key("N.B.K") == "nbk"
    assert service.lookalike_key("G00GLE") == service.lookalike_key("google")
    assert service.lookalike_key("5$") == "ss"


def test_admin_edits_the_blocked_list(login):
    admin_client, admin = login("admin")
    account = make_account()
    assert service.blocked_match("ACMEKW") is None
    response = admin_client.post("/admin/blocked-names", data={"name": "Acme", "category": "brand"})
    assert response.status_code == 303
    assert service.blocked_match("ACME-KW").name == "Acme"
    assert "Acme" in str(_error(service.request_sender, account, "4CME", SenderId.PROMOTIONAL)["name"])

    page = admin_client.post("/admin/blocked-names", data={"name": "A.C.M.E", "category": "brand"}).get_data(as_text=True)
    assert "Already blocked as Acme" in page
    assert admin_client.post("/admin/blocked-names", data={"name": "", "category": "brand"}).status_code == 400

    blocked = BlockedName.get(BlockedName.name == "Acme")
    response = admin_client.post(f"/admin/blocked-names/{blocked.id}/delete", headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.get_data(as_text=True) == ""
    assert service.request_sender(account, "4CME", SenderId.PROMOTIONAL).status == SenderId.REQUESTED
    actions = [row.action for row in AuditLog.select().where(AuditLog.actor == admin.id).order_by(AuditLog.id)]
    assert actions == ["blocked_name.added", "blocked_name.removed"]
    assert "ZAIN" in admin_client.get("/admin/blocked-names").get_data(as_text=True)  # seeded by the migration


# --- The workflow --------------------------------------------------------------------------

def test_approval_suspension_and_reinstatement(login):
    admin_client, admin = login("admin")
    customer_client, customer = login()
    sender = service.request_sender(customer, "GulfRoses", SenderId.PROMOTIONAL)
    assert service.senders_for(customer) == ["KWT-SMS"]
    assert not service.check_sender(customer, "GulfRoses", ["96550000000"])
    assert "waiting for approval" in str(service.check_sender(customer, "GulfRoses").reason)

    listing = admin_client.get("/admin/senders").get_data(as_text=True)
    assert "GulfRoses" in listing and customer.display_name in listing
    row = admin_client.post(f"/admin/senders/{sender.id}/approve", headers={"HX-Request": "true"})
    assert row.status_code == 200 and "<html" not in row.get_data(as_text=True) and "Approved" in row.get_data(as_text=True)
    assert service.senders_for(customer) == ["KWT-SMS", "GulfRoses"]
    assert service.check_sender(customer, "GulfRoses", ["96550000000"]).allowed

    response = admin_client.post(f"/admin/senders/{sender.id}/suspend", data={"reason": ""})
    assert response.status_code == 400 and SenderId.get_by_id(sender.id).status == SenderId.APPROVED
    assert admin_client.post(f"/admin/senders/{sender.id}/suspend",
                             data={"reason": "Complaints about spam"}).status_code == 303
    decision = service.check_sender(customer, "GulfRoses", ["96550000000"])
    assert not decision and decision.code == "ERR008" and "Complaints about spam" in str(decision.reason)
    assert service.senders_for(customer) == ["KWT-SMS"]
    page = customer_client.get("/senders/").get_data(as_text=True)
    assert "Suspended" in page and "Complaints about spam" in page
    # A suspended ID cannot be deleted and asked for again to dodge the decision.
    assert customer_client.post(f"/senders/{sender.id}/delete").status_code == 303
    assert SenderId.get_by_id(sender.id).status == SenderId.SUSPENDED

    assert admin_client.post(f"/admin/senders/{sender.id}/reinstate").status_code == 303
    assert service.check_sender(customer, "GulfRoses", ["96550000000"]).allowed
    actions = [row.action for row in AuditLog.select().where(AuditLog.account == customer.id).order_by(AuditLog.id)]
    assert actions == ["sender.requested", "sender.approved", "sender.suspended", "sender.reinstated"]


def test_rejection_reason_is_shown_and_the_name_can_be_asked_again(login):
    admin_client, admin = login("admin")
    customer_client, customer = login()
    sender = service.request_sender(customer, "BestDeal", SenderId.PROMOTIONAL)
    assert admin_client.post(f"/admin/senders/{sender.id}/reject", data={"reason": ""}).status_code == 400
    assert admin_client.post(f"/admin/senders/{sender.id}/reject",
                             data={"reason": "Send us your trade licence"}).status_code == 303
    page = customer_client.get("/senders/").get_data(as_text=True)
    assert "Rejected" in page and "Send us your trade licence" in page
    # Approving a rejected request is refused: the state changed meanwhile.
    errors = _error(service.approve_sender, admin, sender)
    assert "now: Rejected" in str(errors["status"])
    again = service.request_sender(customer, "BestDeal", SenderId.TRANSACTIONAL)
    assert again.id == sender.id and again.status == SenderId.REQUESTED and again.status_reason == ""


def test_customer_withdraws_a_request(login):
    customer_client, customer = login()
    sender = service.request_sender(customer, "OldName", SenderId.PROMOTIONAL)
    response = customer_client.post(f"/senders/{sender.id}/delete", headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.get_data(as_text=True) == ""
    assert SenderId.get_or_none(SenderId.id == sender.id) is None


def test_admin_override_for_a_blocked_name_is_audited(login):
    admin_client, admin = login("admin")
    customer = make_account()
    sender = service.request_sender(customer, "ACMEKW", SenderId.TRANSACTIONAL)
    service.add_blocked_name(admin, "ACME", BlockedName.BRAND)  # the list changed after the request

    assert 'name="override"' not in admin_client.get("/admin/senders").get_data(as_text=True)  # no inline approve
    page = admin_client.post(f"/admin/senders/{sender.id}/approve", data={}).get_data(as_text=True)
    assert "matches the blocked name ACME" in page and SenderId.get_by_id(sender.id).status == SenderId.REQUESTED
    response = admin_client.post(f"/admin/senders/{sender.id}/approve", data={"override": "y", "override_reason": ""})
    assert response.status_code == 400 and "Say why" in response.get_data(as_text=True)
    response = admin_client.post(f"/admin/senders/{sender.id}/approve",
                                 data={"override": "y", "override_reason": "Trade licence of ACME Kuwait seen"})
    assert response.status_code == 303 and SenderId.get_by_id(sender.id).status == SenderId.APPROVED
    audit = AuditLog.get(AuditLog.action == "sender.approved_override")
    details = json.loads(audit.details)
    assert audit.actor_id == admin.id and audit.account_id == customer.id
    assert details["blocked"] == "ACME" and details["override_reason"] == "Trade licence of ACME Kuwait seen"
    assert details["name"] == "ACMEKW"


def test_admin_grants_a_blocked_name_to_its_owner_only_with_override(login):
    admin_client, admin = login("admin")
    bank = make_account(email="it@nbk.example")
    page = admin_client.post("/admin/senders/new", data={"email": "it@nbk.example", "name": "NBK",
                                                          "kind": "transactional"}).get_data(as_text=True)
    assert "matches the blocked name NBK" in page
    response = admin_client.post("/admin/senders/new", data={
        "email": "it@nbk.example", "name": "NBK", "kind": "transactional", "override": "y",
        "override_reason": "National Bank of Kuwait, contract 2026-17"})
    assert response.status_code == 303
    assert service.check_sender(bank, "NBK", ["96550000000"]).allowed
    details = json.loads(AuditLog.get(AuditLog.action == "sender.granted_override").details)
    assert details["override_reason"] == "National Bank of Kuwait, contract 2026-17"
    assert "No account has this email" in admin_client.post("/admin/senders/new", data={
        "email": "nobody@example.com", "name": "Shop", "kind": "transactional"}).get_data(as_text=True)


# --- The mobile number as sender, and the Kuwait rule ---------------------------------------------

def test_mobile_number_needs_a_confirmed_code(app, caplog):
    account = make_account(mobile="96550001234")
    errors = _error(service.request_sender, account, "96550001234", SenderId.TRANSACTIONAL)
    assert "Confirm your mobile number first" in str(errors["name"])

    with caplog.at_level(logging.WARNING, logger="kwtsms.sms"):
        code = service.start_mobile_verification(account)
    assert code in caplog.text and "96550001234" in caplog.text
    row = MobileVerification.get(MobileVerification.account == account.id)
    assert code not in row.code_hash  # only a hash is stored
    assert "less than a minute" in str(_error(service.start_mobile_verification, account)["code"])

    wrong = "000000" if code != "000000" else "111111"
    assert "4 attempts left" in str(_error(service.verify_mobile, account, wrong)["code"])
    account = service.verify_mobile(account, code)
    assert service.mobile_is_verified(account)
    assert AuditLog.get(AuditLog.action == "mobile.verified").account_id == account.id

    sender = service.request_sender(account, "96550001234", SenderId.TRANSACTIONAL)
    assert sender.is_mobile and sender.status == SenderId.APPROVED  # the code proved it is theirs
    assert "own registered mobile number, 96550001234" in str(
        _error(service.request_sender, account, "96550009999", SenderId.TRANSACTIONAL)["name"])


def test_code_attempts_and_expiry_are_limited(app):
    account = make_account()
    code = service.start_mobile_verification(account)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(service.CODE_ATTEMPTS - 1):
        _error(service.verify_mobile, account, wrong)
    assert "Too many wrong codes" in str(_error(service.verify_mobile, account, wrong)["code"])
    assert "Too many wrong codes" in str(_error(service.verify_mobile, account, code)["code"])

    later = utcnow() + datetime.timedelta(minutes=2)
    code = service.start_mobile_verification(account, now=later)
    expired = later + datetime.timedelta(minutes=service.CODE_MINUTES, seconds=1)
    assert "expired" in str(_error(service.verify_mobile, account, code, now=expired)["code"])
    assert not service.mobile_is_verified(Account.get_by_id(account.id))


def test_mobile_page_sends_and_checks_the_code(login, caplog):
    browser, account = login()
    assert "Send me a code" in browser.get("/senders/mobile").get_data(as_text=True)
    with caplog.at_level(logging.WARNING, logger="kwtsms.sms"):
        assert browser.post("/senders/mobile/code").status_code == 303
    code = re.search(r"confirmation code is (\d{6})", caplog.text).group(1)
    response = browser.post("/senders/mobile", data={"code": "12"})
    assert response.status_code == 400 and "not the code we sent" in response.get_data(as_text=True)
    response = browser.post("/senders/mobile", data={"code": code})
    assert response.status_code == 303 and service.mobile_is_verified(Account.get_by_id(account.id))


def test_kuwait_rule(app):
    account = make_account(mobile="96550004321")
    kuwait, saudi, egypt = "96550000001", "966501234567", "201001234567"
    make_sender(account, "MyShop")
    make_sender(account, "Waiting", status=SenderId.REQUESTED)
    account = verify_account_mobile(account)
    make_sender(account, "96550004321")

    for numbers in ([kuwait], [saudi], [kuwait, saudi]):
        assert service.check_sender(account, "KWT-SMS", numbers).is_shared
        assert service.check_sender(account, "MyShop", numbers).allowed
        assert not service.check_sender(account, "Waiting", numbers)
    # The account's own mobile number: other countries only.
    assert service.check_sender(account, "96550004321", [saudi, egypt]).allowed
    refused = service.check_sender(account, "96550004321", [saudi, kuwait])
    assert not refused and "Kuwait numbers need an approved sender ID" in str(refused.reason)
    # Case sensitive; unknown and foreign IDs are refused alike.
    assert not service.check_sender(account, "MYSHOP", [kuwait])
    assert not service.check_sender(account, "kwt-sms", [kuwait])
    other = make_account()
    make_sender(other, "TheirShop")
    assert not service.check_sender(account, "TheirShop", [kuwait])
    assert service.senders_for(account) == ["KWT-SMS", "MyShop", "96550004321"]
    assert service.senders_for(account, [kuwait]) == ["KWT-SMS", "MyShop"]


def test_mobile_sender_stops_when_the_number_changes(app):
    account = make_account(mobile="96550004444")
    account = verify_account_mobile(account)
    make_sender(account, "96550004444")
    Account.update(mobile="96550005555").where(Account.id == account.id).execute()
    account = Account.get_by_id(account.id)
    assert not service.check_sender(account, "96550004444", ["966501234567"])
    assert "96550004444" not in service.senders_for(account)


# --- Pages and scoping -------------------------------------------------------------------------

def test_another_accounts_sender_ids_answer_404(login):
    browser, _ = login()
    other = make_account()
    theirs = make_sender(other, "TheirShop", status=SenderId.REQUESTED)
    assert browser.post(f"/senders/{theirs.id}/delete").status_code == 404
    assert SenderId.get_or_none(SenderId.id == theirs.id) is not None
    assert "TheirShop" not in browser.get("/senders/").get_data(as_text=True)


@pytest.mark.parametrize("method, url", [
    ("GET", "/admin/senders"), ("GET", "/admin/senders/1"), ("POST", "/admin/senders/1/approve"),
    ("POST", "/admin/senders/1/reject"), ("POST", "/admin/senders/1/suspend"),
    ("POST", "/admin/senders/1/reinstate"), ("GET", "/admin/senders/new"), ("GET", "/admin/blocked-names"),
    ("POST", "/admin/blocked-names"), ("POST", "/admin/blocked-names/1/delete"),
])
def test_sender_admin_pages_do_not_exist_for_customers(login, method, url):
    browser, _ = login()
    assert browser.open(url, method=method).status_code == 404


@pytest.mark.parametrize("method, url", [
    ("GET", "/senders/"), ("GET", "/senders/new"), ("POST", "/senders/new"), ("POST", "/senders/check"),
    ("POST", "/senders/1/delete"), ("GET", "/senders/mobile"), ("POST", "/senders/mobile"),
    ("POST", "/senders/mobile/code"), ("GET", "/admin/senders"), ("GET", "/admin/blocked-names"),
])
def test_sender_pages_need_a_login(client, method, url):
    response = client.open(url, method=method)
    assert response.status_code == 302 and "/login?next=" in response.headers["Location"]


def test_list_and_dashboard_show_real_sender_ids(login):
    browser, account = login()
    page = browser.get("/senders/").get_data(as_text=True)
    assert "KWT-SMS" in page and "no sender ID of your own yet" in page
    dashboard = browser.get("/dashboard").get_data(as_text=True)
    assert "KWT-SMS" in dashboard and "/senders/new" in dashboard
    make_sender(account, "GulfRoses")
    make_sender(account, "Pending1", status=SenderId.REQUESTED)
    dashboard = browser.get("/dashboard").get_data(as_text=True)
    assert '<bdi dir="ltr">GulfRoses</bdi>' in dashboard and "Pending1" not in dashboard
    assert "no sender ID of your own yet" not in dashboard
    fragment = browser.get("/senders/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "GulfRoses" in fragment and "Pending1" in fragment


def test_admin_list_filters_and_searches(login):
    admin_client, _ = login("admin")
    make_sender(make_account(company="Rose Shop"), "Roses", status=SenderId.REQUESTED)
    make_sender(make_account(company="Date Shop"), "Dates")
    page = admin_client.get("/admin/senders").get_data(as_text=True)  # waiting ones by default
    assert "Roses" in page and ">Dates<" not in page
    page = admin_client.get("/admin/senders?status=all&q=date").get_data(as_text=True)
    assert ">Dates<" in page and "Roses" not in page
    fragment = admin_client.get("/admin/senders?status=approved", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and ">Dates<" in fragment
    assert "No sender ID matches" in admin_client.get("/admin/senders?q=zzzz").get_data(as_text=True)
