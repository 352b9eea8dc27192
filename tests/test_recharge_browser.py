"""Recharge in a real browser on a phone: the demo provider's page, and the order page polling."""
import re

from playwright.sync_api import expect

from kwtsms.models import Account, Order
from kwtsms.recharge import providers
from kwtsms.recharge import service as recharge

from .factories import DEFAULT_PASSWORD, make_account, make_package


def _log_in(page, account):
    page.goto("/login")
    page.get_by_label("Email").fill(account.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))


def test_recharge_with_the_demo_provider_and_see_the_balance_rise(phone_page):
    page = phone_page
    package = make_package(name="Phone pack", points=500, price="10.000")
    account = make_account(balance=25)
    _log_in(page, account)
    expect(page.get_by_test_id("balance")).to_have_text("25")

    page.get_by_role("link", name="Recharge").first.click()
    expect(page).to_have_url(re.compile(r"/recharge$"))
    page.get_by_label(re.compile("Phone pack")).check()
    page.get_by_role("button", name="Continue to payment").click()

    expect(page.get_by_role("heading", name="Demo payment page")).to_be_visible()
    page.get_by_role("button", name="Pay 10.000 KWD").click()

    expect(page).to_have_url(re.compile(r"/recharge/orders/\d+$"))
    expect(page.get_by_text("Payment received")).to_be_visible()
    expect(page.get_by_test_id("balance")).to_have_text("525")
    assert Account.get_by_id(account.id).balance == 525
    assert Order.get(Order.account == account.id).package_id == package.id

    page.get_by_role("link", name="Receipt").click()
    expect(page.get_by_role("heading", name="Receipt")).to_be_visible()
    expect(page.get_by_text("10.000").first).to_be_visible()


def test_order_page_updates_itself_when_the_confirmation_lands(phone_page):
    page = phone_page
    account = make_account()
    _log_in(page, account)
    package = make_package(points=300, price="6.000")
    page.goto("/recharge")
    page.get_by_role("button", name="Continue to payment").click()
    expect(page.get_by_role("heading", name="Demo payment page")).to_be_visible()
    order = Order.get(Order.account == account.id)

    # The customer is back on the order page before the provider's confirmation arrives.
    page.goto(f"/recharge/orders/{order.id}")
    expect(page.get_by_text("Waiting for the payment provider")).to_be_visible()
    recharge.apply_payment_event(providers.PaymentEvent("demo", order.reference, "DEMO-LATE", "paid",
                                                        order.amount_fils, "KWD"))
    expect(page.get_by_text("Payment received")).to_be_visible(timeout=10000)
    expect(page.get_by_test_id("balance")).to_have_text("300")
    assert package.points == 300
