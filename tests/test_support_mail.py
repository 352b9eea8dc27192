"""Support notifications reach a real SMTP server (aiosmtpd on loopback, started here)."""
import email
import email.policy
import socket
import time

import pytest
from aiosmtpd.controller import Controller

from kwtsms.messages import service as messages
from kwtsms.models import Recipient, Ticket, TicketReply

SUPPORT = "helpdesk@kwtsms.example"


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append({"to": list(envelope.rcpt_tos), "subject": str(parsed["Subject"]),
                              "body": parsed.get_content()})
        return "250 OK"

    def wait_for(self, count, timeout=5):
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_inbox():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


@pytest.fixture
def app_config(app_config, smtp_inbox, tmp_path):
    _, port = smtp_inbox
    return dict(app_config, SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_STARTTLS=False, SUPPORT_EMAIL=SUPPORT,
                PUBLIC_BASE_URL="https://portal.example", ATTACHMENT_DIR=str(tmp_path / "attachments"))


def test_a_complaint_and_replies_notify_the_other_side(app, login, smtp_inbox):
    inbox, _ = smtp_inbox
    browser, account = login(balance=10, contact_name="Fatima", email="fatima@example.com")
    with app.app_context():
        message = messages.send_message(account, sender="KWT-SMS", text="Your order is ready",
                                        numbers="96551234567").message
    recipient = Recipient.get(Recipient.message == message.id)
    response = browser.post(f"/support/complaint/{message.id}",
                            data={"recipients": [recipient.id], "description": "My customer got nothing."})
    assert response.status_code == 303
    ticket = Ticket.get()
    [to_support] = inbox.wait_for(1)
    assert to_support["to"] == [SUPPORT] and f"[Ticket #{ticket.id}]" in to_support["subject"]
    assert "My customer got nothing." in to_support["body"] and "KWT-SMS" in to_support["body"]
    assert f"https://portal.example/admin/support/{ticket.id}" in to_support["body"]

    admin_client, _ = login("admin")
    admin_client.post(f"/admin/support/{ticket.id}/reply", data={"body": "The carrier confirms a fault; refunded."})
    to_customer = inbox.wait_for(2)[1]
    assert to_customer["to"] == ["fatima@example.com"] and "Support replied" in to_customer["subject"]
    assert "The carrier confirms a fault; refunded." in to_customer["body"] and "Hello Fatima," in to_customer["body"]
    assert f"https://portal.example/support/{ticket.id}" in to_customer["body"]

    browser.post(f"/support/{ticket.id}/reply", data={"body": "Thank you!"})
    again = inbox.wait_for(3)[2]
    assert again["to"] == [SUPPORT] and "Thank you!" in again["body"]
    assert len(inbox.messages) == 3


def test_a_post_is_kept_when_the_mail_server_is_down(app, login, smtp_inbox):
    inbox, _ = smtp_inbox
    app.config["SMTP_PORT"] = _free_port()  # nobody listens there
    browser, _ = login()
    response = browser.post("/support/new", data={"kind": "other", "subject": "Hello", "body": "Anyone there?"})
    assert response.status_code == 303 and TicketReply.select().count() == 1 and inbox.messages == []
