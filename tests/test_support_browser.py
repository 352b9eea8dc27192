"""In a real browser: report a problem from a message page, support answers, the customer sees it."""
import re

from playwright.sync_api import expect

from kwtsms.messages import service as messages
from kwtsms.models import Recipient

from .browser import log_in
from .factories import DEFAULT_PASSWORD, make_account


def test_report_a_problem_from_a_message_page_and_see_supports_reply(app, phone_page, browser, live_server):
    customer = make_account(balance=20, contact_name="Noura Al-Ali", mobile="96599001122")
    admin = make_account(role="admin", contact_name="Huda")
    with app.app_context():
        message = messages.send_message(customer, sender="KWT-SMS", text="Your table is ready",
                                        numbers="96551234567, 96560001111").message
    Recipient.update(status=Recipient.FAILED, error="UNDELIV err:034").where(
        Recipient.message == message.id, Recipient.mobile == "96560001111").execute()
    Recipient.update(status=Recipient.DELIVERED).where(
        Recipient.message == message.id, Recipient.mobile == "96551234567").execute()

    page = phone_page
    log_in(page, customer, DEFAULT_PASSWORD)
    page.goto(f"/messages/{message.id}")
    page.get_by_test_id("report-problem").click()
    expect(page).to_have_url(re.compile(rf"/support/complaint/{message.id}$"))
    expect(page.get_by_test_id("fact-name")).to_have_text("Noura Al-Ali")
    expect(page.get_by_test_id("fact-sender")).to_contain_text("KWT-SMS")
    expect(page.get_by_test_id("fact-text")).to_have_text("Your table is ready")
    expect(page.get_by_label("96560001111")).to_be_checked()
    expect(page.get_by_text("UNDELIV err:034")).to_be_visible()
    page.get_by_label("What went wrong?").fill("The guest never got the SMS.")
    page.get_by_role("button", name="Send the report").click()
    expect(page).to_have_url(re.compile(r"/support/\d+$"))
    expect(page.get_by_text("Your report is sent.")).to_be_visible()
    expect(page.get_by_test_id("ticket-status")).to_have_text("Waiting for support")

    context = browser.new_context(base_url=live_server.url)
    errors = []
    admin_page = context.new_page()
    admin_page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        log_in(admin_page, admin, DEFAULT_PASSWORD)
        expect(admin_page.get_by_test_id("support-unread")).to_contain_text("1")
        admin_page.get_by_test_id("nav-support").click()
        admin_page.get_by_role("link", name=re.compile("Undelivered message from KWT-SMS")).click()
        expect(admin_page.get_by_test_id("dispatch-trail")).to_contain_text("96560001111")
        admin_page.get_by_label("Your reply").fill("The carrier had an outage; your points are refunded.")
        admin_page.get_by_role("button", name="Send reply").click()
        expect(admin_page.get_by_text("Your reply is sent to the customer.")).to_be_visible()
    finally:
        context.close()
    assert errors == []

    page.goto("/support/")
    expect(page.get_by_test_id("support-unread")).to_have_text(re.compile(r"^1"))
    expect(page.get_by_text("New reply")).to_be_visible()
    page.get_by_role("link", name=re.compile("Undelivered message from KWT-SMS")).click()
    expect(page.get_by_test_id("support-reply")).to_contain_text("The carrier had an outage")
    expect(page.get_by_test_id("ticket-status")).to_have_text("Answered")
    expect(page.get_by_test_id("support-unread")).to_have_count(0)
