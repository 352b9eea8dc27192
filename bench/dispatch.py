"""Dispatch throughput: a 100,000-recipient campaign through real worker processes
(`python -m kwtsms.worker`) to a local SMPP peer (tests/smsc.py on smpp34, in its
own process), with the SMPP receiver and the clock running as the Procfile runs
them, with 1 and 2 workers; then the same through the development sink. All of it on
SQLite, then on PostgreSQL (a throwaway database, used through peewee's connection
pool like the Procfile's processes), where writers do not queue for one lock.

Figures: submitted/s (claimed, handed to the carrier, answer recorded) and
final/s (until every recipient has its final state from a delivery receipt),
and the CPU each process spent on the scenario (user + system, its forked
children included), in seconds and in milliseconds per recipient, to see where
the shared cores go. On PostgreSQL the server's processes are measured too.

    .venv/bin/python bench/dispatch.py          # prints JSON
    RECIPIENTS=20000 .venv/bin/python bench/dispatch.py
    BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres (default; "" skips PostgreSQL)
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
from bench.common import (fresh_app, machine, pooled, postgres_admin_url, postgres_database,  # noqa: E402
                          postgres_server_pid, start_redis)

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


def cpu_seconds(leader_pid, by="session"):
    """CPU time (user + system) of a process and, with by="session", of every process in the
    session it leads (`spawn`), or with by="parent", of its children (the PostgreSQL server:
    the postmaster and its backends), including children they reaped."""
    link = {"session": 3, "parent": 1}[by]  # after the ")": 1 ppid, 3 session id
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(stat.parent.name) == leader_pid or int(fields[link]) == leader_pid:
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


def insert_contacts(group_id, count, rows_per_statement=1000):
    """`count` contacts in multi-row INSERTs (`?` placeholders, turned into the driver's style by kwtsms.db)."""
    from kwtsms.db import execute
    for start in range(0, count, rows_per_statement):
        numbers = range(start, min(count, start + rows_per_statement))
        execute("INSERT INTO contact (group_id, name, mobile) VALUES " + ", ".join(["(?, ?, ?)"] * len(numbers)),
                [value for i in numbers for value in (group_id, "", f"9655{i:07d}")])


def postgres_settings():
    from kwtsms.db import fetch_all
    names = ("autovacuum", "fsync", "synchronous_commit", "shared_buffers", "max_connections")
    return dict(fetch_all("SELECT name, current_setting(name) FROM pg_settings WHERE name IN "
                          f"({', '.join(['?'] * len(names))})", names))


def run_database(database, url, process_url, redis_url, smsc, smsc_port, redis_process):
    """The scenarios on one database: `url` for this process, `process_url` for the ones it starts."""
    env = dict(os.environ, DATABASE_URL=process_url, REDIS_URL=redis_url, SECRET_KEY="bench",
               KWTSMS_ENV="development", PYTHONUNBUFFERED="1")
    app = fresh_app(url, REDIS_URL=redis_url, MAX_QUEUED_MESSAGES=10**6)
    with app.app_context():
        from kwtsms import ledger
        from kwtsms.auth.service import create_account
        from kwtsms.db import db, is_sqlite
        from kwtsms.groups.service import create_group
        from kwtsms.models import DispatchProvider, DispatchRoute, Group
        account = create_account(email="bench@example.com", password="bench-password-1", check_password=False)
        ledger.credit(account, RECIPIENTS * 4, reason="bench")
        group = create_group(account, "Bench")
        with db.atomic():
            insert_contacts(group.id, RECIPIENTS)
            Group.update(size=RECIPIENTS).where(Group.id == group.id).execute()
        smpp = DispatchProvider.create(name="Local SMSC", kind="smpp", host="127.0.0.1", port=smsc_port,
                                       system_id="kwtsms", secret="secret", window=WINDOW, mps=0,
                                       bind_mode=BIND_MODE)
        sink = DispatchProvider.create(name="Bench sink", kind="sink", sink_delay=0, sink_failure_percent=0)
        route = DispatchRoute.create(prefix="", provider=smpp)
        account_id, group_id = account.id, group.id
        sink_id, smpp_id = sink.id, smpp.id
        # The database's own CPU: in the processes for SQLite, in the server's processes for PostgreSQL.
        server_pid = None if is_sqlite() else postgres_server_pid()
        settings = None if is_sqlite() else postgres_settings()

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
            measure = {who: (lambda process=process: cpu_seconds(process.pid)) for who, process in long_lived.items()}
            measure["bench (polling)"] = own_cpu_seconds
            if server_pid is not None:
                measure["postgresql (whole server)"] = lambda: cpu_seconds(server_pid, by="parent")
            cpu_before = {who: read() for who, read in measure.items()}
            load_average = os.getloadavg()[0]
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
                        raise RuntimeError(f"{database}, {name}: not finished after 30 minutes")
                cpu = {"workers": sum(cpu_seconds(process.pid) for process in pool)}
                cpu.update({who: read() - cpu_before[who] for who, read in measure.items()})
                cpu["total"] = sum(cpu.values())
            finally:
                stop(pool + list(helpers.values()))
            from peewee import fn
            counts = dict(Recipient.select(Recipient.status, fn.COUNT(Recipient.id))
                          .where(Recipient.message == message.id).group_by(Recipient.status).tuples())
            status = Message.get_by_id(message.id).status
        return {"database": database, "scenario": name, "workers": workers, "recipients": RECIPIENTS,
                "load_average_at_start": round(load_average, 2),
                "seconds_until_all_submitted": round(submitted_at, 2),
                "submitted_per_second": round(RECIPIENTS / submitted_at),
                "seconds_until_all_final": round(final_at, 2),
                "final_per_second": round(RECIPIENTS / final_at),
                "cpu_seconds": {who: round(seconds, 2) for who, seconds in cpu.items()},
                "cpu_ms_per_message": {who: round(seconds * 1000 / RECIPIENTS, 3) for who, seconds in cpu.items()},
                "statuses": counts, "message_status": status}

    try:
        results = [scenario("smpp (local smpp34 peer), receipts recorded", smpp_id, workers) for workers in (1, 2)]
        results.append(scenario("development sink, receipts recorded", sink_id, 1))
    finally:
        with app.app_context():
            db.close()  # before the throwaway PostgreSQL database is dropped
    return results, settings


def main():
    workdir = Path(tempfile.mkdtemp(prefix="kwtsms-bench-dispatch-"))
    redis_process, redis_url = start_redis(workdir)
    from tests.smsc import free_port
    smsc_port = free_port()
    smsc = spawn(["-m", "tests.smsc", str(smsc_port)], dict(os.environ, SMPP34_WORKER_THREADS="1"))
    results, settings = [], None
    try:
        wait_port(smsc_port)
        shared = (redis_url, smsc, smsc_port, redis_process)
        sqlite_url = f"sqlite:///{workdir}/bench.db"
        results += run_database("sqlite", sqlite_url, sqlite_url, *shared)[0]
        admin_url = postgres_admin_url()
        if admin_url:
            import redis
            redis.Redis.from_url(redis_url).flushdb()  # nothing of the SQLite runs (jobs, counters) carries over
            with postgres_database(admin_url, f"kwtsms_bench_dispatch_{os.getpid()}") as url:
                more, settings = run_database("postgresql", url, pooled(url), *shared)
                results += more
    finally:
        stop([smsc])
        redis_process.terminate()
    print(json.dumps({
        "benchmark": "dispatch", "databases": sorted({r["database"] for r in results}), "machine": machine(),
        "note": ("everything on one machine: worker(s), SMPP receiver, clock, fake SMSC, Redis and the database "
                 "share its cores; \"postgresql (whole server)\" is the CPU of every PostgreSQL process "
                 "(backends, WAL writer, checkpointer), other databases' work on that server included"),
        "postgresql": {"url": "postgresql+pool:// (peewee connection pool, 8 per process)", "settings": settings}
        if settings is not None else None,
        "smpp_window": WINDOW, "smpp_bind_mode": BIND_MODE, "results": results,
        "targets": {"submitted_per_second_one_worker": ">= 2000", "two_workers": "close to twice one"},
    }, indent=2))


if __name__ == "__main__":
    main()
