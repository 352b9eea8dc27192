"""The composer in a real browser: the live counter, a send to a small group, the history."""
from playwright.sync_api import expect

from kwtsms.groups import service as groups

from .browser import log_in
from .factories import DEFAULT_PASSWORD, make_account


def test_counter_updates_as_you_type_then_send_and_find_it_in_history(phone_page):
    account = make_account(balance=50)
    group = groups.create_group(account, "Staff")
    for i in range(3):
        groups.add_contact(group, f"Person {i}", f"9655000000{i}")
    page = phone_page
    log_in(page, account, DEFAULT_PASSWORD)

    page.goto("/messages/new")
    page.get_by_label("Staff (3)").check()
    message = page.get_by_label("Message", exact=True)
    message.fill("Hello team")
    expect(page.get_by_test_id("chars")).to_have_text("10")
    expect(page.get_by_test_id("encoding")).to_have_text("GSM-7")
    expect(page.get_by_test_id("recipients")).to_have_text("3")
    expect(page.get_by_test_id("cost")).to_contain_text("3")

    message.fill("x" * 161)  # one character over a single page
    expect(page.get_by_test_id("pages")).to_have_text("2 / 7")
    expect(page.get_by_test_id("cost")).to_contain_text("6")
    message.fill("مرحبا بالفريق")
    expect(page.get_by_test_id("encoding")).to_have_text("Unicode")
    expect(page.get_by_test_id("pages")).to_have_text("1 / 7")
    expect(page.get_by_test_id("balance-after")).to_have_text("47")

    page.get_by_role("button", name="Review and send").click()
    expect(page.get_by_test_id("confirm-points")).to_have_text("3")
    page.get_by_role("button", name="Send now").click()
    expect(page.get_by_text("Sending to 3 numbers; 3 points charged.")).to_be_visible()
    expect(page.locator("#message-progress")).to_contain_text("Queued")

    page.goto("/messages/")
    expect(page.locator("#history")).to_contain_text("مرحبا بالفريق")
