"""The kwtSMS upstream provider: the official client against a fake kwtSMS API on
loopback; batches of 200, error codes mapped to states, delivery reports polled."""
import datetime
import http.server
import json
import threading
import time

import pytest
from peewee import fn
from redis import Redis
from rq import SimpleWorker

from kwtsms import ledger
from kwtsms.dispatch import providers, service
from kwtsms.dispatch.providers import kwtsms_upstream
from kwtsms.messages import service as messages
from kwtsms.models import Account, DispatchEvent, DispatchProvider, DispatchRoute, Recipient, utcnow

from .factories import make_account


class FakeKwtSMS(http.server.ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.sends, self.failed, self.busy, self.reports = [], set(), 0, {}
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/API/"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        server = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        endpoint = self.path.strip("/").split("/")[-1]
        if body.get("username") != "reseller" or body.get("password") != "upstream-pass":
            reply = {"result": "ERROR", "code": "ERR003", "description": "Authentication error"}
        elif endpoint == "send":
            mobiles = body["mobile"].split(",")
            if server.busy:
                server.busy -= 1
                reply = {"result": "ERROR", "code": "ERR013", "description": "queue full"}
            elif "casino" in body["message"]:
                reply = {"result": "ERROR", "code": "ERR032", "description": "spam"}
            else:
                msg_id = f"up{len(server.sends) + 1:030d}"
                server.sends.append((msg_id, mobiles, body["message"], body["sender"]))
                server.reports[msg_id] = mobiles
                reply = {"result": "OK", "msg-id": msg_id, "numbers": len(mobiles), "points-charged": len(mobiles),
                         "balance-after": 1000, "unix-timestamp": int(time.time()) + 10800}
        elif endpoint == "dlr":
            mobiles = server.reports.get(body["msgid"])
            if mobiles is None:
                reply = {"result": "ERROR", "code": "ERR020", "description": "no such message"}
            else:
                reply = {"result": "OK", "report": [
                    {"Number": m, "Status": "FAILED" if m in server.failed else "DELIVERED"} for m in mobiles]}
        else:
            reply = {"result": "ERROR", "code": "ERR002", "description": "unknown"}
        data = json.dumps(reply).encode()
        self.send_response(200 if reply["result"] == "OK" else 400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def upstream():
    server = FakeKwtSMS()
    server.thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def ctx(app, upstream):
    with app.app_context():
        provider = DispatchProvider.create(name="kwtSMS", kind="kwtsms", host=upstream.url, system_id="reseller",
                                           secret="upstream-pass")
        DispatchRoute.create(prefix="", provider=provider)
        service.router().refresh()
        yield provider
        providers.close_all()


def work(redis_url):
    SimpleWorker(["dispatch", "default"], connection=Redis.from_url(redis_url)).work(burst=True, with_scheduler=True)


def statuses(message_id):
    return dict(Recipient.select(Recipient.status, fn.COUNT(Recipient.id)).where(Recipient.message == message_id)
                .group_by(Recipient.status).tuples())


def test_relays_in_batches_of_200_and_polls_reports(ctx, upstream, redis_url):
    account = make_account(balance=1000)
    numbers = [f"9655{i:07d}" for i in range(450)]
    upstream.failed = {numbers[3], numbers[300]}
    message = messages.send_message(account, sender="KWT-SMS", text="Hello from the reseller", numbers=numbers).message
    work(redis_url)
    assert [len(m) for _id, m, _t, _s in upstream.sends] == [200, 50, 200]  # claimed 250 at a time
    assert {s for _i, _m, _t, s in upstream.sends} == {"KWT-SMS"}
    assert statuses(message.id) == {"sent": 450}
    later = utcnow() + datetime.timedelta(minutes=1)
    assert kwtsms_upstream.poll_reports(now=later) == 450
    assert statuses(message.id) == {"delivered": 448, "failed": 2}
    account = Account.get_by_id(account.id)
    assert account.balance == 1000 - 450 + 2 == ledger.ledger_sum(account)


def test_upstream_errors_map_to_states(ctx, upstream, redis_url):
    account = make_account(balance=1000)
    spam = messages.send_message(account, sender="KWT-SMS", text="casino night", numbers=["96550000001"]).message
    work(redis_url)
    assert statuses(spam.id) == {"rejected": 1}
    assert Recipient.get(Recipient.message == spam.id).error.startswith("kwtSMS ERR032")
    upstream.busy = 1  # ERR013: the queue is full, nothing was taken: try again later
    busy = messages.send_message(account, sender="KWT-SMS", text="Hi", numbers=["96550000002"]).message
    work(redis_url)
    assert statuses(busy.id) == {"queued": 1}
    assert DispatchEvent.select().where(DispatchEvent.kind == "upstream_error").exists()
    Recipient.update(retry_at=None).execute()
    for batch_id in [b.id for b in service.DispatchBatch.select()]:
        from kwtsms.dispatch import runner
        runner.run_batch(batch_id)
    assert statuses(busy.id) == {"sent": 1}
    account = Account.get_by_id(account.id)
    assert account.balance == ledger.ledger_sum(account) == 1000 - 1


def test_wrong_upstream_password_waits_and_is_logged(ctx, upstream, redis_url):
    DispatchProvider.update(secret="nope", updated_at=utcnow()).execute()
    service.router().refresh()
    account = make_account(balance=10)
    message = messages.send_message(account, sender="KWT-SMS", text="Hi", numbers=["96550000003"]).message
    work(redis_url)
    assert statuses(message.id) == {"queued": 1}
    assert "ERR003" in DispatchEvent.get(DispatchEvent.kind == "upstream_error").detail
