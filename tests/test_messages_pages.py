"""The composer, its live counter, history, queue, message page and opt-outs through the web."""
import re

from kwtsms import ledger
from kwtsms.groups import service as groups
from kwtsms.messages import service
from kwtsms.models import Account, Message, OptOut

from .factories import make_account


def test_counter_shows_pages_encoding_and_cost(login):
    browser, account = login(balance=100)
    group = groups.create_group(account, "G")
    for i in range(3):
        groups.add_contact(group, "", f"9655000000{i}")
    text = "مرحبا " * 14  # 84 Arabic characters: Unicode, 2 pages
    page = browser.post("/messages/counter", data={"message": text, "numbers": "96551234567, 123",
                                                   "groups": [group.id]}).get_data(as_text=True)
    assert re.search(r'data-testid="encoding">Unicode<', page)
    assert re.search(r'data-testid="pages">2 / 7<', page)
    assert re.search(r'data-testid="recipients">4<', page)
    assert re.search(r'data-testid="cost">8 ', page)
    assert re.search(r'data-testid="balance-after">92<', page)
    assert "1 typed numbers are not valid" in page


def test_review_then_send_from_the_composer(login):
    browser, account = login(balance=10)
    data = {"sender": "KWT-SMS", "numbers": "96551234567\n96560001111", "message": "Sale today"}
    review = browser.post("/messages/new", data=dict(data, action="review")).get_data(as_text=True)
    assert 'data-testid="confirm-recipients">2<' in review and 'data-testid="confirm-points">2<' in review
    assert Message.select().count() == 0  # reviewing charges nothing
    response = browser.post("/messages/new", data=dict(data, action="send"))
    assert response.status_code == 303
    message = Message.get()
    assert response.headers["Location"].endswith(f"/messages/{message.id}")
    assert Account.get_by_id(account.id).balance == 8
    page = browser.get(f"/messages/{message.id}").get_data(as_text=True)
    assert "Sale today" in page and "96560001111" in page
    assert "Sale today" in browser.get("/messages/").get_data(as_text=True)
    assert "Sale today" in browser.get("/messages/queue").get_data(as_text=True)


def test_composer_errors_appear_beside_fields_and_nothing_is_charged(login):
    browser, account = login(balance=10)
    response = browser.post("/messages/new", data={"sender": "KWT-SMS", "numbers": "", "message": "<b>x</b>",
                                                   "action": "review"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "HTML tags" in page and "is-invalid" in page
    response = browser.post("/messages/new", data={"sender": "KWT-SMS", "numbers": "", "message": "Hi",
                                                   "action": "send"})
    assert "Choose a group or type at least one number" in response.get_data(as_text=True)
    response = browser.post("/messages/new", data={"sender": "KWT-SMS", "numbers": "96551234567", "message": "Hi",
                                                   "action": "schedule", "schedule_at": "2001-01-01T10:00"})
    assert "already passed" in response.get_data(as_text=True)
    assert Message.select().count() == 0 and Account.get_by_id(account.id).balance == 10


def test_not_enough_credit_shows_the_missing_points(login):
    browser, account = login(balance=1)
    page = browser.post("/messages/new", data={"sender": "KWT-SMS", "numbers": "96551234567, 96551234568",
                                               "message": "Hi", "action": "send"}).get_data(as_text=True)
    assert "You need 1 more points" in page and Message.select().count() == 0


def test_schedule_in_kuwait_time_and_cancel_refunds(login):
    browser, account = login(balance=10)
    response = browser.post("/messages/new", data={"sender": "KWT-SMS", "numbers": "96551234567", "message": "Later",
                                                   "action": "schedule", "schedule_at": "2099-01-01T09:30"})
    assert response.status_code == 303
    message = Message.get()
    assert message.status == "scheduled" and message.scheduled_at.hour == 6  # 09:30 in Kuwait is 06:30 UTC
    browser.post(f"/messages/{message.id}/cancel")
    assert Message.get_by_id(message.id).status == "cancelled"
    account = Account.get_by_id(account.id)
    assert account.balance == 10 == ledger.ledger_sum(account)


def test_history_filters_by_sender_status_text_and_number(login):
    browser, account = login(balance=100)
    service.send_message(account, sender="KWT-SMS", text="Alpha offer", numbers="96551234567", test=True)
    service.send_message(account, sender="KWT-SMS", text="Beta news", numbers="96560001111", test=True)
    assert "Beta news" not in browser.get("/messages/?q=alpha").get_data(as_text=True)
    page = browser.get("/messages/?q=60001111").get_data(as_text=True)
    assert "Beta news" in page and "Alpha offer" not in page
    assert "No message matches" in browser.get("/messages/?status=done").get_data(as_text=True)


def test_opt_out_list_add_and_remove(login):
    browser, account = login()
    browser.post("/messages/opt-outs", data={"numbers": "96551234567, +965 6000 1111, nonsense"})
    assert sorted(o.mobile for o in OptOut.select()) == ["96551234567", "96560001111"]
    entry = OptOut.get(OptOut.mobile == "96551234567")
    browser.post(f"/messages/opt-outs/{entry.id}/delete")
    assert OptOut.select().count() == 1


def test_another_accounts_messages_answer_404(login):
    owner = make_account(balance=10)
    result = service.send_message(owner, sender="KWT-SMS", text="Private", numbers="96551234567", test=True)
    opt_out = OptOut.create(account=owner.id, mobile="96550000009")
    browser, _ = login()
    for method, url in [("GET", f"/messages/{result.message.id}"), ("GET", f"/messages/{result.message.id}/recipients.csv"),
                        ("POST", f"/messages/{result.message.id}/cancel"), ("POST", f"/messages/opt-outs/{opt_out.id}/delete")]:
        assert browser.open(url, method=method).status_code == 404, url


def test_recipients_export_csv(login):
    browser, account = login(balance=10)
    result = service.send_message(account, sender="KWT-SMS", text="Hi", numbers="96551234567, 96560001111", test=True)
    body = browser.get(f"/messages/{result.message.id}/recipients.csv").get_data().decode("utf-8-sig")
    lines = body.strip().splitlines()
    assert lines[0].startswith("mobile,name,status") and len(lines) == 3
