"""Resellers: their customers, transfers both ways, blocking, isolation, the public list."""
import json

import pytest

from kwtsms import ledger
from kwtsms.errors import FieldErrors
from kwtsms.models import Account, AuditLog, LedgerEntry, Order
from kwtsms.resellers import service as resellers

from .factories import DEFAULT_PASSWORD, make_account, make_customer_of, make_package


def balance_of(account):
    return Account.get_by_id(account.id).balance


def assert_ledgers_exact(*accounts):
    for account in accounts:
        assert balance_of(account) >= 0
        assert ledger.ledger_sum(account) == balance_of(account)


def test_reseller_creates_a_customer_who_can_log_in(app, login):
    browser, reseller = login("reseller")
    assert "No customers yet" in browser.get("/reseller/customers").get_data(as_text=True)
    response = browser.post("/reseller/customers/new", data={
        "company": "Sea Breeze Cafe", "contact_name": "Fahad", "mobile": "96551112222",
        "email": "fahad@seabreeze.example", "password": "sea-breeze-2026"})
    assert response.status_code == 303
    customer = Account.get(Account.email == "fahad@seabreeze.example")
    assert customer.parent_id == reseller.id and customer.role == "customer"
    assert "Sea Breeze Cafe" in browser.get("/reseller/customers").get_data(as_text=True)
    assert app.test_client().post("/login", data={"email": customer.email,
                                                  "password": "sea-breeze-2026"}).status_code == 302
    assert AuditLog.get(AuditLog.action == "reseller.customer_created").actor_id == reseller.id


def test_customer_form_errors_are_shown(login):
    browser, _ = login("reseller")
    existing = make_account()
    data = {"company": "X", "contact_name": "Y", "mobile": "96551113333", "email": "new@example.com",
            "password": "short"}
    response = browser.post("/reseller/customers/new", data=data)
    assert response.status_code == 400 and "at least 10 characters" in response.get_data(as_text=True)
    response = browser.post("/reseller/customers/new", data=dict(data, email=existing.email,
                                                                 password="long-enough-pass-1"))
    assert response.status_code == 400 and "already exists" in response.get_data(as_text=True)
    assert Account.select().where(Account.parent.is_null(False)).count() == 0


def test_transfer_and_take_back_move_points_through_the_ledger(login):
    browser, reseller = login("reseller", balance=1000)
    customer = make_customer_of(reseller)
    response = browser.post(f"/reseller/customers/{customer.id}/transfer",
                            data={"give-points": "300", "give-reason": "March bundle"})
    assert response.status_code == 303
    assert balance_of(reseller) == 700 and balance_of(customer) == 300
    rows = LedgerEntry.select().where(LedgerEntry.reason == "March bundle")
    assert sorted((r.kind, r.amount) for r in rows) == [("transfer_in", 300), ("transfer_out", -300)]
    assert len({r.reference for r in rows}) == 1  # both legs share one reference

    response = browser.post(f"/reseller/customers/{customer.id}/take-back", data={"take-points": "120"})
    assert response.status_code == 303
    assert balance_of(reseller) == 820 and balance_of(customer) == 180
    assert_ledgers_exact(reseller, customer)
    details = json.loads(AuditLog.get(AuditLog.action == "reseller.take_back").details)
    assert details["points"] == 120
    page = browser.get(f"/reseller/customers/{customer.id}").get_data(as_text=True)
    assert 'data-testid="customer-balance">180<' in page and "March bundle" in page


@pytest.mark.parametrize("points", ["0", "-5", "abc", ""])
def test_transfer_of_a_non_positive_or_non_numeric_amount_is_refused(login, points):
    browser, reseller = login("reseller", balance=100)
    customer = make_customer_of(reseller)
    response = browser.post(f"/reseller/customers/{customer.id}/transfer", data={"give-points": points})
    assert response.status_code == 400 and "whole number of points above zero" in response.get_data(as_text=True)
    assert balance_of(reseller) == 100 and balance_of(customer) == 0


def test_transfer_larger_than_the_balance_moves_nothing(login):
    browser, reseller = login("reseller", balance=100)
    customer = make_customer_of(reseller)
    response = browser.post(f"/reseller/customers/{customer.id}/transfer", data={"give-points": "101"})
    assert response.status_code == 400
    assert "You have only 100 points; you cannot transfer 101." in response.get_data(as_text=True)
    assert balance_of(reseller) == 100 and balance_of(customer) == 0
    assert LedgerEntry.select().where(LedgerEntry.kind.in_(["transfer_in", "transfer_out"])).count() == 0


def test_taking_back_more_than_the_customer_has_moves_nothing(login):
    browser, reseller = login("reseller", balance=0)
    customer = make_customer_of(reseller, balance=50)
    response = browser.post(f"/reseller/customers/{customer.id}/take-back", data={"take-points": "51"})
    assert response.status_code == 400 and "only 50 unused points" in response.get_data(as_text=True)
    assert balance_of(customer) == 50 and balance_of(reseller) == 0


def test_transfer_to_an_account_that_is_not_the_resellers_customer(app):
    reseller = make_account(role="reseller", balance=500)
    stranger = make_account()
    other_reseller = make_account(role="reseller")
    foreign_customer = make_customer_of(other_reseller)
    for target in (stranger.id, foreign_customer.id, other_reseller.id, reseller.id, 999999, "abc"):
        with pytest.raises(FieldErrors) as raised:
            resellers.transfer_to_customer(reseller, target, 10)
        assert str(raised.value.errors["customer"]) == "This account is not one of your customers."
        with pytest.raises(FieldErrors):
            resellers.take_back(reseller, target, 10)
    assert balance_of(reseller) == 500 and balance_of(stranger) == 0 and balance_of(foreign_customer) == 0


def test_a_customer_account_has_no_customers(app):
    customer = make_account(balance=100)
    other = make_account()
    Account.update(parent=customer.id).where(Account.id == other.id).execute()
    with pytest.raises(FieldErrors):
        resellers.transfer_to_customer(customer, other.id, 10)
    assert balance_of(customer) == 100


def test_a_reseller_cannot_see_or_touch_another_resellers_customers(login):
    browser, reseller = login("reseller", balance=100)
    mine = make_customer_of(reseller, company="Mine Co")
    other_reseller = make_account(role="reseller")
    theirs = make_customer_of(other_reseller, balance=40, company="Theirs Co")
    listing = browser.get("/reseller/customers").get_data(as_text=True)
    assert "Mine Co" in listing and "Theirs Co" not in listing
    assert browser.get(f"/reseller/customers/{theirs.id}").status_code == 404
    for action, data in (("transfer", {"give-points": "10"}), ("take-back", {"take-points": "10"}),
                         ("block", {"reason": "x"}), ("unblock", {})):
        assert browser.post(f"/reseller/customers/{theirs.id}/{action}", data=data).status_code == 404
    assert browser.get(f"/reseller/customers/{mine.id}").status_code == 200
    theirs = Account.get_by_id(theirs.id)
    assert theirs.balance == 40 and not theirs.is_blocked and balance_of(reseller) == 100


def test_reseller_pages_do_not_exist_for_customers_and_admins(login):
    for role in ("customer", "admin"):
        browser, _ = login(role)
        assert browser.get("/reseller/customers").status_code == 404
        assert browser.get("/reseller/listing").status_code == 404
        assert browser.post("/reseller/customers/new", data={}).status_code == 404


def test_reseller_blocks_and_unblocks_a_customer(app, login):
    browser, reseller = login("reseller")
    customer = make_customer_of(reseller)
    response = browser.post(f"/reseller/customers/{customer.id}/block", data={"reason": ""})
    assert response.status_code == 400 and not Account.get_by_id(customer.id).is_blocked
    assert browser.post(f"/reseller/customers/{customer.id}/block", data={"reason": "unpaid invoice"}).status_code == 303
    page = app.test_client().post("/login", data={"email": customer.email, "password": DEFAULT_PASSWORD}).get_data(as_text=True)
    assert "unpaid invoice" in page
    assert browser.post(f"/reseller/customers/{customer.id}/unblock").status_code == 303
    assert app.test_client().post("/login", data={"email": customer.email, "password": DEFAULT_PASSWORD}).status_code == 302
    actions = [a.action for a in AuditLog.select().where(AuditLog.account == customer.id).order_by(AuditLog.id)]
    assert actions == ["reseller.customer_created", "reseller.customer_blocked", "reseller.customer_unblocked"]


def test_reseller_sees_balances_and_usage(login):
    browser, reseller = login("reseller", balance=1000)
    customer = make_customer_of(reseller)
    resellers.transfer_to_customer(reseller, customer.id, 500)
    ledger.charge(customer, 120, reason="campaign")
    ledger.refund(customer, 20, reason="undelivered")
    assert resellers.usage([customer.id]) == {customer.id: 100}
    page = browser.get("/reseller/customers").get_data(as_text=True)
    assert 'data-label="Balance" class="text-end">400<' in page
    assert 'class="text-end">100<' in page
    fragment = browser.get("/reseller/customers?q=nobody", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "No customer matches" in fragment


def test_a_resellers_customer_is_pointed_to_the_reseller_instead_of_paying_online(app, login):
    reseller = make_account(role="reseller", company="Gulf Resale")
    resellers.update_listing(reseller, listed_publicly=False, public_phone="+965 2222 3333")
    customer = make_customer_of(reseller)
    browser = app.test_client()
    browser.post("/login", data={"email": customer.email, "password": DEFAULT_PASSWORD})
    page = browser.get("/recharge").get_data(as_text=True)
    assert "Gulf Resale" in page and "+965 2222 3333" in page and "Continue to payment" not in page
    response = browser.post("/recharge", data={"choice": str(make_package().id), "provider": "demo"})
    assert response.status_code == 400 and Order.select().count() == 0


def test_public_resellers_page_lists_only_those_who_opted_in(client, login):
    browser, reseller = login("reseller", company="Listed Resale Co")
    make_account(role="reseller", company="Quiet Resale Co")
    blocked = make_account(role="reseller", company="Blocked Resale Co")
    resellers.update_listing(blocked, listed_publicly=True, public_phone="+965 1111 2222")
    Account.update(is_blocked=True).where(Account.id == blocked.id).execute()
    assert "No resellers are listed yet" in client.get("/resellers").get_data(as_text=True)

    response = browser.post("/reseller/listing", data={"listed_publicly": "y", "public_website": "not a site"})
    assert response.status_code == 400 and "https://example.com" in response.get_data(as_text=True)
    response = browser.post("/reseller/listing", data={"listed_publicly": "y"})
    assert response.status_code == 400 and "phone number or an email" in response.get_data(as_text=True)
    response = browser.post("/reseller/listing", data={"listed_publicly": "y", "public_phone": "+965 2200 1100",
                                                       "public_email": "Sales@Listed.example",
                                                       "public_website": "listed.example"})
    assert response.status_code == 303
    page = client.get("/resellers").get_data(as_text=True)
    assert "Listed Resale Co" in page and "Quiet Resale Co" not in page and "Blocked Resale Co" not in page
    assert "+965 2200 1100" in page and "sales@listed.example" in page and 'href="https://listed.example"' in page
    assert 'rel="nofollow noopener"' in page


def test_transfer_alerts_the_reseller_when_their_balance_falls_below_the_threshold(app, caplog):
    caplog.set_level("WARNING", logger="kwtsms.mail")
    reseller = make_account(role="reseller", balance=1000)
    customer = make_customer_of(reseller)
    with app.test_request_context():
        from kwtsms.recharge.service import set_low_balance_threshold
        set_low_balance_threshold(reseller, 500)
        resellers.transfer_to_customer(reseller, customer.id, 400)
        resellers.transfer_to_customer(reseller, customer.id, 200)  # crosses 500
        resellers.transfer_to_customer(reseller, customer.id, 100)  # still below: no second email
    emails = [r for r in caplog.records if r.name == "kwtsms.mail" and reseller.email in r.getMessage()]
    assert len(emails) == 1 and "balance is 400 points" in emails[0].getMessage()


def test_a_boosted_form_with_errors_still_shows_them(login):
    # htmx does not swap 4xx responses, so a boosted post with errors answers 200 with the messages.
    browser, reseller = login("reseller")
    customer = make_customer_of(reseller, balance=5)
    response = browser.post(f"/reseller/customers/{customer.id}/take-back", data={"take-points": "9"},
                            headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert response.status_code == 200 and "only 5 unused points" in response.get_data(as_text=True)
    assert balance_of(customer) == 5
