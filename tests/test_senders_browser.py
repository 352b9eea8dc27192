"""In a real browser: a customer requests a sender ID, an admin approves it, the customer sees it."""
import re

from playwright.sync_api import expect

from .factories import DEFAULT_PASSWORD, make_account


def _log_in(page, email):
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))


def test_request_approve_and_see_a_sender_id(phone_page, browser, live_server):
    customer = make_account(email="noura@pearl.example", company="Blue Pearl")
    make_account(role="admin", email="ops@portal.example")
    page = phone_page
    _log_in(page, customer.email)
    page.goto("/senders/")
    expect(page.get_by_text("You have no sender ID of your own yet.")).to_be_visible()
    page.get_by_role("link", name="Request a sender ID").first.click()

    # Validation as you type: a look-alike of a carrier's name, then a good name.
    name = page.get_by_label("Sender ID", exact=True)
    name.fill("Z4IN")
    expect(page.locator("#name-feedback")).to_contain_text("belongs to a mobile carrier")
    name.fill("BluePearl")
    expect(page.locator("#name-feedback")).to_contain_text("This name can be requested")
    page.get_by_label("Promotional", exact=True).check()
    page.get_by_role("button", name="Send the request").click()
    expect(page).to_have_url(re.compile(r"/senders/$"))
    row = page.locator("tr", has_text="BluePearl")
    expect(row).to_contain_text("Waiting for approval")
    expect(row).to_contain_text("Promotional")

    # The operator approves it inline on the review list.
    context = browser.new_context(base_url=live_server.url)
    errors = []
    admin_page = context.new_page()
    admin_page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        _log_in(admin_page, "ops@portal.example")
        admin_page.get_by_role("link", name="Admin").click()
        admin_page.get_by_role("link", name="Sender ID requests").click()
        admin_row = admin_page.locator("tr", has_text="BluePearl")
        expect(admin_row).to_contain_text("Blue Pearl")
        admin_row.get_by_role("button", name="Approve").click()
        expect(admin_page.locator("tr", has_text="BluePearl")).to_contain_text("Approved")
        expect(admin_page.locator("tr", has_text="BluePearl").get_by_role("button", name="Approve")).to_have_count(0)
    finally:
        context.close()
    assert errors == []

    page.reload()
    expect(page.locator("tr", has_text="BluePearl")).to_contain_text("Approved")
    page.goto("/dashboard")
    expect(page.locator("section[aria-labelledby=senders-title]")).to_contain_text("BluePearl")
