"""The database: one proxy for the whole app, connection per request, migrations runner."""
import datetime
import fcntl
import os
import select
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

from peewee import DatabaseProxy, OperationalError, SqliteDatabase
from playhouse.db_url import connect, register_database
from playhouse.pool import PooledPostgresqlDatabase
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


class _WriterQueue:
    """The turn SQLite writers wait for before BEGIN IMMEDIATE.

    SQLite's own busy handler polls: a writer that finds the database locked sleeps
    1 ms, then 2, 5, 10... even when the holder lets go a few microseconds later. Here
    the threads of a process take turns on a lock, and processes on a flock() tried
    every 50 µs at first, so the next writer starts within a fraction of a millisecond
    of the last commit. It only adds order: SQLite's lock still guards the data, and a
    writer that does not take this lock (the sqlite3 shell, a statement outside a
    transaction) is waited for by busy_timeout as before. A writer that waits longer
    than `timeout` gets "database is locked", as SQLite would say.

    One per database file and process (see writer_queue), re-entrant per thread: a
    thread never waits for a lock it already holds, even through a second connection.
    """
    FIRST_TRY_AGAIN, LONGEST_WAIT = 0.00005, 0.001  # seconds between tries of the file lock

    def __init__(self, path):
        self.path = f"{path}.writer-lock"
        self.after_fork()

    def after_fork(self):
        """A new process: its own thread lock, and not its parent's open file (which shares the
        parent's flock: unlocking it would unlock the parent)."""
        self.threads = threading.RLock()
        self.depth = threading.local()
        if getattr(self, "fd", None) is not None:
            os.close(self.fd)
        self.fd = None

    def acquire(self, timeout):
        deadline = time.monotonic() + timeout
        if not self.threads.acquire(timeout=timeout):
            raise OperationalError("database is locked (another writer of this process held it too long)")
        depth = getattr(self.depth, "value", 0)
        if depth == 0:
            try:
                self._lock_file(deadline)
            except BaseException:
                self.threads.release()
                raise
        self.depth.value = depth + 1

    def _lock_file(self, deadline):
        # Open only while held: a process touching many database files (tests) keeps no files open.
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        wait = self.FIRST_TRY_AGAIN
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self._close_file()
                    raise OperationalError("database is locked (another process held it too long)") from None
                time.sleep(wait)
                wait = min(wait * 2, self.LONGEST_WAIT)

    def _close_file(self):
        os.close(self.fd)  # closing lets go of the flock
        self.fd = None

    def release(self):
        self.depth.value -= 1
        if self.depth.value == 0:
            self._close_file()
        self.threads.release()


_writer_queues = {}
_writer_queues_lock = threading.Lock()


def writer_queue(path):
    """The _WriterQueue of a database file, shared by every connection to it in this process."""
    path = os.path.abspath(path)
    with _writer_queues_lock:
        return _writer_queues.setdefault(path, _WriterQueue(path))


def _writer_queues_after_fork():
    for queue in _writer_queues.values():
        queue.after_fork()


os.register_at_fork(after_in_child=_writer_queues_after_fork)


class QueuedSqliteDatabase(SqliteDatabase):
    """SQLite whose write transactions queue on a _WriterQueue instead of SQLite's polling."""

    def __init__(self, path, *args, writer_timeout=15.0, **kwargs):
        super().__init__(path, *args, **kwargs)
        self._writers = writer_queue(path)
        self._writer_timeout = writer_timeout
        self._queued = threading.local()  # does this thread's open transaction hold the queue?

    def begin(self, lock_type=None):
        if getattr(self._queued, "held", False):  # a transaction is open: SQLite refuses, the queue stays
            return super().begin(lock_type)
        self._writers.acquire(self._writer_timeout)
        self._queued.held = True
        try:
            super().begin(lock_type)
        except BaseException:
            self._leave_queue()
            raise

    def _leave_queue(self):
        if getattr(self._queued, "held", False):
            self._queued.held = False
            self._writers.release()

    def commit(self):
        try:
            super().commit()
        finally:
            self._leave_queue()

    def rollback(self):
        try:
            super().rollback()
        finally:
            self._leave_queue()

    def _close(self, conn):
        self._leave_queue()
        super()._close(conn)


class PingFreePooledPostgresqlDatabase(PooledPostgresqlDatabase):
    """peewee's PostgreSQL pool, without its `SELECT 1` on every connection it hands
    out while the connection is in steady use.

    That ping is a round trip on every request, about a tenth of an API send. A
    connection the server closed (a restart, a crash, a terminated backend) has its
    socket readable while we are not waiting for anything: polling it costs a system
    call, not a round trip. A connection idle for longer than PING_AFTER_IDLE is still
    pinged: a firewall or NAT may have dropped it without a word, and the ping finds
    that before a statement would.
    """
    PING_AFTER_IDLE = 30  # seconds; network devices drop idle connections after minutes

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._returned_at = {}  # connection key -> when it came back to the pool

    def _close(self, conn, close_conn=False):
        if not close_conn:
            self._returned_at[self.conn_key(conn)] = time.monotonic()
        return super()._close(conn, close_conn)

    def _is_closed(self, conn):
        returned_at = self._returned_at.pop(self.conn_key(conn), None)
        if returned_at is None or time.monotonic() - returned_at > self.PING_AFTER_IDLE:
            return super()._is_closed(conn)  # the ping
        adapter = self._adapter
        if conn.closed or adapter.txn_status(conn) == adapter.txn_unknown:
            return True
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN)
        if poller.poll(0):  # the server spoke unasked: it said goodbye
            return True
        return not adapter.is_connection_reusable(conn)  # rolls back a transaction left open


register_database(PingFreePooledPostgresqlDatabase, "postgresql+pool", "postgres+pool")


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
        if path in ("", "/:memory:"):
            return SqliteDatabase(":memory:", pragmas=SQLITE_PRAGMAS, lock_type="IMMEDIATE")
        return QueuedSqliteDatabase(path, pragmas=SQLITE_PRAGMAS, lock_type="IMMEDIATE",
                                    writer_timeout=SQLITE_PRAGMAS["busy_timeout"] / 1000)
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
