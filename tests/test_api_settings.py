"""The account's API page, the operator's API access switch and word lists, and `flask api-user`."""
import json
import re

import pytest

from kwtsms.models import Account, ContentRule

from .test_api_support import API_PASSWORD, api, make_api_account


@pytest.fixture
def app_config(app_config):
    return {**app_config, "API_RATE_LIMIT": "1000 per second"}


def fresh(account):
    return Account.get_by_id(account.id)


def test_api_pages_need_a_login(client):
    for method, url in [("GET", "/account/api"), ("POST", "/account/api/username"), ("POST", "/account/api/password"),
                        ("POST", "/account/api/enabled"), ("POST", "/account/api/whitelist"),
                        ("POST", "/account/api/webhook"), ("POST", "/account/api/webhook/secret"),
                        ("POST", "/admin/accounts/1/api-access"), ("GET", "/admin/content-rules")]:
        response = client.open(url, method=method)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


def test_a_developer_sets_up_the_api_from_the_page(login, client):
    browser, account = login(balance=50)
    page = browser.get("/account/api")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    text = page.get_data(as_text=True)
    assert "API off" in text and "http://localhost/API/" in text and "kwtsms._core.BASE_URL" in text

    response = browser.post("/account/api/username", data={"username": "My-Shop"})
    assert response.status_code == 303 and fresh(account).api_username == "my-shop"

    response = browser.post("/account/api/password")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    password = re.search(r'id="api-password">([^<]+)</code>', response.get_data(as_text=True)).group(1)
    stored = fresh(account)
    assert stored.api_password_hash and password not in stored.api_password_hash
    assert password not in browser.get("/account/api").get_data(as_text=True)  # shown once

    assert api(client, "balance", username="my-shop", password=password)[1]["code"] == "ERR001"
    assert browser.post("/account/api/enabled", data={"enabled": "1"}).status_code == 303
    assert api(client, "balance", username="my-shop", password=password) == (
        200, {"result": "OK", "available": 50, "purchased": 50, "balance": 50})

    new_page = browser.post("/account/api/password").get_data(as_text=True)
    new_password = re.search(r'id="api-password">([^<]+)</code>', new_page).group(1)
    assert new_password != password
    assert api(client, "balance", username="my-shop", password=password)[1]["code"] == "ERR003"
    assert api(client, "balance", username="my-shop", password=new_password)[0] == 200

    browser.post("/account/api/enabled", data={"enabled": "0"})
    assert api(client, "balance", username="my-shop", password=new_password)[1]["code"] == "ERR001"


def test_the_api_cannot_be_turned_on_without_credentials(login):
    browser, account = login()
    assert browser.post("/account/api/password").status_code == 400  # no username yet
    browser.post("/account/api/enabled", data={"enabled": "1"})
    assert not fresh(account).api_enabled
    assert "Choose a username" in browser.get("/account/api").get_data(as_text=True)


def test_usernames_are_checked_and_unique(login):
    make_api_account(username="taken")
    browser, account = login()
    for bad in ("ab", "with space", "-dash-first", "x" * 65, "TAKEN"):
        response = browser.post("/account/api/username", data={"username": bad})
        assert response.status_code == 400, bad
    assert fresh(account).api_username is None


def test_ip_lockdown_form(login):
    browser, account = login()
    response = browser.post("/account/api/whitelist", data={"ip_whitelist": "203.0.113.7\nnot-an-ip"})
    assert response.status_code == 400 and "not-an-ip" in response.get_data(as_text=True)
    response = browser.post("/account/api/whitelist", data={"ip_whitelist": "203.0.113.7, 198.51.100.0/24 2001:db8::/32"})
    assert response.status_code == 303
    assert fresh(account).api_ip_whitelist == "203.0.113.7\n198.51.100.0/24\n2001:db8::/32"


def test_webhook_form_and_secret(login):
    browser, account = login()
    assert browser.post("/account/api/webhook", data={"webhook_url": "not a url"}).status_code == 400
    assert browser.post("/account/api/webhook", data={"webhook_url": "https://example.com/dlr"}).status_code == 303
    account = fresh(account)
    assert account.webhook_url == "https://example.com/dlr" and len(account.webhook_secret) == 64
    assert account.webhook_secret in browser.get("/account/api").get_data(as_text=True)
    browser.post("/account/api/webhook/secret")
    assert fresh(account).webhook_secret != account.webhook_secret


def test_the_operator_grants_and_takes_away_api_access(login, client):
    admin_browser, admin = login(role="admin")
    account = make_api_account()
    page = admin_browser.get(f"/admin/accounts/{account.id}").get_data(as_text=True)
    assert "API access granted" in page and account.api_username in page
    response = admin_browser.post(f"/admin/accounts/{account.id}/api-access", data={"granted": "0"})
    assert response.status_code == 303 and fresh(account).api_access_granted is False
    assert api(client, "balance", account)[1]["code"] == "ERR004"
    assert "No API access" in admin_browser.get(f"/admin/accounts/{account.id}").get_data(as_text=True)
    admin_browser.post(f"/admin/accounts/{account.id}/api-access", data={"granted": "1"})
    assert api(client, "balance", account)[0] == 200
    assert admin_browser.post("/admin/accounts/99999/api-access", data={"granted": "1"}).status_code == 404


def test_customers_cannot_use_operator_pages(login):
    browser, account = login()
    assert browser.post(f"/admin/accounts/{account.id}/api-access", data={"granted": "1"}).status_code == 404
    assert browser.get("/admin/content-rules").status_code == 404


def test_the_operator_manages_the_word_lists(login, client):
    admin_browser, _ = login(role="admin")
    assert admin_browser.get("/admin/content-rules").status_code == 200
    response = admin_browser.post("/admin/content-rules", data={"kind": "spam", "phrase": "Free  Money"})
    assert response.status_code == 303
    assert admin_browser.post("/admin/content-rules", data={"kind": "spam", "phrase": "free money"}).status_code == 400
    assert admin_browser.post("/admin/content-rules", data={"kind": "spam", "phrase": ""}).status_code == 400
    account = make_api_account()
    reply = api(client, "send", account, sender="KWT-SMS", mobile="96598765432", message="FREE money!")[1]
    assert reply["code"] == "ERR032"
    rule = ContentRule.get()
    assert admin_browser.post(f"/admin/content-rules/{rule.id}/delete").status_code == 303
    assert api(client, "send", account, sender="KWT-SMS", mobile="96598765432", message="FREE money!")[0] == 200
    assert admin_browser.post(f"/admin/content-rules/{rule.id}/delete").status_code == 404


def test_the_web_composer_applies_the_word_lists_too(login):
    from kwtsms.api import content
    from .factories import make_account
    content.add_rule(make_account(role="admin"), ContentRule.BAD_LANGUAGE, "darn")
    browser, account = login(balance=10)
    response = browser.post("/messages/new", data={"sender": "KWT-SMS", "numbers": "96598765432",
                                                   "message": "darn it", "action": "send"})
    assert response.status_code in (200, 400) and "bad language" in response.get_data(as_text=True)
    assert fresh(account).balance == 10


def test_openapi_description_is_served(client):
    import yaml
    response = client.get("/API/openapi.yaml")
    assert response.status_code == 200 and response.mimetype == "application/yaml"
    spec = yaml.safe_load(response.get_data())
    assert spec["openapi"].startswith("3.1")
    assert {p.strip("/").split("/")[1] for p in spec["paths"]} == {
        "balance", "senderid", "coverage", "validate", "send", "status", "dlr", "report"}


def test_api_user_command(app):
    from .factories import make_account
    account = make_account(email="dev@example.com")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["api-user", "--email", "dev@example.com", "--username", "Dev-Script",
                                 "--password", API_PASSWORD])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"ok": True, "email": "dev@example.com", "username": "dev-script",
                                         "api_enabled": True}
    stored = fresh(account)
    assert stored.api_enabled and stored.api_access_granted and API_PASSWORD not in stored.api_password_hash
    assert api(app.test_client(), "balance", username="dev-script", password=API_PASSWORD)[0] == 200

    result = runner.invoke(args=["api-user", "--email", "nobody@example.com", "--username", "x1x", "--password",
                                 API_PASSWORD])
    assert result.exit_code == 1 and "no account" in result.output
    result = runner.invoke(args=["api-user", "--email", "dev@example.com", "--username", "dev-script",
                                 "--password", "short"])
    assert result.exit_code == 1 and "password" in result.output
