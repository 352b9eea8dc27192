"""Relay through a real kwtSMS account with the official `kwtsms` client, so a
reseller can run this portal on top of kwtSMS.

Sends go out in batches of at most 200 numbers per text (personalised messages
group recipients by their rendered text); kwtSMS's error codes decide each
recipient's state; delivery reports are polled by the clock (`poll_reports`).
The provider's `host` may hold another API base URL (a kwtSMS-compatible server);
empty means kwtsms.com. The client cleans the text its own way (it removes
emoji), as kwtSMS would.
"""
import contextlib
import datetime
import importlib.util
import logging
import sys
import threading
from importlib.metadata import distribution

from ...models import CarrierSubmission, DispatchProvider, Message, Recipient, utcnow
from .. import monitor
from .base import FAILED, REJECTED, RETRY, SENT, Outcome, Provider, ProviderError, Receipt, secret_of

log = logging.getLogger("kwtsms.dispatch.upstream")

BATCH = 200
# Codes that say "not now": the send was refused whole and nothing was charged upstream.
TEMPORARY = {"NETWORK", "ERR013", "ERR028", "ERR010", "ERR011", "ERR001", "ERR003", "ERR004", "ERR005", "ERR024",
             "ERR033"}
# Codes that refuse these numbers or this text for good.
REJECTING = {"ERR006", "ERR025", "ERR026", "ERR008", "ERR009", "ERR012", "ERR027", "ERR031", "ERR032",
             "ERR_INVALID_INPUT"}
NOT_READY = {"ERR019", "ERR021", "ERR022", "ERR023"}
_base_url_lock = threading.Lock()


def _load_official_client():
    """The official client's module (PyPI `kwtsms`, which shares our package's name).

    Its `_core` module holds the whole client and imports only the standard
    library, so it is loaded from site-packages under a name of its own.
    """
    name = "kwtsms_official_core"
    if name in sys.modules:
        return sys.modules[name]
    path = distribution("kwtsms").locate_file("kwtsms/_core.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


kwtsms_core = _load_official_client()


@contextlib.contextmanager
def _base_url(url):
    """The official client reads one module-level BASE_URL; point it where this provider says."""
    if not url:
        yield
        return
    url = url if url.endswith("/") else url + "/"
    with _base_url_lock:
        saved = kwtsms_core.BASE_URL
        kwtsms_core.BASE_URL = url
        try:
            yield
        finally:
            kwtsms_core.BASE_URL = saved


class UpstreamProvider(Provider):
    kind = DispatchProvider.KWTSMS

    def client(self, sender="KWT-SMS"):
        password = secret_of(self.row)
        if not self.row.system_id or not password:
            raise ProviderError("the kwtSMS account's API username or password is not set", retry_after=60)
        return kwtsms_core.KwtSMS(self.row.system_id, password, sender_id=sender, log_file="")

    def submit(self, work):
        from .. import service
        client = self.client(work.sender)
        outcomes = {}
        by_text = {}
        for item in work.items:
            by_text.setdefault(item.text, []).append(item)
        for text, items in by_text.items():
            for start in range(0, len(items), BATCH):
                chunk = items[start:start + BATCH]
                with _base_url(self.row.host):
                    result = client.send([item.mobile for item in chunk], text, sender=work.sender)
                invalid = {entry.get("input") for entry in result.get("invalid", [])}
                code = result.get("code", "")
                if result.get("result") == "OK":
                    msg_id = str(result.get("msg-id", ""))[:64]
                    monitor.count(self.id, "submitted", len(chunk))
                    for item in chunk:
                        if item.mobile in invalid:
                            outcomes[item.id] = Outcome(item.id, REJECTED, "kwtSMS: invalid number")
                        else:
                            parts = max(item.pages, 1)
                            outcomes[item.id] = Outcome(item.id, SENT, parts=[(1, parts, msg_id)])
                    continue
                description = f"kwtSMS {code}: {result.get('description', '')}"[:200]
                monitor.count(self.id, "errors")
                if code in TEMPORARY:
                    service.log_event("upstream_error", description, self.id)
                    for item in chunk:
                        outcomes[item.id] = Outcome(item.id, RETRY, description, retry_after=30)
                else:
                    kind = REJECTED if code in REJECTING else FAILED
                    for item in chunk:
                        outcomes[item.id] = Outcome(item.id, kind, description)
        return [outcomes[item.id] for item in work.items]


def _report(provider, msg_id):
    """kwtSMS's per-number report for one msg-id, through the official client's transport."""
    client = provider.client()
    with _base_url(provider.row.host):
        try:
            return kwtsms_core._request("dlr", {**client._creds(), "msgid": msg_id}, "")
        except RuntimeError as error:
            return {"result": "ERROR", "code": "NETWORK", "description": str(error)}


def poll_reports(now=None, min_age=datetime.timedelta(seconds=30), limit=50):
    """The clock's task: ask kwtSMS about sent recipients and record what it reports."""
    from .. import service
    now = now or utcnow()
    total = 0
    for row in DispatchProvider.select().where(DispatchProvider.kind == DispatchProvider.KWTSMS,
                                               DispatchProvider.is_enabled == True):  # noqa: E712
        provider = UpstreamProvider(row, None)
        open_ids = [mid for (mid,) in Message.select(Message.id).where(
            Message.status.in_([Message.SENDING, Message.CANCELLED])).tuples()]
        msg_ids = set()
        for start in range(0, len(open_ids), 200):
            msg_ids |= {c for (c,) in CarrierSubmission.select(CarrierSubmission.carrier_id).join(Recipient).where(
                Recipient.message.in_(open_ids[start:start + 200]), Recipient.status == Recipient.SENT,
                CarrierSubmission.provider == row.id, CarrierSubmission.state == CarrierSubmission.ACCEPTED,
                CarrierSubmission.submitted_at < now - min_age).distinct().tuples()}
        for msg_id in sorted(msg_ids)[:limit]:
            try:
                data = _report(provider, msg_id)
            except ProviderError as error:
                service.log_event("upstream_error", str(error), row.id)
                break
            if data.get("result") != "OK":
                code = data.get("code", "")
                if code not in NOT_READY:
                    service.log_event("upstream_error", f"report for {msg_id}: kwtSMS {code} "
                                                        f"{data.get('description', '')}", row.id)
                continue
            receipts = [Receipt(provider_id=row.id, carrier_id=msg_id, stat=str(entry.get("Status", "")).upper(),
                                mobile=str(entry.get("Number", "")), text=str(entry)[:300])
                        for entry in data.get("report", []) if isinstance(entry, dict)]
            receipts = [r for r in receipts if r.stat in service.RECEIPT_STATES]
            if receipts:
                service.record_receipts(receipts, now=now)
                monitor.count(row.id, "receipts", len(receipts))
                total += len(receipts)
    return total
