"""Outgoing email over SMTP; without SMTP settings the message goes to the log instead."""
import logging
import smtplib
from email.message import EmailMessage

from flask import current_app

log = logging.getLogger("kwtsms.mail")


def send_mail(to, subject, body):
    config = current_app.config
    if not config["SMTP_HOST"]:
        log.warning("SMTP_HOST is not set; email to %s not sent.\nSubject: %s\n\n%s", to, subject, body)
        return
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=20) as smtp:
        if config["SMTP_STARTTLS"]:
            smtp.starttls()
        if config["SMTP_USER"]:
            smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"])
        smtp.send_message(message)
