"""Browser-test plumbing: the app served on loopback, and Debian's Chromium via Playwright."""
import re
import shutil
import threading

import pytest
from werkzeug.serving import make_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
PHONE_VIEWPORT = {"width": 360, "height": 740}
# Forms answer 400/422 with their errors on purpose; the browser logs those as failed loads.
_EXPECTED_STATUS = re.compile(r"status of (400|422) ")


class LiveServer:
    def __init__(self, app):
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._thread.join(10)


@pytest.fixture
def live_server(app):
    with LiveServer(app) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    if not shutil.which("chromium") and not shutil.os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (apt-get install chromium); browser tests skipped")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def phone_page(browser, live_server):
    """A page on a 360x740 phone screen; fails the test on any browser console error (CSP included)."""
    context = browser.new_context(viewport=PHONE_VIEWPORT, base_url=live_server.url, is_mobile=True, has_touch=True)
    page = context.new_page()
    errors = []
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" and not _EXPECTED_STATUS.search(message.text) else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"browser console errors: {errors}"


def log_in(page, account, password):
    """Log in through the login page and land on the dashboard."""
    from playwright.sync_api import expect
    page.goto("/login")
    page.get_by_label("Email").fill(account.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))
