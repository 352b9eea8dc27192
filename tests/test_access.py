"""Every private page needs a login; admin pages need an admin; security headers everywhere."""
import re

import pytest

from kwtsms import create_app
from kwtsms import ledger
from kwtsms.config import ConfigError

from .factories import DEFAULT_PASSWORD, make_account

# Endpoints anyone may open. Every other route of the app must ask for a login:
# the tests below walk the app's whole URL map, so a new view cannot forget it.
PUBLIC_ENDPOINTS = {
    "static", "help.home", "help.index", "help.sample", "help.set_language", "auth.login", "auth.logout", "auth.signup",
    "auth.forgot_password", "auth.reset_password", "destinations.prices", "resellers.public",
    "recharge.callback",  # payment providers: verified by signature instead
}


def _routes(app, prefix=""):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS or rule.rule.startswith("/API") or not rule.rule.startswith(prefix):
            continue
        url = rule.rule
        for argument in rule.arguments:
            url = url.replace(f"<int:{argument}>", "1").replace(f"<{argument}>", "x")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, url


def test_every_private_route_redirects_anonymous_users_to_login(client, app):
    routes = list(_routes(app))
    assert len(routes) > 50
    for method, url in routes:
        response = client.open(url, method=method)
        assert response.status_code == 302 and "/login?next=" in response.headers["Location"], (method, url)


def test_every_admin_route_is_404_for_customers_and_resellers(login, app):
    routes = list(_routes(app, prefix="/admin"))
    for role in ("customer", "reseller"):
        browser, _ = login(role)
        for method, url in routes:
            assert browser.open(url, method=method).status_code == 404, (role, method, url)


PUBLIC_URLS = ["/", "/help", "/login", "/signup", "/password/forgot", "/help/samples/numbers-only.csv"]


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_public_pages_open_and_carry_security_headers(client, url):
    response = client.get(url)
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_logout_is_post_only(login):
    browser, _ = login()
    assert browser.get("/logout").status_code == 405
    assert browser.get("/dashboard").status_code == 200


def test_ledger_page_shows_only_own_rows(login):
    browser, account = login(balance=0)
    _, other = login()
    ledger.credit(account, 70, reason="mine-credit")
    ledger.credit(other, 90, reason="their-credit")
    page = browser.get("/account/ledger").get_data(as_text=True)
    assert "mine-credit" in page and "their-credit" not in page


def test_empty_ledger_and_dashboard_show_where_to_start(login):
    browser, _ = login()
    assert "No credit movements yet" in browser.get("/account/ledger").get_data(as_text=True)
    page = browser.get("/dashboard").get_data(as_text=True)
    assert "No groups yet" in page and "How to recharge" in page and "KWT-SMS" in page


def test_forms_are_protected_by_csrf(app_config, redis_client):
    app = create_app(dict(app_config, WTF_CSRF_ENABLED=True))
    account = make_account()
    browser = app.test_client()
    response = browser.post("/login", data={"email": account.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 400 and "Form expired" in response.get_data(as_text=True)
    page = browser.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = browser.post("/login", data={"email": account.email, "password": DEFAULT_PASSWORD, "csrf_token": token})
    assert response.status_code == 302


def test_production_refuses_the_default_secret(monkeypatch):
    monkeypatch.setenv("KWTSMS_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError):
        create_app({"DATABASE_URL": "sqlite:///:memory:"})
