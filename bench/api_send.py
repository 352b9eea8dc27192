"""The developer API under load: POST /API/send/ (one number per request) through
gunicorn, on SQLite and on PostgreSQL, next to a bare Flask JSON endpoint under the
same gunicorn settings and load (the ceiling of this machine).

Set-up per run: gunicorn with 2 sync workers (the Procfile's default), one RQ worker
(`python -m kwtsms.worker`, which dispatches the accepted messages meanwhile), Redis for
the queue and the rate limiter. Load: 16 concurrent clients, each sending one request
at a time (a new connection per request, as the official client makes: gunicorn's sync
workers do not keep connections alive either), every request to a number not used
before, so the 15-second rule (ERR028) never refuses one. 3 s warm-up, then 20 s
measured. The clients are wrk (`apt-get install wrk`; script bench/api_send.lua) when it
is installed: it spends a tenth of the CPU per request that Python clients do, and every
client shares the 2 cores with the server. Without wrk, Python asyncio processes.

The per-IP API rate limit (API_RATE_LIMIT, default "5 per second" like kwtSMS) is
raised to 1000000 per second here: all 16 clients come from 127.0.0.1.
PostgreSQL is used through peewee's connection pool (DATABASE_URL postgresql+pool://).

    .venv/bin/python bench/api_send.py          # prints JSON
    BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres (default; "" skips PostgreSQL)
"""
import asyncio
import itertools
import json
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import (fresh_app, machine, pooled, postgres_admin_url, postgres_database,  # noqa: E402
                          postgres_server_pid, start_redis)

from flask import Flask, request  # noqa: E402

CLIENTS = 16
GENERATORS = 2  # load-generator threads of wrk, or Python processes (8 clients each)
WARMUP_SECONDS = 3
SECONDS = 20
WORKERS = 2
USERNAME, PASSWORD = "bench", "bench-api-password-1"
RAISED_RATE_LIMIT = "1000000 per second"

# The ceiling: the same request through the same gunicorn, answered by a bare Flask view.
bare_app = Flask("bare")


@bare_app.post("/API/send/")
def bare_send():
    params = request.get_json()
    return {"result": "OK", "numbers": len(params["mobile"].split(","))}


# --- load --------------------------------------------------------------------------------

MOBILE_PREFIXES = ("50", "55", "65", "66", "90", "94", "97", "99")  # Kuwait mobile ranges: 8 x 1,000,000 numbers


def mobile(number):
    return f"965{MOBILE_PREFIXES[number // 1_000_000]}{number % 1_000_000:06d}"


def _body(number):
    payload = json.dumps({"username": USERNAME, "password": PASSWORD, "sender": "KWT-SMS",
                          "mobile": mobile(number), "message": "Your code is 4711"}).encode()
    return (b"POST /API/send/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(payload)) + payload


async def _one(port, raw):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    data = await reader.read()
    writer.close()
    status = int(data[9:12]) if data[:5] == b"HTTP/" else 0
    return status, b'"result": "OK"' in data or b'"result":"OK"' in data


async def _clients(port, first_number, count, start, stop):
    numbers = itertools.count(first_number)
    results = []

    async def client():
        while time.time() < stop:
            raw = _body(next(numbers))
            began = time.time()
            try:
                status, ok = await _one(port, raw)
            except OSError:
                status, ok = 0, False
            ended = time.time()
            if began >= start and ended <= stop:
                results.append((ended - began, status, ok))

    await asyncio.gather(*(client() for _ in range(count)))
    return results


def _generator(port, first_number, count, start, stop, out):
    out.put(asyncio.run(_clients(port, first_number, count, start, stop)))


def _cpu_seconds(pid, children=False):
    """CPU time (user + system) of a process; with children=True also of its reaped children."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def _children(pid):
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _cpu(processes):
    """{name: CPU seconds}: gunicorn's workers; the RQ worker, the PostgreSQL server: with their children."""
    sample = {}
    for name, pid in processes.items():
        if name == "gunicorn":
            sample[name] = sum(_cpu_seconds(child) for child in _children(pid))
        else:
            sample[name] = _cpu_seconds(pid, children=True) + sum(_cpu_seconds(c) for c in _children(pid))
    return sample


def _python_load(port, first_number, processes):
    """The load from Python processes (when wrk is not installed): they share the cores
    with the server and cost more CPU per request than wrk, so the figures come out lower."""
    start = time.time() + WARMUP_SECONDS
    stop = start + SECONDS
    out = multiprocessing.Queue()
    per = CLIENTS // GENERATORS
    generators = [multiprocessing.Process(target=_generator, args=(port, first_number + g * 100_000,
                                                                   per, start, stop, out)) for g in range(GENERATORS)]
    for process in generators:
        process.start()
    time.sleep(max(0.0, start - time.time()))
    before = _cpu(processes)
    time.sleep(max(0.0, stop - time.time()))
    after = _cpu(processes)
    results = [row for _ in generators for row in out.get()]
    for process in generators:
        process.join()
    latencies = sorted(r[0] for r in results)
    return {
        "requests": len(results),
        "ok": sum(1 for r in results if r[1] == 200 and r[2]),
        "p50_ms": statistics.median(latencies) * 1000 if latencies else None,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else None,
        "seconds": SECONDS,
    }, before, after


WRK_SCRIPT = Path(__file__).with_name("api_send.lua")


def _wrk(port, first_number, seconds):
    body = json.dumps({"username": USERNAME, "password": PASSWORD, "sender": "KWT-SMS", "mobile": "MOBILE",
                       "message": "Your code is 4711"}).replace('"MOBILE"', '"%s"')
    done = subprocess.run(["wrk", f"-t{GENERATORS}", f"-c{CLIENTS}", f"-d{seconds}s", "--timeout", "10s",
                           "-s", str(WRK_SCRIPT), f"http://127.0.0.1:{port}", "--", str(first_number), body],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _wrk_load(port, first_number, processes):
    """The load from wrk: CLIENTS connections over GENERATORS threads, in C."""
    _wrk(port, first_number + 50_000, WARMUP_SECONDS)
    before = _cpu(processes)
    run = _wrk(port, first_number, SECONDS)
    after = _cpu(processes)
    return {
        "requests": run["requests"],
        "ok": run["requests"] - run["failed"] - run["socket_errors"],
        "p50_ms": run["p50_us"] / 1000,
        "p99_ms": run["p99_us"] / 1000,
        "seconds": run["duration_us"] / 1e6,
    }, before, after


def load(port, first_number, processes=None):
    """CLIENTS clients for WARMUP + SECONDS; figures of the measured part, and the CPU time
    the server processes spent on it (independent of what else runs on the machine)."""
    processes = processes or {}
    load_before = os.getloadavg()[0]
    run, before, after = (_wrk_load if shutil.which("wrk") else _python_load)(port, first_number, processes)
    figures = {
        "requests_per_second": round(run["requests"] / run["seconds"], 1),
        "ok_per_second": round(run["ok"] / run["seconds"], 1),
        "p50_ms": run["p50_ms"] and round(run["p50_ms"], 2),
        "p99_ms": run["p99_ms"] and round(run["p99_ms"], 2),
        "requests": run["requests"],
        "errors": run["requests"] - run["ok"],
        "load_average_at_start": round(load_before, 2),
    }
    for name in after:
        used = after[name] - before[name]
        figures[f"{name}_cpu_seconds"] = round(used, 2)
        if run["requests"]:
            figures[f"{name}_cpu_ms_per_request"] = round(used * 1000 / run["requests"], 3)
    return figures


# --- servers -----------------------------------------------------------------------------

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def _start(command, env, log):
    """A server process; its output goes to a file (a pipe nobody reads would fill up and block it)."""
    with open(log, "ab") as output:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _stop(process):
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


def gunicorn(target, env):
    port = _free_port()
    process = _start([sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}",
                      "--log-level", "warning", target], env, Path(env["BENCH_LOG_DIR"]) / "gunicorn.log")
    _wait_for(port)
    return process, port


# --- one database ----------------------------------------------------------------------------

def prepare(database_url, redis_url):
    app = fresh_app(database_url, REDIS_URL=redis_url)
    with app.app_context():
        from kwtsms import ledger
        from kwtsms.api import credentials
        from kwtsms.auth.service import create_account
        account = create_account(email="bench@example.com", password="bench-password-1", check_password=False)
        ledger.credit(account, 10_000_000, reason="bench")
        credentials.provision(account, USERNAME, PASSWORD)
        from kwtsms.db import db, is_sqlite
        server_pid = None if is_sqlite() else postgres_server_pid()
    db.close()
    return account.id, server_pid


def check(database_url, account_id, ok_replies):
    """After the run: one message per OK reply, and the ledger still equals the balance."""
    from kwtsms import create_app
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "bench"})
    with app.app_context():
        from kwtsms import ledger
        from kwtsms.db import db
        from kwtsms.models import Account, Message
        with db.connection_context():
            messages = Message.select().where(Message.account == account_id, Message.source == Message.API).count()
            account = Account.get_by_id(account_id)
            exact = ledger.ledger_sum(account) == account.balance
            dispatched = Message.select().where(Message.account == account_id,
                                                Message.status != Message.QUEUED).count()
    return {"messages_created": messages, "at_least_ok_replies": messages >= ok_replies, "ledger_exact": exact,
            "messages_dispatched_meanwhile": dispatched}


def run_api(name, database_url, server_database_url, redis_url, env, first_number):
    account_id, server_pid = prepare(database_url, redis_url)
    env = dict(env, DATABASE_URL=server_database_url)
    worker = _start([sys.executable, "-m", "kwtsms.worker"], env, Path(env["BENCH_LOG_DIR"]) / f"worker-{name}.log")
    web, port = gunicorn("app:app", env)
    try:
        processes = {"gunicorn": web.pid, "rq_worker": worker.pid}
        if server_pid:  # the PostgreSQL server runs here: its CPU is part of what an API call costs
            processes["postgresql_server"] = server_pid
        figures = load(port, first_number, processes)
    finally:
        _stop(web)
        _stop(worker)
    figures.update(check(database_url, account_id, figures["requests"] - figures["errors"]))
    return figures


def main():
    multiprocessing.set_start_method("fork")
    workdir = Path(tempfile.mkdtemp(prefix="kwtsms-bench-api-"))
    redis_process, redis_url = start_redis(workdir)
    env = dict(os.environ, REDIS_URL=redis_url, SECRET_KEY="bench", KWTSMS_ENV="development",
               API_RATE_LIMIT=RAISED_RATE_LIMIT, MAX_QUEUED_MESSAGES=str(10**7), PYTHONPATH=str(ROOT),
               BENCH_LOG_DIR=str(workdir))
    results = {}
    try:
        web, port = gunicorn("bench.api_send:bare_app", env)
        try:
            results["ceiling_bare_flask"] = load(port, 0, {"gunicorn": web.pid})
        finally:
            _stop(web)

        sqlite_url = f"sqlite:///{workdir}/bench.db"
        results["sqlite"] = run_api("sqlite", sqlite_url, sqlite_url, redis_url, env, 2_000_000)

        postgres = postgres_admin_url()
        if postgres:
            with postgres_database(postgres, f"kwtsms_bench_api_{os.getpid()}") as url:
                results["postgresql"] = run_api("postgresql", url, pooled(url), redis_url, env, 6_000_000)
    finally:
        redis_process.terminate()

    ceiling = results["ceiling_bare_flask"]
    for name in ("sqlite", "postgresql"):
        if name in results:
            figures = results[name]
            figures["ratio_to_ceiling"] = round(figures["requests_per_second"] / ceiling["requests_per_second"], 3)
            # The same ratio from CPU time per request in gunicorn: what the machine's other load cannot skew.
            figures["cpu_ratio_to_ceiling"] = round(
                ceiling["gunicorn_cpu_ms_per_request"] / figures["gunicorn_cpu_ms_per_request"], 3)
    print(json.dumps({
        "benchmark": "api_send",
        "machine": machine(),
        "note": ("requests/s depend on what else runs on the machine (see load_average_at_start); "
                 "*_cpu_ms_per_request (CPU time of the server processes per request) and "
                 "cpu_ratio_to_ceiling do not"),
        "setup": {"gunicorn_workers": WORKERS, "worker_class": "sync", "rq_workers": 1, "clients": CLIENTS,
                  "load_generator": (f"wrk, {GENERATORS} threads" if shutil.which("wrk")
                                     else f"Python asyncio, {GENERATORS} processes"), "seconds": SECONDS, "warmup_seconds": WARMUP_SECONDS,
                  "numbers_per_request": 1,
                  "api_rate_limit": f"{RAISED_RATE_LIMIT} (raised for the benchmark; default 5 per second per IP)",
                  "postgresql_url": "postgresql+pool:// (peewee connection pool, 8 per process)"},
        **results,
        "targets": {"requests_per_second": ">= 1000 (about a quarter of the ceiling)", "p99_ms": "< 50"},
        "server_logs": str(workdir),
    }, indent=2))


if __name__ == "__main__":
    main()
