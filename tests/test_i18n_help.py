"""English and Arabic, the language switch, and the public help page."""
import csv
import io

from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from kwtsms.config import PROJECT_ROOT
from kwtsms.models import Account


def test_arabic_switch_gives_rtl_page_and_is_remembered(client):
    response = client.post("/language", data={"language": "ar", "next": "/help"})
    assert response.status_code == 303 and response.headers["Location"] == "/help"
    page = client.get("/help").get_data(as_text=True)
    assert 'dir="rtl"' in page and 'lang="ar"' in page and "bootstrap-5.3.9.rtl.min.css" in page
    assert "مساعدة" in page  # "Help", translated
    assert '<bdi dir="ltr" class="num">96598765432</bdi>' in page  # numbers stay left-to-right
    client.post("/language", data={"language": "en", "next": "/help"})
    assert 'dir="ltr"' in client.get("/help").get_data(as_text=True)


def test_language_choice_is_saved_on_the_account(login, app):
    browser, account = login()
    browser.post("/language", data={"language": "ar", "next": "/dashboard"})
    assert Account.get_by_id(account.id).language == "ar"


def test_browser_language_is_used_when_nothing_was_chosen(client):
    page = client.get("/help", headers={"Accept-Language": "ar-KW,ar;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert 'dir="rtl"' in page


def test_unknown_language_is_refused(client):
    assert client.post("/language", data={"language": "xx"}).status_code == 400


def test_language_switch_ignores_offsite_next(client):
    response = client.post("/language", data={"language": "ar", "next": "https://evil.example/"})
    assert response.headers["Location"] == "/"


def test_every_message_in_the_code_has_an_arabic_translation(tmp_path):
    template = tmp_path / "messages.pot"
    CommandLineInterface().run(["pybabel", "-q", "extract", "-F", str(PROJECT_ROOT / "babel.cfg"), "-k", "_l",
                                "-o", str(template), str(PROJECT_ROOT / "kwtsms"), str(PROJECT_ROOT / "templates")])
    with open(template, "rb") as handle:
        wanted = {m.id for m in read_po(handle) if m.id}
    with open(PROJECT_ROOT / "kwtsms/translations/ar/LC_MESSAGES/messages.po", "rb") as handle:
        catalog = read_po(handle)
    translated = {m.id for m in catalog if m.id and not m.fuzzy and m.string and
                  (not isinstance(m.string, tuple) or all(m.string))}
    missing = sorted(str(m) for m in wanted - translated)
    assert missing == [], "run pybabel extract/update and translate these:\n" + "\n".join(missing)


def test_help_covers_each_topic(client):
    page = client.get("/help").get_data(as_text=True)
    for topic in ("at most 11 characters", "without + or 00", "first column", "Recharging credit",
                  "API username and password are separate", "within 24 hours"):
        assert topic in page


def test_sample_files_download_and_parse(client):
    for name, expected_columns in (("names-and-numbers.csv", 2), ("numbers-only.csv", 1)):
        response = client.get(f"/help/samples/{name}")
        assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
        assert len(rows) >= 3 and all(len(row) == expected_columns for row in rows)
        assert all(row[-1].isdigit() and row[-1].startswith("965") for row in rows[1:])
    assert client.get("/help/samples/../../app.py").status_code == 404
