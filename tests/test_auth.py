"""Sign-up, login, blocked accounts, password change and reset, rate limits."""
import datetime
import logging
import re

import pytest

from kwtsms.auth import service
from kwtsms.models import Account, AuditLog, PasswordResetToken

from .factories import DEFAULT_PASSWORD, make_account

SIGNUP = {
    "company": "Blue Pearl Trading", "contact_name": "Noura Al-Fahad", "mobile": "+965 5123 4567",
    "email": "Noura@BluePearl.example", "password": "pearl-divers-2026", "confirm": "pearl-divers-2026",
}


def test_signup_creates_account_logs_in_and_normalises_fields(client):
    response = client.post("/signup", data=SIGNUP)
    assert response.status_code == 302 and response.headers["Location"].endswith("/dashboard")
    account = Account.get(Account.email == "noura@bluepearl.example")
    assert account.mobile == "96551234567" and account.role == "customer" and account.balance == 0
    assert account.password_hash != SIGNUP["password"] and account.password_hash.startswith("scrypt:")
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Blue Pearl Trading" in page


@pytest.mark.parametrize("field, value, message", [
    ("email", "not-an-email", "valid email"),
    ("mobile", "12345", "not a valid mobile number"),
    ("mobile", "9657119440", "not a valid mobile number"),
    ("password", "short1", "at least 10 characters"),
    ("password", "1234567890", "too easy to guess"),
    ("company", "x" * 101, "100 characters"),
    ("contact_name", "", "required"),
])
def test_signup_bad_input_shows_message_beside_field_and_creates_nothing(client, field, value, message):
    data = dict(SIGNUP, **{field: value})
    if field == "password":
        data["confirm"] = value
    response = client.post("/signup", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in page
    assert re.search(rf'id="{field}"[^>]*class="[^"]*is-invalid|class="[^"]*is-invalid[^"]*"[^>]*id="{field}"', page)
    assert Account.select().count() == 0


def test_signup_with_used_email_or_mobile_is_refused(client):
    make_account(email="noura@bluepearl.example", mobile="96551234567")
    page = client.post("/signup", data=SIGNUP).get_data(as_text=True)
    assert "An account with this email already exists" in page and "already registered" in page
    page = client.post("/signup", data=dict(SIGNUP, email="other@example.com")).get_data(as_text=True)
    assert "already registered to another account" in page
    assert Account.select().count() == 1


def test_login_wrong_password_then_right_one(client):
    account = make_account()
    page = client.post("/login", data={"email": account.email, "password": "nope-nope-nope"}).get_data(as_text=True)
    assert "Wrong email or password" in page
    response = client.post("/login", data={"email": account.email.upper(), "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert client.get("/dashboard").status_code == 200


def test_login_next_parameter_cannot_redirect_off_site(client):
    account = make_account()
    response = client.post("/login?next=//evil.example/x", data={"email": account.email, "password": DEFAULT_PASSWORD})
    assert response.headers["Location"] == "/dashboard"
    client.post("/logout")
    response = client.post("/login?next=/account/ledger", data={"email": account.email, "password": DEFAULT_PASSWORD})
    assert response.headers["Location"] == "/account/ledger"


def test_remember_me_sets_a_persistent_cookie(client):
    account = make_account()
    response = client.post("/login", data={"email": account.email, "password": DEFAULT_PASSWORD, "remember": "y"})
    assert "remember_token=" in " ".join(response.headers.getlist("Set-Cookie"))
    other = make_account()
    response = client.application.test_client().post("/login", data={"email": other.email, "password": DEFAULT_PASSWORD})
    assert "remember_token=" not in " ".join(response.headers.getlist("Set-Cookie"))


def test_blocked_account_cannot_log_in_and_is_told_why(client, login):
    account = make_account()
    Account.update(is_blocked=True, blocked_reason="unpaid invoice").where(Account.id == account.id).execute()
    page = client.post("/login", data={"email": account.email, "password": DEFAULT_PASSWORD}).get_data(as_text=True)
    assert "This account is blocked (unpaid invoice)" in page
    assert client.get("/dashboard").status_code == 302


def test_blocking_ends_an_existing_session(login):
    customer_client, account = login()
    assert customer_client.get("/dashboard").status_code == 200
    Account.update(is_blocked=True, blocked_reason="fraud").where(Account.id == account.id).execute()
    assert customer_client.get("/dashboard").status_code == 302


def test_change_password_needs_the_current_one_and_logs_out_other_sessions(app, login):
    browser_a, account = login()
    browser_b = app.test_client()
    browser_b.post("/login", data={"email": account.email, "password": DEFAULT_PASSWORD})
    page = browser_a.post("/account/password", data={
        "current_password": "wrong-password-1", "new_password": "new-secret-pass-1",
        "confirm": "new-secret-pass-1"}).get_data(as_text=True)
    assert "This is not your current password" in page
    assert service.authenticate(account.email, DEFAULT_PASSWORD)

    response = browser_a.post("/account/password", data={
        "current_password": DEFAULT_PASSWORD, "new_password": "new-secret-pass-1", "confirm": "new-secret-pass-1"})
    assert response.status_code == 302
    assert browser_a.get("/dashboard").status_code == 200  # this session stays
    assert browser_b.get("/dashboard").status_code == 302  # the other one is gone
    with pytest.raises(service.LoginRefused):
        service.authenticate(account.email, DEFAULT_PASSWORD)
    assert service.authenticate(account.email, "new-secret-pass-1")


def _reset_link_from_log(caplog):
    for record in caplog.records:
        match = re.search(r"http://localhost/password/reset/\S+", record.getMessage())
        if match:
            return match.group(0).replace("http://localhost", "")
    raise AssertionError("no reset link was logged")


def test_password_reset_link_is_logged_without_smtp_and_works_once(client, caplog):
    account = make_account()
    caplog.set_level(logging.WARNING, logger="kwtsms.mail")
    page = client.post("/password/forgot", data={"email": account.email}).get_data(as_text=True)
    assert "Check your email" in page
    link = _reset_link_from_log(caplog)
    assert client.get(link).status_code == 200
    response = client.post(link, data={"new_password": "brand-new-pass-9", "confirm": "brand-new-pass-9"})
    assert response.status_code == 302
    assert service.authenticate(account.email, "brand-new-pass-9")
    # The same link a second time: a clear page, nothing changes.
    again = client.post(link, data={"new_password": "another-pass-99", "confirm": "another-pass-99"})
    assert again.status_code == 400 and "no longer works" in again.get_data(as_text=True)
    assert service.authenticate(account.email, "brand-new-pass-9")


def test_expired_reset_link_is_refused(client):
    account = make_account()
    _, token = service.issue_reset_token(account.email, max_age_seconds=60)
    PasswordResetToken.update(expires_at=datetime.datetime(2000, 1, 1)).execute()
    response = client.post(f"/password/reset/{token}", data={"new_password": "brand-new-pass-9", "confirm": "brand-new-pass-9"})
    assert response.status_code == 400
    assert service.authenticate(account.email, DEFAULT_PASSWORD)


def test_forgot_password_for_unknown_email_says_the_same_and_stores_nothing(client, caplog):
    page = client.post("/password/forgot", data={"email": "nobody@example.com"}).get_data(as_text=True)
    assert "Check your email" in page
    assert PasswordResetToken.select().count() == 0


def test_only_the_token_hash_is_stored(app):
    account = make_account()
    _, token = service.issue_reset_token(account.email, 60)
    assert PasswordResetToken.get().token_hash != token and token not in PasswordResetToken.get().token_hash


def test_ten_failed_logins_a_minute_give_a_friendly_429(client):
    account = make_account()
    for _ in range(10):
        assert client.post("/login", data={"email": account.email, "password": "bad-password-x"}).status_code == 200
    response = client.post("/login", data={"email": account.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)


def test_successful_logins_do_not_count_toward_the_limit(app):
    account = make_account()
    for _ in range(12):
        browser = app.test_client()
        assert browser.post("/login", data={"email": account.email, "password": DEFAULT_PASSWORD}).status_code == 302


def test_password_change_is_audited(login):
    browser, account = login()
    browser.post("/account/password", data={"current_password": DEFAULT_PASSWORD,
                                            "new_password": "new-secret-pass-1", "confirm": "new-secret-pass-1"})
    assert AuditLog.select().where(AuditLog.account == account.id, AuditLog.action == "password.changed").count() == 1
