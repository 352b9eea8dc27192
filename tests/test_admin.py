"""The operator's account pages: search, block and unblock, credit adjustments."""
import json

from kwtsms import ledger
from kwtsms.models import Account, AuditLog

from .factories import DEFAULT_PASSWORD, make_account


def test_admin_lists_and_searches_accounts(login):
    admin_client, _ = login("admin")
    make_account(company="Gulf Roses", email="roses@example.com", mobile="96560001111")
    make_account(company="Desert Dates", email="dates@example.com")
    page = admin_client.get("/admin/accounts?q=roses").get_data(as_text=True)
    assert "Gulf Roses" in page and "Desert Dates" not in page
    page = admin_client.get("/admin/accounts?q=60001111").get_data(as_text=True)
    assert "Gulf Roses" in page and "Desert Dates" not in page
    fragment = admin_client.get("/admin/accounts?q=dates", headers={"HX-Request": "true"})
    assert "<html" not in fragment.get_data(as_text=True) and "Desert Dates" in fragment.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"]
    empty = admin_client.get("/admin/accounts?q=zzzz").get_data(as_text=True)
    assert "No account matches" in empty


def test_admin_pages_do_not_exist_for_customers_and_resellers(login):
    for role in ("customer", "reseller"):
        browser, _ = login(role)
        assert browser.get("/admin/accounts").status_code == 404
        assert browser.post("/admin/accounts/1/credit", data={"points": 5, "reason": "x"}).status_code == 404


def test_block_needs_reason_and_unblock_restores_login(app, login):
    admin_client, admin = login("admin")
    customer = make_account()
    response = admin_client.post(f"/admin/accounts/{customer.id}/block", data={"reason": ""})
    assert response.status_code == 400 and "required" in response.get_data(as_text=True)
    assert not Account.get_by_id(customer.id).is_blocked

    assert admin_client.post(f"/admin/accounts/{customer.id}/block", data={"reason": "spam complaints"}).status_code == 303
    assert Account.get_by_id(customer.id).blocked_reason == "spam complaints"
    page = app.test_client().post("/login", data={"email": customer.email, "password": DEFAULT_PASSWORD}).get_data(as_text=True)
    assert "spam complaints" in page

    assert admin_client.post(f"/admin/accounts/{customer.id}/unblock").status_code == 303
    assert app.test_client().post("/login", data={"email": customer.email, "password": DEFAULT_PASSWORD}).status_code == 302
    actions = [a.action for a in AuditLog.select().where(AuditLog.account == customer.id).order_by(AuditLog.id)]
    assert actions == ["account.blocked", "account.unblocked"]


def test_admin_adjusts_credit_with_mandatory_reason(login):
    admin_client, admin = login("admin")
    customer = make_account(balance=50)
    response = admin_client.post(f"/admin/accounts/{customer.id}/credit", data={"points": "100", "reason": ""})
    assert response.status_code == 400 and Account.get_by_id(customer.id).balance == 50

    response = admin_client.post(f"/admin/accounts/{customer.id}/credit", data={"points": "-80", "reason": "typo"})
    assert response.status_code == 400 and "only 50 points" in response.get_data(as_text=True)

    response = admin_client.post(f"/admin/accounts/{customer.id}/credit", data={"points": "abc", "reason": "typo"})
    assert response.status_code == 400 and Account.get_by_id(customer.id).balance == 50

    assert admin_client.post(f"/admin/accounts/{customer.id}/credit",
                             data={"points": "-20", "reason": "double recharge"}).status_code == 303
    account = Account.get_by_id(customer.id)
    assert account.balance == 30 == ledger.ledger_sum(account)
    audit = AuditLog.get(AuditLog.action == "credit.adjusted")
    assert audit.actor_id == admin.id and json.loads(audit.details)["reason"] == "double recharge"
    page = admin_client.get(f"/admin/accounts/{customer.id}").get_data(as_text=True)
    assert "double recharge" in page


def test_unknown_account_is_404(login):
    admin_client, _ = login("admin")
    assert admin_client.get("/admin/accounts/999999").status_code == 404
