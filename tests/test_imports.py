"""Contact imports: every file format, the preview and mapping, the RQ job, bad files."""
import io
import json
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue, SimpleWorker

from kwtsms.errors import FieldErrors
from kwtsms.groups import service as groups
from kwtsms.imports import reader, service
from kwtsms.models import Contact, ContactImport, Group

from .factories import make_account

FIXTURES = Path(__file__).parent / "fixtures" / "imports"


def upload(account, name, tmp_path, group=None):
    with open(FIXTURES / name, "rb") as handle:
        contact_import = service.save_upload(account, str(tmp_path), name, handle, 50 * 1024 * 1024)
    service.choose_group(contact_import, account, group=group or groups.create_group(account, name))
    return contact_import


def numbers_in(group):
    return dict(Contact.select(Contact.mobile, Contact.name).where(Contact.group == group.id).tuples())


@pytest.mark.parametrize("name, encoding, delimiter, header, expected", [
    ("utf8_header_comma.csv", "utf-8-sig", ",", True,
     {"96550012345": "Ahmad Al-Sabah", "96560012345": "فاطمة", "96590012345": "Sara"}),
    ("utf8bom_semicolon_quoted.csv", "utf-8-sig", ";", True,
     {"96550012345": "Ahmad; the first", "96560012345": "فاطمة", "96590012345": "Sara"}),
    ("excel_unicode_text.txt", "utf-16", "\t", True,
     {"96550012345": "Ahmad Al-Sabah", "96560012345": "فاطمة", "96590012345": "Sara"}),
    ("windows1256_arabic.csv", "cp1256", ",", True, {"96550012345": "محمد العلي", "96560012345": "نورة"}),
    ("numbers_only_mixed.csv", "utf-8-sig", ",", False,
     {"96550012345": "", "96560012345": "", "96590012345": "", "96541012345": "", "96551234567": ""}),
    ("two_sheets.xlsx", "", ",", True, {"96550012345": "Ahmad", "96560012345": "Sara", "96590012345": "Text number"}),
])
def test_each_format_is_detected_and_imported(app, tmp_path, name, encoding, delimiter, header, expected):
    account = make_account()
    contact_import = upload(account, name, tmp_path)
    layout = service.layout_of(contact_import)
    assert (layout.encoding, layout.has_header) == (encoding, header)
    if layout.file_format == "csv":
        assert layout.delimiter == delimiter
    finished = service.run_import(contact_import.id)
    assert finished.status == "done"
    assert numbers_in(finished.group) == expected
    assert Group.get_by_id(finished.group_id).size == len(expected)


def test_report_counts_duplicates_and_rejections_exactly(app, tmp_path):
    account = make_account()
    first = service.run_import(upload(account, "numbers_only_mixed.csv", tmp_path).id)
    report = service.report(first)
    assert report["imported"] == 5 and report["duplicates_in_file"] == 1 and report["rejected"] == 0
    again = service.run_import(upload(account, "numbers_only_mixed.csv", tmp_path, group=first.group).id)
    report = service.report(again)
    assert report["imported"] == 0 and report["duplicates_in_group"] == 5 and report["duplicates_in_file"] == 1
    assert Group.get_by_id(first.group_id).size == 5


def test_xlsx_with_several_sheets_says_only_the_first_is_read(app, tmp_path):
    contact_import = upload(make_account(), "two_sheets.xlsx", tmp_path)
    assert "2 sheets" in contact_import.note and "Customers" in contact_import.note
    report = service.report(service.run_import(contact_import.id))
    assert report["rejected"] == 1 and report["rejected_rows"][0]["row"] == 6


def test_every_row_invalid_keeps_exact_counts_and_a_sample(app, tmp_path):
    finished = service.run_import(upload(make_account(), "all_invalid.csv", tmp_path).id)
    assert finished.status == "done"
    assert finished.rejected == 1500 and finished.imported == 0
    sample = json.loads(finished.rejected_sample)
    assert len(sample) == service.REJECTED_SAMPLE and sample[0][0] == 2 and sample[0][2]


def test_rejection_reasons_are_shown_in_the_readers_language(login, app, tmp_path):
    browser, account = login()
    finished = service.run_import(upload(account, "all_invalid.csv", tmp_path).id)
    english = browser.get(f"/imports/{finished.id}").get_data(as_text=True)
    assert "too short for Kuwait: 6 digits after 965, needs 8" in english
    browser.post("/language", data={"language": "ar", "next": "/"})
    arabic = browser.get(f"/imports/{finished.id}").get_data(as_text=True)
    assert "قصير جدًا بالنسبة إلى الكويت" in arabic and "too short" not in arabic
    download = browser.get(f"/imports/{finished.id}/rejected.csv").get_data(as_text=True)
    assert "قصير جدًا بالنسبة إلى الكويت" in download and len(download.splitlines()) == service.REJECTED_SAMPLE + 1
    finished.rejected_sample = json.dumps([[2, "123", "reason stored as text by an earlier version"]])
    assert service.rejected_rows(finished) == [(2, "123", "reason stored as text by an earlier version")]


@pytest.mark.parametrize("name, message", [
    ("empty.csv", "empty"),
    ("header_only.csv", "No phone numbers were found"),
    ("binary.csv", "does not look like a spreadsheet"),
    ("corrupt.xlsx", "damaged"),
])
def test_bad_files_are_refused_with_a_reason_and_nothing_is_stored(app, tmp_path, name, message):
    account = make_account()
    uploads = tmp_path / "uploads"
    with pytest.raises(FieldErrors) as error, open(FIXTURES / name, "rb") as handle:
        service.save_upload(account, str(uploads), name, handle, 10**7)
    assert message in str(error.value.errors["file"])
    assert ContactImport.select().count() == 0 and list(uploads.iterdir()) == []


def test_file_over_the_limit_is_refused(app, tmp_path):
    uploads = tmp_path / "uploads"
    with pytest.raises(FieldErrors) as error:
        service.save_upload(make_account(), str(uploads), "big.csv", io.BytesIO(b"96550012345\n" * 200_000), 1024 * 1024)
    assert "larger than 1 MB" in str(error.value.errors["file"])
    assert list(uploads.iterdir()) == []


def test_request_over_the_upload_limit_gets_a_clear_413_page(login, app):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    browser, _ = login()
    response = browser.post("/imports/new", data={"file": (io.BytesIO(b"1" * 5000), "big.csv"), "group": 0},
                            content_type="multipart/form-data")
    assert response.status_code == 413 and "larger than" in response.get_data(as_text=True)


def test_user_can_correct_the_detected_mapping(app, tmp_path):
    account = make_account()
    contact_import = upload(account, "utf8_header_comma.csv", tmp_path)
    service.change_layout(contact_import, has_header=False, number_column=1, name_column=None)
    rows = service.preview_rows(contact_import)
    assert rows[0][2] == "mobile" and not rows[0][3].ok  # the header is now read as a row
    with pytest.raises(FieldErrors):
        service.change_layout(contact_import, number_column=1, name_column=1)


def test_upload_preview_and_job_through_the_pages_on_a_real_redis(login, app, redis_url, tmp_path):
    app.config["UPLOAD_DIR"] = str(tmp_path)
    browser, account = login()
    with open(FIXTURES / "utf8bom_semicolon_quoted.csv", "rb") as handle:
        response = browser.post("/imports/new", data={"file": (handle, "list.csv"), "group": 0, "new_group": "From file"},
                                content_type="multipart/form-data")
    assert response.status_code == 303
    preview_url = response.headers["Location"]
    page = browser.get(preview_url).get_data(as_text=True)
    assert "Ahmad; the first" in page and "96550012345" in page and 'value="From file"' in page
    response = browser.post(preview_url.split("?")[0], data={
        "encoding": "utf-8-sig", "delimiter": ";", "has_header": "y", "number_column": 1, "name_column": 0,
        "group": 0, "new_group": "From file", "action": "start"})
    assert response.status_code == 303
    contact_import = ContactImport.get()
    assert contact_import.status == "queued"
    status = browser.get(f"/imports/{contact_import.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'hx-trigger="load delay:1s"' in status  # polls while queued

    queue = Queue("default", connection=Redis.from_url(redis_url))
    assert queue.count == 1
    with app.app_context():
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
    done = browser.get(f"/imports/{contact_import.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "load delay" not in done and 'data-testid="imported">3<' in done
    assert Group.get(Group.name == "From file").size == 3


def test_another_accounts_imports_answer_404(login, app, tmp_path):
    owner = make_account()
    contact_import = upload(owner, "utf8_header_comma.csv", tmp_path)
    browser, _ = login()
    for url in (f"/imports/{contact_import.id}", f"/imports/{contact_import.id}/preview",
                f"/imports/{contact_import.id}/rejected.csv"):
        assert browser.get(url).status_code == 404


def test_command_line_import_prints_the_report(app, tmp_path):
    account = make_account()
    app.config["UPLOAD_DIR"] = str(tmp_path)
    result = app.test_cli_runner().invoke(args=["contacts", "import", "--email", account.email, "--group", "CLI",
                                                str(FIXTURES / "utf8_header_comma.csv")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["imported"] == 3 and report["rejected"] == 1
    assert report["rejected_rows"][0] == {"row": 5, "value": "9657119440",
                                          "reason": "too short for Kuwait: 7 digits after 965, needs 8"}


def test_an_import_whose_worker_died_is_failed_by_the_clock_and_can_be_run_again(app, tmp_path, monkeypatch):
    import datetime

    from kwtsms.dispatch import clock
    from kwtsms.models import utcnow
    account = make_account()
    big = tmp_path / "big.csv"
    big.write_text("".join(f"9655{i:07d}\n" for i in range(service.BATCH * 2 + 100)))
    group = groups.create_group(account, "big")

    def start_import():
        with open(big, "rb") as handle:
            contact_import = service.save_upload(account, str(tmp_path / "uploads"), "big.csv", handle, 10 ** 8)
        service.choose_group(contact_import, account, group=group)
        return contact_import

    write_batch = service._write_batch
    batches = []

    def killed_after_one_batch(*args):
        if batches:
            raise KeyboardInterrupt  # what SIGKILL leaves behind: no except clause runs, no status written
        batches.append(1)
        write_batch(*args)

    monkeypatch.setattr(service, "_write_batch", killed_after_one_batch)
    first = start_import()
    with pytest.raises(KeyboardInterrupt):
        service.run_import(first.id)
    monkeypatch.setattr(service, "_write_batch", write_batch)
    assert ContactImport.get_by_id(first.id).status == "running"

    assert service.fail_stalled() == 0  # it made progress a moment ago
    later = utcnow() + service.STALLED_AFTER + datetime.timedelta(seconds=1)
    assert service.fail_stalled(now=later) == 1
    failed = ContactImport.get_by_id(first.id)
    assert failed.status == "failed" and "import the same file again" in failed.error
    assert failed.imported == service.BATCH and not Path(failed.stored_path).exists()
    service._finish(first, "done")  # a worker that was only slow, finishing late: the failure stays
    assert ContactImport.get_by_id(first.id).status == "failed"

    again = service.run_import(start_import().id)
    assert (again.status, again.imported, again.duplicates_in_group) == ("done", service.BATCH + 100, service.BATCH)
    assert Group.get_by_id(group.id).size == service.BATCH * 2 + 100
    assert clock.run_once(app, due={"fail stalled imports"}) == {"fail stalled imports": 0}  # the clock runs it


def test_an_import_queued_before_redis_lost_its_data_is_queued_again(app, tmp_path, redis_client):
    import datetime

    from kwtsms.models import utcnow
    account = make_account()
    with app.app_context():
        contact_import = upload(account, "utf8_header_comma.csv", tmp_path)
        assert service.start(contact_import) and service.start(contact_import)  # the second click starts nothing
        queue = Queue("default", connection=redis_client)
        assert queue.count == 1
        later = utcnow() + service.LOST_AFTER + datetime.timedelta(seconds=1)
        assert service.requeue_lost(now=later) == 0  # Redis still has its job
        redis_client.flushall()  # Redis restarted without its data
        assert service.requeue_lost() == 0  # not before LOST_AFTER
        assert service.requeue_lost(now=later) == 1 and queue.count == 1
        SimpleWorker([queue], connection=redis_client).work(burst=True)
    finished = ContactImport.get_by_id(contact_import.id)
    assert (finished.status, finished.imported) == ("done", 3)
