"""The database: one proxy for the whole app, connection per request, migrations runner."""
import datetime
from pathlib import Path
from urllib.parse import urlparse

from peewee import DatabaseProxy, SqliteDatabase
from playhouse.db_url import connect
from playhouse.migrations import Runner

from .config import PROJECT_ROOT

db = DatabaseProxy()
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"

# WAL lets readers run while one writer writes; busy_timeout makes concurrent
# writers wait instead of failing at once.
SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 15000,
    "synchronous": "normal",
    "cache_size": -8000,  # 8 MB per connection: memory stays flat as tables grow
}


def make_database(url):
    """A peewee Database for a URL: sqlite:///path or postgresql://user@host/db."""
    if url.startswith("sqlite"):
        path = urlparse(url).path
        if path.startswith("//"):  # sqlite:////abs/path
            path = path[1:]
        if path not in ("", "/:memory:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # IMMEDIATE takes the write lock when a transaction begins, so two
        # transactions never deadlock upgrading a read lock to a write lock.
        return SqliteDatabase(path or ":memory:", pragmas=SQLITE_PRAGMAS, lock_type="IMMEDIATE")
    return connect(url)


def init_database(url):
    database = make_database(url)
    db.initialize(database)
    return database


def is_sqlite():
    return isinstance(db.obj, SqliteDatabase)


def migration_runner():
    return Runner(db.obj, directory=str(MIGRATIONS_DIR))


def upgrade():
    """Apply pending migrations; returns their names."""
    with db.connection_context():
        return migration_runner().up()


def init_app(app):
    init_database(app.config["DATABASE_URL"])

    @app.before_request
    def _connect():
        db.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(exc):
        if db.is_closed():
            return
        if is_sqlite():
            # Keep the thread's SQLite connection: opening one parses the schema again and
            # closing the last one checkpoints the WAL, ~8 ms per request together.
            if db.in_transaction():
                db.rollback()
            return
        db.close()


def for_update(query):
    """Lock the selected rows until commit. SQLite needs nothing: our transactions
    begin IMMEDIATE, so a writer already holds the whole database."""
    return query if is_sqlite() else query.for_update()


# --- raw SQL for hot paths ---------------------------------------------------------
# peewee spends longer building a statement than SQLite or PostgreSQL spend running
# it (~100 µs against ~20 µs). The few statements of the API's send path and of the
# dispatch loop are written as SQL text instead; everything else uses the ORM.

def sql(text):
    """`text` written with `?` placeholders, in the connected driver's style (psycopg2 wants %s)."""
    param = db.obj.param
    return text if param == "?" else text.replace("?", param)


def execute(text, params=()):
    """Run a raw statement (`?` placeholders); returns the cursor."""
    return db.execute_sql(sql(text), params)


def fetch_one(text, params=()):
    """The first row of a raw statement (`?` placeholders), or None."""
    return db.execute_sql(sql(text), params).fetchone()


def fetch_all(text, params=()):
    return db.execute_sql(sql(text), params).fetchall()


def placeholders(count):
    """"?, ?, ?" for an IN (...) list of `count` values."""
    return ", ".join(["?"] * count)


def as_datetime(value):
    """A datetime read by raw SQL: SQLite gives it back as text, PostgreSQL as a datetime."""
    return datetime.datetime.fromisoformat(value) if isinstance(value, str) else value


def chunks(seq, size):
    """`seq` in lists of at most `size` (IN lists and multi-row INSERTs stay bounded)."""
    seq = list(seq)
    for start in range(0, len(seq), size):
        yield seq[start:start + size]


MAX_PARAMETERS = 30_000  # per statement: under SQLite's 32,766 bound parameters


def insert_rows(table, columns, rows):
    """Multi-row INSERTs in raw SQL: peewee's insert_many spends ~10x longer building the SQL."""
    row = "(" + placeholders(len(columns)) + ")"
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    for part in chunks(rows, max(1, MAX_PARAMETERS // len(columns))):
        execute(head + ",".join([row] * len(part)), [value for values in part for value in values])


def fetch_model(model, where, params=()):
    """One `model` instance from a raw SELECT of all its columns (`where` with `?`
    placeholders), or None: peewee's per-query result set-up alone costs ~100 µs on a
    30-column table, too much for a lookup every API request makes."""
    fields = model._meta.sorted_fields
    row = fetch_one(f"SELECT {', '.join(f.column_name for f in fields)} FROM {model._meta.table_name} "
                    f"WHERE {where}", params)
    if row is None:
        return None
    instance = model(__no_default__=1, **{f.name: None if value is None else f.python_value(value)
                                          for f, value in zip(fields, row)})
    instance._dirty.clear()
    return instance
