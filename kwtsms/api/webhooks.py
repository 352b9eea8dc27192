"""Delivery reports pushed to the account's webhook.

When the dispatch engine gives recipients their final state it sends
kwtsms.events.recipients_finalized; the receiver below queues an RQ job (never
posting from the sender's process) for accounts that set a webhook URL. The job
POSTs one JSON object per recipient, the shape kwtsms.parse_webhook() reads:

    {"msg-id": "<32 hex>", "mobile": "96598765432", "status": "DELIVERED",
     "delivered-at": 1700010800, "state": "delivered"}

`status` is DELIVERED, FAILED or REJECTED (expired and cancelled are FAILED; `state`
says which); `delivered-at` is Kuwait server time (UTC epoch + 10800) or null.

Each POST carries `X-KwtSMS-Signature: t=<unix time>,v1=<hex>` where hex is
HMAC-SHA256(webhook secret, "<t>." + raw body): verify it with verify_signature()
(or the same three lines in any language) and refuse old timestamps to stop replays.
A failed POST (network error, timeout, non-2xx) is retried with backoff
(WEBHOOK_RETRY_DELAYS); reports already accepted are not sent again.
"""
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import lazy_gettext as _l
from rq import Retry, get_current_job

from .. import jobs
from ..admin.service import audit
from ..db import db, fetch_one
from ..errors import FieldErrors
from ..events import recipients_finalized
from ..models import Account, Message, Recipient
from .service import kuwait_timestamp, wire_status

log = logging.getLogger("kwtsms.api.webhooks")

SIGNATURE_HEADER = "X-KwtSMS-Signature"
BATCH = 100  # recipients per job
JOB = "kwtsms.api.webhooks.deliver_reports"
REPORTED_STATES = (Recipient.DELIVERED, Recipient.FAILED, Recipient.REJECTED, Recipient.EXPIRED,
                   Recipient.CANCELLED)


class WebhookFailed(RuntimeError):
    """Some reports were not accepted; RQ retries the job (the accepted ones are skipped)."""


# --- signature ----------------------------------------------------------------------

def sign(secret, body, timestamp=None):
    """The signature header value for a raw body."""
    timestamp = int(time.time() if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret, header, body, tolerance=300, now=None):
    """True when `header` signs `body` with `secret` and is at most `tolerance` seconds old."""
    try:
        parts = dict(part.split("=", 1) for part in (header or "").split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


def payload(message, recipient):
    delivered = recipient.status == Recipient.DELIVERED
    return {"msg-id": message.msg_id, "mobile": recipient.mobile, "status": wire_status(recipient.status),
            "delivered-at": kuwait_timestamp(recipient.updated_at) if delivered else None,
            "state": recipient.status}


# --- settings -------------------------------------------------------------------------

def check_url(url):
    """The cleaned webhook URL ("" turns the webhook off), or FieldErrors."""
    url = (url or "").strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or len(url) > 500 or parts.username:
        raise FieldErrors.single("webhook_url", _l(
            "Enter a full web address starting with https://, for example https://example.com/sms/dlr."))
    return url


def set_webhook(account, url, actor=None):
    url = check_url(url)
    account = Account.get_by_id(account.id)
    secret = account.webhook_secret or secrets.token_hex(32)
    with db.atomic():
        Account.update(webhook_url=url, webhook_secret=secret).where(Account.id == account.id).execute()
        audit(actor or account, "api.webhook_set", account, url=url)
    return Account.get_by_id(account.id)


def regenerate_secret(account, actor=None):
    with db.atomic():
        Account.update(webhook_secret=secrets.token_hex(32)).where(Account.id == account.id).execute()
        audit(actor or account, "api.webhook_secret_regenerated", account)
    return Account.get_by_id(account.id)


# --- queueing -------------------------------------------------------------------------------

def retry_policy():
    delays = [int(d) for d in str(current_app.config["WEBHOOK_RETRY_DELAYS"]).split(",") if d.strip()]
    return Retry(max=len(delays), interval=delays) if delays else None


def queue_reports(message_id, recipient_ids):
    """Queue the webhook posts for these recipients; returns how many jobs were queued."""
    ids = sorted({int(i) for i in recipient_ids})
    if not ids:
        return 0
    # Raw SQL: asked for every message that reaches a final state, thousands a second.
    row = fetch_one("SELECT account.webhook_url FROM account JOIN message ON message.account_id = account.id "
                    "WHERE message.id = ?", (message_id,))
    if row is None or not row[0]:
        return 0
    queued = 0
    for start in range(0, len(ids), BATCH):
        jobs.queue().enqueue(JOB, message_id, ids[start:start + BATCH], retry=retry_policy(),
                             failure_ttl=7 * 86400)
        queued += 1
    return queued


@recipients_finalized.connect
def _recipients_finalized(sender, message_id=None, recipient_ids=(), **extra):
    """Receivers must be quick and must not raise: queue, log any failure."""
    try:
        queue_reports(message_id, recipient_ids or ())
    except Exception:  # a lost report must never break dispatch
        log.exception("webhook reports for message %s not queued", message_id)


# --- posting --------------------------------------------------------------------------------

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is a failure: the signed body must not go elsewhere


_opener = urllib.request.build_opener(_NoRedirect)


def _refused_address(host):
    """Why `host` may not receive webhooks (loopback, private...), or None."""
    if current_app.config["WEBHOOK_ALLOW_PRIVATE"]:
        return None
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError as error:
        return f"cannot resolve {host}: {error}"
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global:
            return f"{host} resolves to a non-public address ({ip})"
    return None


def post(url, secret, report, address_checked=False):
    """POST one signed report; raises WebhookFailed unless the receiver answers 2xx."""
    body = json.dumps(report, separators=(",", ":")).encode()
    refused = None if address_checked else _refused_address(urlsplit(url).hostname)
    if refused:
        raise WebhookFailed(refused)
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "kwtsms-portal-webhook/1",
        SIGNATURE_HEADER: sign(secret, body)})
    try:
        with _opener.open(request, timeout=current_app.config["WEBHOOK_TIMEOUT_SECONDS"]) as response:
            response.read(1024)
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (OSError, ValueError) as error:
        raise WebhookFailed(f"{url}: {error}") from error
    if not 200 <= status < 300:
        raise WebhookFailed(f"{url} answered HTTP {status}")


@jobs.job
def deliver_reports(message_id, recipient_ids):
    """POST the report of each recipient; raise (so RQ retries) if any was not accepted."""
    current = get_current_job()
    done = set(current.meta.get("done", ())) if current else set()
    message = Message.get_or_none(Message.id == message_id)
    if message is None:
        return {"sent": 0}
    account = Account.get_by_id(message.account_id)
    if not account.webhook_url:
        return {"sent": 0}
    recipients = (Recipient.select().where(Recipient.id.in_(list(recipient_ids)), Recipient.message == message.id,
                                           Recipient.status.in_(REPORTED_STATES)).order_by(Recipient.id))
    sent, errors = 0, []
    refused = _refused_address(urlsplit(account.webhook_url).hostname)  # once per job, not per report
    if refused:
        errors.append(refused)
    for recipient in recipients if not refused else ():
        if recipient.id in done:
            continue
        try:
            post(account.webhook_url, account.webhook_secret, payload(message, recipient), address_checked=True)
        except WebhookFailed as error:
            errors.append(str(error))
            break  # the receiver is down or refusing: the rest waits for the retry
        done.add(recipient.id)
        sent += 1
    if current is not None:
        current.meta["done"] = sorted(done)
        current.save_meta()
    if errors:
        log.warning("webhook of account %s: report not accepted (%s)", account.id, errors[0])
        raise WebhookFailed(f"{len(recipient_ids) - len(done)} reports still to send: {errors[0]}")
    return {"sent": sent}
