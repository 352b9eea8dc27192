"""Crash safety with real processes: a worker killed with SIGKILL in the middle of a
20,000-recipient campaign, and Redis restarted in the middle of a campaign.

The worker and the SMPP receiver run as the Procfile runs them (`python -m ...`)
against the test's database; the fake SMSC runs in this process; the clock's
sweeps are called from here."""
import os
import signal
import subprocess
import sys
import time

import pytest
import redis as redis_lib
from peewee import fn

from kwtsms import ledger
from kwtsms.config import PROJECT_ROOT
from kwtsms.dispatch import providers, service
from kwtsms.messages import service as messages
from kwtsms.models import Account, DispatchProvider, DispatchRoute, Message, Recipient

from .conftest import _free_port, redis_server_binary
from .factories import make_account
from .smsc import FakeSMSC

STALE = 6
FINAL = ("delivered", "failed", "rejected", "expired", "cancelled")


@pytest.fixture
def ctx(app):
    app.config["DISPATCH_STALE_SECONDS"] = STALE
    with app.app_context():
        service.router().refresh()
        yield app
        providers.close_all()


@pytest.fixture
def smsc():
    fake = FakeSMSC().start()
    yield fake
    fake.stop()


def start(module, database_url, redis_url):
    env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url, SECRET_KEY="test-secret",
               DISPATCH_STALE_SECONDS=str(STALE), PYTHONUNBUFFERED="1")
    # A session of its own: the RQ scheduler the worker forks dies with it (killpg).
    return subprocess.Popen([sys.executable, "-m", module], cwd=PROJECT_ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill(process, signum=signal.SIGKILL):
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


def stop(process):
    kill(process, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        pass
    kill(process, signal.SIGKILL)  # and whatever it forked
    if process.poll() is None:
        process.wait(10)


def statuses(message_id):
    return dict(Recipient.select(Recipient.status, fn.COUNT(Recipient.id)).where(Recipient.message == message_id)
                .group_by(Recipient.status).tuples())


def sweep_until_final(message_id, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        service.reconcile_stuck()
        service.rescue()
        service.match_pending_receipts()
        service.sweep_finished()
        counts = statuses(message_id)
        if set(counts) <= set(FINAL):
            return counts
        time.sleep(0.5)
    return statuses(message_id)


def carrier(smsc, window=20):
    provider = DispatchProvider.create(name="Carrier", kind="smpp", host="127.0.0.1", port=smsc.port,
                                       system_id="kwtsms", secret="secret", window=window, mps=0)
    DispatchRoute.create(prefix="", provider=provider)
    service.router().refresh()
    return provider


def check_money(account, message_id, sent):
    account = Account.get_by_id(account.id)
    failed = Recipient.select().where(Recipient.message == message_id, Recipient.status == "failed")
    assert all(r.refunded for r in failed)
    assert account.balance == ledger.ledger_sum(account) == 100_000 - sent + failed.count()


def test_sigkill_mid_campaign_loses_nothing_and_resends_nothing(ctx, smsc, database_url, redis_url):
    carrier(smsc)
    account = make_account(balance=100_000)
    count = 20_000
    numbers = [f"9655{i:07d}" for i in range(count)]
    message = messages.send_message(account, sender="KWT-SMS", text="Campaign", numbers=numbers).message
    worker = start("kwtsms.worker", database_url, redis_url)
    receiver = start("kwtsms.dispatch.receiver", database_url, redis_url)
    try:
        assert smsc.wait_for(lambda: sum(smsc.accepted.values()) >= 3000, timeout=120), "the worker did not start"
        kill(worker)  # SIGKILL: the worker and its scheduler, mid-campaign
        worker.wait(10)
        taken = sum(smsc.accepted.values())
        assert taken < count, "the campaign finished before the kill"
        worker = start("kwtsms.worker", database_url, redis_url)
        counts = sweep_until_final(message.id, timeout=240)
    finally:
        stop(worker)
        stop(receiver)
    assert set(counts) <= set(FINAL) and sum(counts.values()) == count, counts
    assert max(smsc.accepted.values()) == 1, "a number was submitted twice"
    assert set(smsc.accepted) <= set(numbers)
    failed = Recipient.select().where(Recipient.message == message.id, Recipient.status == "failed")
    assert all(r.error.startswith("interrupted") for r in failed)
    assert counts.get("delivered", 0) >= count - 1000
    assert Message.get_by_id(message.id).status == "done"
    check_money(account, message.id, count)


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server of this test's own, so it can be restarted."""
    port = _free_port()

    def launch():
        return subprocess.Popen([redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", str(tmp_path)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    url = f"redis://127.0.0.1:{port}/0"
    state = {"process": launch()}

    def wait_up():
        client = redis_lib.Redis.from_url(url)
        for _ in range(200):
            try:
                client.ping()
                return
            except redis_lib.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis did not start")

    def restart():
        state["process"].kill()
        state["process"].wait(10)
        time.sleep(0.5)
        state["process"] = launch()
        wait_up()

    wait_up()
    yield url, restart
    state["process"].kill()
    state["process"].wait(10)


def test_redis_restart_mid_campaign_loses_nothing(ctx, smsc, database_url, own_redis):
    url, restart = own_redis
    ctx.config["REDIS_URL"] = url
    ctx.config["DISPATCH_BATCH_SIZE"] = 500
    carrier(smsc, window=5)
    DispatchProvider.update(mps=1500).execute()
    account = make_account(balance=100_000)
    count = 6000
    numbers = [f"9656{i:07d}" for i in range(count)]
    message = messages.send_message(account, sender="KWT-SMS", text="Campaign", numbers=numbers).message
    worker = start("kwtsms.worker", database_url, url)
    receiver = start("kwtsms.dispatch.receiver", database_url, url)
    try:
        assert smsc.wait_for(lambda: sum(smsc.accepted.values()) >= 1000, timeout=120)
        restart()  # every queued job is gone
        assert sum(smsc.accepted.values()) < count, "the campaign finished before the restart"
        counts = sweep_until_final(message.id, timeout=240)
    finally:
        stop(worker)
        stop(receiver)
    assert set(counts) <= set(FINAL) and sum(counts.values()) == count, counts
    assert max(smsc.accepted.values()) == 1
    assert counts.get("delivered", 0) >= count - 50
    check_money(account, message.id, count)
