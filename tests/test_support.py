"""Support: complaints about undelivered messages (window, prefilled facts, refunds, the
dispatch trail), general tickets with a thread of replies, attachments, scoping and the inbox."""
import datetime
import io
import json
import re
from pathlib import Path

import pytest

from kwtsms import ledger
from kwtsms.config import PROJECT_ROOT, from_environment
from kwtsms.errors import FieldErrors
from kwtsms.formatting import kuwait_time
from kwtsms.messages import service as messages
from kwtsms.models import (Account, Attachment, AuditLog, CarrierReceipt, CarrierSubmission, ComplaintRecipient,
                           DispatchProvider, LedgerEntry, Message, Recipient, Ticket, TicketReply, utcnow)
from kwtsms.support import service

from .factories import make_account

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64


@pytest.fixture
def app_config(app_config, tmp_path):
    return dict(app_config, ATTACHMENT_DIR=str(tmp_path / "attachments"), ATTACHMENT_MAX_MB=1)


def attachment_files(app):
    folder = Path(app.config["ATTACHMENT_DIR"])
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def send(app, account, numbers="96551234567, 96560001111, 96560002222", text="Sale today: 20% off"):
    """A message of `account`, its recipients failed with a carrier error code."""
    with app.app_context():
        message = messages.send_message(account, sender="KWT-SMS", text=text, numbers=numbers).message
    Recipient.update(status=Recipient.FAILED, error="UNDELIV err:034").where(Recipient.message == message.id).execute()
    return Message.get_by_id(message.id)


def recipients_of(message):
    return list(Recipient.select().where(Recipient.message == message.id).order_by(Recipient.id))


def upload(name, content):
    return (io.BytesIO(content), name)


def complain(browser, message, recipients, description="The customers say nothing arrived.", files=(), query=""):
    data = {"recipients": [r.id for r in recipients], "description": description, "attachments": list(files)}
    return browser.post(f"/support/complaint/{message.id}{query}", data=data, content_type="multipart/form-data")


def customer(login, **fields):
    fields.setdefault("balance", 100)
    return login(contact_name=fields.pop("contact_name", "Fatima Al-Sabah"), mobile=fields.pop("mobile", "96599887766"),
                 **fields)


# --- complaints: prefilled facts and the window -------------------------------------------

def test_complaint_is_prefilled_with_exactly_the_messages_facts(app, login):
    browser, account = customer(login)
    message = send(app, account)
    first, second, third = recipients_of(message)
    Recipient.update(status=Recipient.DELIVERED, error="").where(Recipient.id == third.id).execute()
    page = browser.get(f"/messages/{message.id}").get_data(as_text=True)
    assert f'href="/support/complaint/{message.id}"' in page
    assert f'href="/support/complaint/{message.id}?recipient={first.id}"' in page

    page = browser.get(f"/support/complaint/{message.id}").get_data(as_text=True)
    with app.test_request_context():
        sent = str(kuwait_time(message.created_at))
    facts = dict(re.findall(r'data-testid="fact-(\w+)">(?:<bdi[^>]*>|<p[^>]*data-testid="fact-text">)?([^<]*)<', page))
    assert facts["name"] == "Fatima Al-Sabah" and facts["mobile"] == "96599887766"
    assert facts["sender"] == "KWT-SMS" and facts["sent"] == sent
    assert re.search(r'data-testid="fact-text">Sale today: 20% off<', page)
    # The numbers not delivered are offered and checked, with their status and carrier error.
    checked = re.findall(r'name="recipients" value="(\d+)"\s+id="recipient-\d+" checked', page)
    assert checked == [str(first.id), str(second.id)] and "UNDELIV err:034" in page and "96560002222" not in page

    response = complain(browser, message, [first, second])
    ticket = Ticket.get()
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/support/{ticket.id}")
    assert (ticket.kind, ticket.status, ticket.account_id, ticket.message_id) == ("complaint", "open", account.id,
                                                                                   message.id)
    assert (ticket.contact_name, ticket.contact_mobile) == ("Fatima Al-Sabah", "96599887766")
    assert (ticket.sender, ticket.message_text, ticket.msg_id) == (message.sender, message.text, message.msg_id)
    assert ticket.sent_at == message.created_at
    assert [(n.recipient_id, n.mobile, n.status, n.error) for n in ComplaintRecipient.select().order_by(
        ComplaintRecipient.id)] == [(r.id, r.mobile, "failed", "UNDELIV err:034") for r in (first, second)]
    assert TicketReply.get().body == "The customers say nothing arrived."
    page = browser.get(f"/support/{ticket.id}").get_data(as_text=True)
    assert "The customers say nothing arrived." in page and "96560001111" in page and "Waiting for support" in page


def test_a_recipient_row_reports_just_that_number(app, login):
    browser, account = customer(login)
    message = send(app, account)
    _, second, _ = recipients_of(message)
    page = browser.get(f"/support/complaint/{message.id}?recipient={second.id}").get_data(as_text=True)
    assert re.findall(r'name="recipients" value="(\d+)"', page) == [str(second.id)]
    response = complain(browser, message, [second], query=f"?recipient={second.id}")
    assert response.status_code == 303
    assert [n.mobile for n in ComplaintRecipient.select()] == [second.mobile]
    other = send(app, account, numbers="96551112222")
    assert browser.get(f"/support/complaint/{message.id}?recipient={recipients_of(other)[0].id}").status_code == 404


def test_the_window_is_24_hours_and_configurable(app, login):
    browser, account = customer(login)
    message = send(app, account)
    recipients = recipients_of(message)
    with app.app_context():
        sent = message.created_at
        assert service.complaint_eligibility(message, now=sent + datetime.timedelta(hours=23, minutes=59)).allowed
        late = service.complaint_eligibility(message, now=sent + datetime.timedelta(hours=24, seconds=1))
        assert not late.allowed and "within 24 hours" in str(late.reason)
        with pytest.raises(FieldErrors):
            service.open_complaint(account, message, [recipients[0].id], "gone",
                                   now=sent + datetime.timedelta(hours=25))
    assert Ticket.select().count() == 0

    Message.update(created_at=utcnow() - datetime.timedelta(hours=24, minutes=1)).where(
        Message.id == message.id).execute()
    page = browser.get(f"/support/complaint/{message.id}").get_data(as_text=True)
    assert 'data-testid="complaint-closed"' in page and "can no longer be reported" in page
    assert 'name="description"' not in page
    response = complain(browser, message, recipients)
    assert response.status_code == 400 and "can no longer be reported" in response.get_data(as_text=True)
    assert Ticket.select().count() == TicketReply.select().count() == 0

    app.config["COMPLAINT_WINDOW_HOURS"] = 48
    assert complain(browser, message, recipients).status_code == 303


def test_test_messages_and_scheduled_ones_cannot_be_reported(app, login):
    browser, account = customer(login)
    with app.app_context():
        test = messages.send_message(account, sender="KWT-SMS", text="Hi", numbers="96551234567", test=True).message
        later = messages.send_message(account, sender="KWT-SMS", text="Hi", numbers="96551234567",
                                      schedule_at=utcnow() + datetime.timedelta(days=1)).message
    assert 'data-testid="report-problem"' not in browser.get(f"/messages/{test.id}").get_data(as_text=True)
    assert "nothing to report" in browser.get(f"/support/complaint/{test.id}").get_data(as_text=True)
    assert "not been sent yet" in browser.get(f"/support/complaint/{later.id}").get_data(as_text=True)


def test_bad_complaints_say_why_and_store_nothing(app, login):
    browser, account = customer(login)
    message = send(app, account)
    recipients = recipients_of(message)
    response = complain(browser, message, recipients, description="   ")
    assert response.status_code == 400 and "Write what happened" in response.get_data(as_text=True)
    response = complain(browser, message, [], description="Nothing arrived")
    assert response.status_code == 400 and "Choose at least one number" in response.get_data(as_text=True)
    stranger = send(app, make_account(balance=10), numbers="96551110000")
    response = complain(browser, message, recipients_of(stranger), description="Nothing arrived")
    assert response.status_code == 400 and "Only numbers this message was sent to" in response.get_data(as_text=True)
    # Another account's message: it does not exist for this one.
    response = complain(browser, stranger, recipients_of(stranger), description="Nothing arrived")
    assert response.status_code == 404
    assert browser.get(f"/support/complaint/{stranger.id}").status_code == 404
    with app.app_context(), pytest.raises(service.NotAParty):
        service.open_complaint(account, stranger, [r.id for r in recipients_of(stranger)], "Nothing arrived")
    assert Ticket.select().count() == ComplaintRecipient.select().count() == TicketReply.select().count() == 0


# --- attachments ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, content, says", [
    ("setup.exe", b"MZ\x90\x00" + b"\x00" * 100, "only images (PNG, JPEG, GIF, WebP) and PDF"),
    ("notes.png", b"just some text, not an image", "only images (PNG, JPEG, GIF, WebP) and PDF"),
    ("invoice.pdf", PNG, "is a PNG file, but its name does not end in .png"),
    ("photo.png", PDF, "is a PDF file, but its name does not end in .pdf"),
    ("picture.gif", JPEG, "is a JPEG file, but its name does not end in .jpg"),
    ("big.png", PNG + b"\x00" * (1024 * 1024), "is larger than 1 MB"),
    ("empty.pdf", b"", "is empty"),
])
def test_a_bad_attachment_is_refused_with_a_clear_message_and_nothing_is_stored(app, login, name, content, says):
    browser, account = customer(login)
    message = send(app, account)
    response = complain(browser, message, recipients_of(message), files=[upload("fine.pdf", PDF), upload(name, content)])
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and says in page and name in page
    assert Ticket.select().count() == TicketReply.select().count() == Attachment.select().count() == 0
    assert attachment_files(app) == []
    # The same on a reply and a general ticket.
    with app.app_context():
        ticket = service.open_ticket(account, "billing", "Invoice", "Where is my invoice?")
    response = browser.post(f"/support/{ticket.id}/reply", data={"body": "Here it is", "attachments": [upload(name, content)]},
                            content_type="multipart/form-data")
    assert response.status_code == 400 and says in response.get_data(as_text=True)
    response = browser.post("/support/new", data={"kind": "other", "subject": "Hi", "body": "Hello",
                                                  "attachments": [upload(name, content)]},
                            content_type="multipart/form-data")
    assert response.status_code == 400 and says in response.get_data(as_text=True)
    assert Ticket.select().count() == TicketReply.select().count() == 1 and Attachment.select().count() == 0
    assert attachment_files(app) == []


def test_attachments_are_stored_outside_static_and_served_only_to_the_tickets_parties(app, login):
    assert from_environment()["ATTACHMENT_DIR"].startswith(str(PROJECT_ROOT / "instance"))
    browser, account = customer(login)
    message = send(app, account)
    response = complain(browser, message, recipients_of(message)[:1],
                        files=[upload("screen shot.PNG", PNG), upload("تقرير.pdf", PDF)])
    assert response.status_code == 303
    png, pdf = Attachment.select().order_by(Attachment.id)
    assert (png.filename, png.content_type, png.size) == ("screen shot.PNG", "image/png", len(PNG))
    assert (pdf.filename, pdf.content_type) == ("تقرير.pdf", "application/pdf")
    stored = Path(app.config["ATTACHMENT_DIR"]) / png.stored_name
    assert stored.read_bytes() == PNG and not stored.resolve().is_relative_to((PROJECT_ROOT / "static").resolve())
    assert sorted(attachment_files(app)) == sorted([png.stored_name, pdf.stored_name])

    shown = browser.get(f"/support/attachments/{png.id}")
    assert shown.status_code == 200 and shown.data == PNG and shown.mimetype == "image/png"
    assert "sandbox" in shown.headers["Content-Security-Policy"] and shown.headers["X-Content-Type-Options"] == "nosniff"
    download = browser.get(f"/support/attachments/{pdf.id}")
    assert download.data == PDF and download.headers["Content-Disposition"].startswith("attachment")
    admin_client, _ = login("admin")
    assert admin_client.get(f"/support/attachments/{png.id}").status_code == 200
    stranger, _ = login()
    assert stranger.get(f"/support/attachments/{png.id}").status_code == 404
    assert stranger.get("/support/attachments/999999").status_code == 404
    assert app.test_client().get(f"/support/attachments/{png.id}").status_code == 302  # to the login page


# --- scoping -----------------------------------------------------------------------------------

def test_another_accounts_tickets_answer_404_and_a_stranger_stores_nothing(app, login):
    owner_client, owner = customer(login)
    message = send(app, owner)
    complain(owner_client, message, recipients_of(message)[:1])
    ticket = Ticket.get()
    owner_client.post(f"/support/{ticket.id}/close")
    assert Ticket.get_by_id(ticket.id).status == "closed"
    stranger, other = login()
    for method, url in [("GET", f"/support/{ticket.id}"), ("POST", f"/support/{ticket.id}/reply"),
                        ("POST", f"/support/{ticket.id}/close"), ("GET", "/admin/support/"),
                        ("GET", f"/admin/support/{ticket.id}"), ("POST", f"/admin/support/{ticket.id}/reply"),
                        ("POST", f"/admin/support/{ticket.id}/refund"), ("POST", f"/admin/support/{ticket.id}/assign")]:
        assert stranger.open(url, method=method, data={"body": "let me in"}).status_code == 404, url
    assert "No tickets yet" in stranger.get("/support/").get_data(as_text=True)
    with app.app_context(), pytest.raises(service.NotAParty):
        service.post_reply(other, ticket, "let me in")
    assert TicketReply.select().count() == 1 and Ticket.get_by_id(ticket.id).status == "closed"
    for url in ["/support/", f"/support/{ticket.id}", "/support/new", f"/support/complaint/{message.id}",
                "/admin/support/"]:
        assert app.test_client().get(url).status_code == 302, url


# --- the thread ---------------------------------------------------------------------------------

def test_a_general_ticket_thread_statuses_and_reopening(app, login):
    browser, account = customer(login)
    admin_client, admin = login("admin")
    response = browser.post("/support/new", data={"kind": "sender_id", "subject": "Sender ID for my shop",
                                                  "body": "How long does approval take?"})
    ticket = Ticket.get()
    assert response.status_code == 303 and (ticket.kind, ticket.status) == ("sender_id", "open")
    assert browser.post("/support/new", data={"kind": "complaint", "subject": "x", "body": "y"}).status_code == 400
    assert browser.post("/support/new", data={"kind": "other", "subject": "", "body": ""}).status_code == 400
    assert Ticket.select().count() == 1

    assert admin_client.post(f"/admin/support/{ticket.id}/reply", data={"body": "Usually one day."}).status_code == 303
    ticket = Ticket.get_by_id(ticket.id)
    assert ticket.status == "answered" and ticket.assignee_id == admin.id  # the first to answer takes it
    page = browser.get(f"/support/{ticket.id}").get_data(as_text=True)
    assert "Usually one day." in page and "Answered" in page
    browser.post(f"/support/{ticket.id}/close")
    assert Ticket.get_by_id(ticket.id).status == "closed"
    assert browser.post(f"/support/{ticket.id}/reply", data={"body": ""}).status_code == 400
    assert Ticket.get_by_id(ticket.id).status == "closed"
    browser.post(f"/support/{ticket.id}/reply", data={"body": "Still waiting, sorry."})
    assert Ticket.get_by_id(ticket.id).status == "open"  # reopened by replying
    admin_client.post(f"/admin/support/{ticket.id}/close")
    admin_client.post(f"/admin/support/{ticket.id}/reply", data={"body": "Approved now."})
    assert Ticket.get_by_id(ticket.id).status == "answered"
    assert [r.from_support for r in TicketReply.select().order_by(TicketReply.id)] == [False, True, False, True]
    fragment = browser.get(f"/support/{ticket.id}", headers={"HX-Request": "true", "HX-Target": "thread"})
    assert fragment.get_data(as_text=True).lstrip().startswith('<div id="thread"') and "Approved now." in fragment.get_data(as_text=True)


def test_unread_badge_for_the_customer_and_for_support(app, login):
    browser, account = customer(login)
    admin_client, admin = login("admin")
    badge = re.compile(r'data-testid="support-unread"><bdi dir="ltr" class="num">(\d+)<')
    assert not badge.search(browser.get("/dashboard").get_data(as_text=True))
    browser.post("/support/new", data={"kind": "billing", "subject": "Invoice", "body": "Please send it."})
    ticket = Ticket.get()
    assert badge.search(admin_client.get("/dashboard").get_data(as_text=True)).group(1) == "1"
    admin_client.get(f"/admin/support/{ticket.id}")
    assert not badge.search(admin_client.get("/dashboard").get_data(as_text=True))
    admin_client.post(f"/admin/support/{ticket.id}/reply", data={"body": "Sent to your email."})
    page = browser.get("/support/").get_data(as_text=True)
    assert badge.search(page).group(1) == "1" and "New reply" in page
    browser.get(f"/support/{ticket.id}")
    assert not badge.search(browser.get("/support/").get_data(as_text=True))
    # Another admin has it assigned to someone else: not their news.
    other_admin, _ = login("admin")
    browser.post(f"/support/{ticket.id}/reply", data={"body": "Thanks!"})
    assert badge.search(admin_client.get("/dashboard").get_data(as_text=True)).group(1) == "1"
    assert not badge.search(other_admin.get("/dashboard").get_data(as_text=True))


# --- support's side: the trail, refunds, the inbox -----------------------------------------------

def test_support_sees_the_dispatch_trail(app, login):
    browser, account = customer(login)
    message = send(app, account, numbers="96551234567")
    recipient = recipients_of(message)[0]
    provider = DispatchProvider.create(name="zain-smpp", kind="smpp")
    submitted = utcnow() - datetime.timedelta(minutes=5)
    Recipient.update(provider_id=provider.id, submitted_at=submitted, attempts=1).where(
        Recipient.id == recipient.id).execute()
    submission = CarrierSubmission.create(recipient=recipient.id, provider=provider.id, carrier_id="ZN-778899",
                                          submitted_at=submitted, state="failed")
    CarrierReceipt.create(provider=provider.id, carrier_id="ZN-778899", mobile=recipient.mobile, submission=submission.id,
                          stat="UNDELIV", err="034")
    complain(browser, message, [recipient])
    admin_client, _ = login("admin")
    page = admin_client.get(f"/admin/support/{Ticket.get().id}").get_data(as_text=True)
    trail = page[page.index('data-testid="dispatch-trail"'):]
    for fact in ("zain-smpp", "ZN-778899", "UNDELIV", "034", "96551234567", "UNDELIV err:034"):
        assert fact in trail, fact
    with app.app_context():
        [row] = service.dispatch_trail(message, [recipient.id])
    assert (row.provider, row.submitted_at, row.attempts) == ("zain-smpp", submitted, 1)
    assert [(p.carrier_id, [r["stat"] for r in p.receipts]) for p in row.parts] == [("ZN-778899", ["UNDELIV"])]


def test_a_refund_from_a_complaint_credits_exactly_the_affected_recipients(app, login):
    browser, account = customer(login)
    message = send(app, account, numbers="96551234567, 96560001111, 96560002222, 96560003333")
    first, second, third, fourth = recipients_of(message)
    Recipient.update(points=3).where(Recipient.id == second.id).execute()  # a longer personalised text
    Recipient.update(status=Recipient.SENT).where(Recipient.id == third.id).execute()  # still on its way
    complain(browser, message, [first, second, third])
    ticket = Ticket.get()
    admin_client, admin = login("admin")
    before = Account.get_by_id(account.id).balance

    response = admin_client.post(f"/admin/support/{ticket.id}/refund",
                                 data={"recipients": [first.id, second.id, third.id]})
    assert response.status_code == 303
    flashed = admin_client.get(f"/admin/support/{ticket.id}").get_data(as_text=True)
    assert "2 numbers refunded: 4 points" in flashed and "still being delivered" in flashed
    assert Account.get_by_id(account.id).balance == before + 4
    assert {r.id: r.refunded for r in recipients_of(message)} == {first.id: True, second.id: True, third.id: False,
                                                                  fourth.id: False}
    [entry] = LedgerEntry.select().where(LedgerEntry.kind == "refund")
    assert (entry.amount, entry.reference, entry.actor_id) == (4, message.msg_id, admin.id)
    [log] = AuditLog.select().where(AuditLog.action == "support.refunded")
    assert json.loads(log.details)["numbers"] == [first.mobile, second.mobile] and log.account_id == account.id
    assert [n.refunded_at is not None for n in ComplaintRecipient.select().order_by(ComplaintRecipient.id)] == \
        [True, True, False]

    # Again: nothing twice. A number outside the complaint: refused, nothing moves.
    admin_client.post(f"/admin/support/{ticket.id}/refund", data={"recipients": [first.id, second.id]})
    response = admin_client.post(f"/admin/support/{ticket.id}/refund", data={"recipients": [fourth.id]})
    assert response.status_code == 400 and "Only numbers listed in this complaint" in response.get_data(as_text=True)
    assert LedgerEntry.select().where(LedgerEntry.kind == "refund").count() == 1
    assert Account.get_by_id(account.id).balance == before + 4 == ledger.ledger_sum(account)
    assert not Recipient.get_by_id(fourth.id).refunded
    with app.app_context():
        result = service.refund_complaint(admin, ticket, [first.id])
    assert (result.refunded, result.points, result.already) == ([], 0, 1)


def test_support_inbox_filters_assigns_and_closes(app, login):
    admin_client, admin = login("admin")
    helper = make_account(role="admin", contact_name="Huda")
    browser, account = customer(login)
    message = send(app, account)
    complain(browser, message, recipients_of(message)[:1])
    browser.post("/support/new", data={"kind": "billing", "subject": "Old invoice question", "body": "?"})
    complaint, billing = Ticket.select().order_by(Ticket.id)
    Ticket.update(created_at=utcnow() - datetime.timedelta(days=4)).where(Ticket.id == billing.id).execute()

    def listed(query):
        page = admin_client.get(f"/admin/support/?{query}", headers={"HX-Request": "true"}).get_data(as_text=True)
        assert "<html" not in page
        return sorted(int(n) for n in re.findall(r'id="ticket-(\d+)"', page))

    assert listed("") == [complaint.id, billing.id]
    assert listed("kind=billing") == [billing.id]
    assert listed("kind=complaint") == [complaint.id]
    assert listed("age=3d") == [billing.id] and listed("age=7d") == []
    assert listed("q=invoice") == [billing.id]

    assert admin_client.post(f"/admin/support/{billing.id}/assign", data={"assignee": helper.id}).status_code == 303
    assert Ticket.get_by_id(billing.id).assignee_id == helper.id
    assert AuditLog.select().where(AuditLog.action == "support.assigned").count() == 1
    response = admin_client.post(f"/admin/support/{billing.id}/assign", data={"assignee": account.id})
    assert response.status_code == 400 and Ticket.get_by_id(billing.id).assignee_id == helper.id
    assert listed("assignee=none") == [complaint.id]
    admin_client.post(f"/admin/support/{complaint.id}/assign", data={"assignee": admin.id})
    assert listed("assignee=me") == [complaint.id]

    admin_client.post(f"/admin/support/{complaint.id}/close")
    assert Ticket.get_by_id(complaint.id).status == "closed"
    assert listed("") == [billing.id] and listed("status=closed") == [complaint.id]
    assert listed("status=all") == [complaint.id, billing.id]
    page = admin_client.get("/admin/support/?kind=sender_id").get_data(as_text=True)
    assert "No ticket matches these filters" in page and "<html" in page
