"""Groups in a real browser: add a number inline, search for it, import a file and read the report."""
import re
from pathlib import Path

from playwright.sync_api import expect
from redis import Redis
from rq import Queue, SimpleWorker

from .browser import log_in
from .factories import DEFAULT_PASSWORD, make_account

FIXTURES = Path(__file__).parent / "fixtures" / "imports"


def test_add_inline_search_and_import_on_a_phone(phone_page, app, redis_url, tmp_path):
    app.config["UPLOAD_DIR"] = str(tmp_path)
    page = phone_page
    log_in(page, make_account(), DEFAULT_PASSWORD)
    page.goto("/groups/")
    page.get_by_placeholder("New group name, e.g. Customers").fill("Customers")
    page.get_by_role("button", name="Create group").click()
    expect(page.get_by_role("heading", name=re.compile("Customers"))).to_be_visible()

    # Inline add: the first number reloads the page into a table, the second is added in place.
    for name, number in (("Ahmad", "+965 5123 4567"), ("Mona", "60001111")):
        page.get_by_label("Name (optional)").fill(name)
        page.get_by_label("Mobile number").fill(number)
        page.get_by_role("button", name="Add", exact=True).click()
        expect(page.locator("#contact-rows")).to_contain_text(name)
    expect(page.locator("#add-contact")).to_contain_text("Kuwait (965) was added")
    expect(page.locator("#group-size")).to_have_text("2 numbers")

    # A wrong number: the form comes back with the reason beside the field, nothing is added.
    page.get_by_label("Mobile number").fill("9657119440")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#add-contact .invalid-feedback")).to_contain_text("too short for Kuwait")
    expect(page.locator("#group-size")).to_have_text("2 numbers")

    page.get_by_placeholder("Search by name or number").fill("mona")
    expect(page.locator("#contact-rows tr")).to_have_count(1)
    expect(page.locator("#contact-rows")).to_contain_text("96560001111")
    assert "q=mona" in page.url

    # Import a file into the same group.
    page.goto("/imports/new")
    page.get_by_label("CSV or Excel file").set_input_files(str(FIXTURES / "utf8_header_comma.csv"))
    page.get_by_label("Import into group").select_option(label="Customers")
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_text("Check how the file was read")).to_be_visible()
    expect(page.locator("table")).to_contain_text("rejected: too short for Kuwait")
    page.get_by_role("button", name="Start the import").click()
    expect(page.locator("#import-status")).to_contain_text("Queued")

    queue = Queue("default", connection=Redis.from_url(redis_url))
    with app.app_context():
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
    # The status block polls by itself until the report is there.
    expect(page.get_by_test_id("imported")).to_have_text("3", timeout=10000)
    expect(page.get_by_test_id("rejected")).to_have_text("1")
    expect(page.locator("#import-status")).to_contain_text("too short for Kuwait: 7 digits after 965, needs 8")
