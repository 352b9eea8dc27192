"""Dispatch throughput: a 100,000-recipient campaign through real worker processes
(`python -m kwtsms.worker`) to a local SMPP peer (tests/smsc.py on smpp34, in its
own process), with the SMPP receiver and the clock running as the Procfile runs
them, on SQLite; then the same through the development sink.

Figures: submitted/s (claimed, handed to the carrier, answer recorded) and
final/s (until every recipient has its final state from a delivery receipt),
and the CPU each process spent on the scenario (user + system, its forked
children included), in seconds and in milliseconds per recipient, to see where
the shared cores go.

    .venv/bin/python bench/dispatch.py          # prints JSON
    RECIPIENTS=20000 .venv/bin/python bench/dispatch.py
"""
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import fresh_app, machine, start_redis  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RECIPIENTS = int(os.environ.get("RECIPIENTS", 100_000))
WINDOW = 100
BIND_MODE = "split"  # workers bind as transmitters, the receiver process takes every receipt


def spawn(args, env):
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _signal(process, signum):
    try:
        os.killpg(process.pid, signum)  # with what it forked (the worker's RQ scheduler)
    except ProcessLookupError:
        pass


def stop(processes):
    for process in processes:
        _signal(process, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            pass
        _signal(process, signal.SIGKILL)


def cpu_seconds(leader_pid):
    """CPU time (user + system) of a process and, when it leads a session (`spawn`), of
    every process in it, including children they reaped."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(stat.parent.name) == leader_pid or int(fields[3]) == leader_pid:  # fields[3]: the session id
            ticks += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def wait_port(port, timeout=15):
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("the fake SMSC did not start")


def main():
    workdir = Path(tempfile.mkdtemp(prefix="kwtsms-bench-dispatch-"))
    redis_process, redis_url = start_redis(workdir)
    database_url = f"sqlite:///{workdir}/bench.db"
    from tests.smsc import free_port
    smsc_port = free_port()
    smsc = spawn(["-m", "tests.smsc", str(smsc_port)], dict(os.environ, SMPP34_WORKER_THREADS="1"))
    env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url, SECRET_KEY="bench",
               KWTSMS_ENV="development", PYTHONUNBUFFERED="1")
    results = []
    try:
        wait_port(smsc_port)
        app = fresh_app(database_url, REDIS_URL=redis_url, MAX_QUEUED_MESSAGES=10**6)
        with app.app_context():
            from kwtsms import ledger
            from kwtsms.auth.service import create_account
            from kwtsms.db import db
            from kwtsms.groups.service import create_group
            from kwtsms.models import DispatchProvider, DispatchRoute, Group
            account = create_account(email="bench@example.com", password="bench-password-1", check_password=False)
            ledger.credit(account, RECIPIENTS * 4, reason="bench")
            group = create_group(account, "Bench")
            with db.atomic():
                db.cursor().executemany("INSERT INTO contact (group_id, name, mobile) VALUES (?, ?, ?)",
                                        [(group.id, "", f"9655{i:07d}") for i in range(RECIPIENTS)])
                Group.update(size=RECIPIENTS).where(Group.id == group.id).execute()
            smpp = DispatchProvider.create(name="Local SMSC", kind="smpp", host="127.0.0.1", port=smsc_port,
                                           system_id="kwtsms", secret="secret", window=WINDOW, mps=0,
                                           bind_mode=BIND_MODE)
            sink = DispatchProvider.create(name="Bench sink", kind="sink", sink_delay=0, sink_failure_percent=0)
            route = DispatchRoute.create(prefix="", provider=smpp)
            account_id, group_id = account.id, group.id
            sink_id, smpp_id = sink.id, smpp.id

        def scenario(name, provider_id, workers):
            with app.app_context():
                from kwtsms.messages import service as messages
                from kwtsms.models import Account, DispatchRoute, Message, Recipient
                DispatchRoute.update(provider=provider_id).where(DispatchRoute.id == route.id).execute()
                # Accepted while no worker runs: the clock starts the run.
                message = messages.send_message(Account.get_by_id(account_id), sender="KWT-SMS",
                                                text="Weekend offer: 20% off everything", group_ids=[group_id]).message
                helpers = {"clock": spawn(["-m", "kwtsms.dispatch.clock"], env)}
                if provider_id == smpp_id:
                    helpers["receiver"] = spawn(["-m", "kwtsms.dispatch.receiver"], env)
                time.sleep(2)  # helpers up
                # CPU from here on; the workers' start-up (imports, binding) counts, the helpers' does not.
                long_lived = {**helpers, "smsc": smsc, "redis": redis_process}
                cpu_before = {who: cpu_seconds(process.pid) for who, process in long_lived.items()}
                cpu_before["bench (polling)"] = own_cpu_seconds()
                started = time.perf_counter()
                pool = [spawn(["-m", "kwtsms.worker"], env) for _ in range(workers)]
                submitted_at = None
                try:
                    while True:
                        time.sleep(0.25)
                        open_left = dict(Recipient.select(Recipient.status, Recipient.id)
                                         .where(Recipient.message == message.id,
                                                Recipient.status.in_(["queued", "submitting", "sent"]))
                                         .limit(1).tuples())
                        if submitted_at is None and not Recipient.select().where(
                                Recipient.message == message.id,
                                Recipient.status.in_(["queued", "submitting"])).exists():
                            submitted_at = time.perf_counter() - started
                        if not open_left:
                            final_at = time.perf_counter() - started
                            break
                        if time.perf_counter() - started > 1800:
                            raise RuntimeError(f"{name}: not finished after 30 minutes")
                    cpu = {"workers": sum(cpu_seconds(process.pid) for process in pool)}
                    cpu.update({who: cpu_seconds(process.pid) - cpu_before[who] for who, process in long_lived.items()})
                    cpu["bench (polling)"] = own_cpu_seconds() - cpu_before["bench (polling)"]
                    cpu["total"] = sum(cpu.values())
                finally:
                    stop(pool + list(helpers.values()))
                from peewee import fn
                counts = dict(Recipient.select(Recipient.status, fn.COUNT(Recipient.id))
                              .where(Recipient.message == message.id).group_by(Recipient.status).tuples())
                status = Message.get_by_id(message.id).status
            return {"scenario": name, "workers": workers, "recipients": RECIPIENTS,
                    "seconds_until_all_submitted": round(submitted_at, 2),
                    "submitted_per_second": round(RECIPIENTS / submitted_at),
                    "seconds_until_all_final": round(final_at, 2),
                    "final_per_second": round(RECIPIENTS / final_at),
                    "cpu_seconds": {who: round(seconds, 2) for who, seconds in cpu.items()},
                    "cpu_ms_per_message": {who: round(seconds * 1000 / RECIPIENTS, 3) for who, seconds in cpu.items()},
                    "statuses": counts, "message_status": status}

        results.append(scenario("smpp (local smpp34 peer), receipts recorded", smpp_id, 1))
        results.append(scenario("smpp (local smpp34 peer), receipts recorded", smpp_id, 2))
        results.append(scenario("development sink, receipts recorded", sink_id, 1))
    finally:
        stop([smsc])
        redis_process.terminate()
    print(json.dumps({
        "benchmark": "dispatch", "database": "sqlite", "machine": machine(),
        "note": "everything on one machine: worker(s), SMPP receiver, clock, fake SMSC, Redis and SQLite share its cores",
        "smpp_window": WINDOW, "smpp_bind_mode": BIND_MODE, "results": results,
        "targets": {"submitted_per_second_one_worker": ">= 2000", "two_workers": "close to twice one"},
    }, indent=2))


if __name__ == "__main__":
    main()
