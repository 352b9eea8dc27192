"""The first journeys in a real browser on a phone-sized screen."""
import re

from playwright.sync_api import expect

from kwtsms.models import Account


SIGNUP = {"Company name": "Blue Pearl Trading", "Contact name": "Noura", "Mobile number": "+965 5123 4567",
          "Email": "noura@bluepearl.example", "Password": "pearl-divers-2026", "Repeat the password": "pearl-divers-2026"}


def open_menu(page):
    """Open the collapsed phone menu and wait for its animation to finish."""
    page.get_by_role("button", name="Menu").click()
    expect(page.locator("#main-nav")).to_have_class(re.compile(r"\bshow\b"))


def _no_horizontal_scroll(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_sign_up_log_out_and_log_in_on_a_phone(phone_page):
    page = phone_page
    page.goto("/")
    page.get_by_role("link", name="Create a free account").click()
    for label, value in SIGNUP.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.get_by_role("heading", name="Welcome, Blue Pearl Trading")).to_be_visible()
    assert _no_horizontal_scroll(page)
    assert Account.get(Account.email == "noura@bluepearl.example").mobile == "96551234567"

    # The menu is collapsed on a phone: open it, then log out.
    open_menu(page)
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))

    page.get_by_label("Email").fill("noura@bluepearl.example")
    page.get_by_label("Password").fill("wrong-password-1")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Wrong email or password.")).to_be_visible()
    page.get_by_label("Password").fill("pearl-divers-2026")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("balance")).to_have_text("0")


def test_signup_errors_appear_beside_the_fields(phone_page):
    page = phone_page
    page.goto("/signup")
    for label, value in dict(SIGNUP, **{"Mobile number": "9657119440", "Password": "short", "Repeat the password": "short"}).items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#mobile + .invalid-feedback")).to_contain_text("not a valid mobile number")
    expect(page.locator("#password + .invalid-feedback")).to_contain_text("at least 10 characters")
    expect(page.get_by_label("Company name")).to_have_value("Blue Pearl Trading")  # nothing typed is lost


def test_switch_to_arabic_gives_right_to_left_help(phone_page):
    page = phone_page
    page.goto("/help")
    open_menu(page)
    page.get_by_role("button", name="العربية").click()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    number = page.locator("bdi.num", has_text="96598765432")
    assert number.evaluate("el => getComputedStyle(el).direction") == "ltr"
    assert _no_horizontal_scroll(page)
    # Remembered on the next visit.
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")


def test_help_page_offers_the_sample_files(phone_page):
    page = phone_page
    page.goto("/help")
    with page.expect_download() as download:
        page.get_by_role("link", name="names-and-numbers.csv").click()
    assert download.value.suggested_filename == "names-and-numbers.csv"
