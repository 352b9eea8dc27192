"""The database layer under the services: SQLite writers taking turns, PostgreSQL's
pool replacing connections the server dropped."""
import threading

import psycopg2
import pytest

from kwtsms import db as db_module

WAIT = 20  # seconds a thread may take before the test calls it stuck (never reached when it works)


def _in_thread(target):
    """Run `target` in a new thread; returns a function that joins it and gives its outcome."""
    outcome = {}

    def run():
        try:
            outcome["value"] = target()
        except BaseException as error:  # noqa: BLE001 (handed to the test)
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def result():
        thread.join(WAIT)
        assert not thread.is_alive(), "the other writer never got its turn"
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]
    return result


@pytest.fixture
def sqlite_file(database_template, tmp_path):
    if database_template[0] != "sqlite":
        pytest.skip("SQLite only")
    database = db_module.make_database(f"sqlite:///{tmp_path}/writers.db")
    database.execute_sql("CREATE TABLE entry (id INTEGER PRIMARY KEY, who TEXT NOT NULL)")
    yield database
    database.close()


def _write(database, who):
    with database.atomic():
        database.execute_sql("INSERT INTO entry (who) VALUES (?)", (who,))
    return who


def _entries(database):
    return [who for (who,) in database.execute_sql("SELECT who FROM entry ORDER BY id")]


def test_a_second_writer_waits_for_the_first_to_commit(sqlite_file):
    began = threading.Event()
    with sqlite_file.atomic():
        sqlite_file.execute_sql("INSERT INTO entry (who) VALUES ('first')")
        second = _in_thread(lambda: (began.set(), _write(sqlite_file, "second"))[1])
        began.wait(WAIT)
        # The second writer is queued: it cannot have written inside our open transaction.
        assert _entries(sqlite_file) == ["first"]
    assert second() == "second"
    assert _entries(sqlite_file) == ["first", "second"]


def test_a_failed_transaction_lets_the_next_writer_in(sqlite_file):
    with pytest.raises(ZeroDivisionError):
        with sqlite_file.atomic():
            sqlite_file.execute_sql("INSERT INTO entry (who) VALUES ('lost')")
            1 / 0
    assert _in_thread(lambda: _write(sqlite_file, "next"))() == "next"
    assert _entries(sqlite_file) == ["next"]


def test_a_refused_commit_lets_the_next_writer_in(sqlite_file):
    sqlite_file.execute_sql("CREATE TABLE child (parent INTEGER REFERENCES entry (id) DEFERRABLE INITIALLY DEFERRED)")
    with pytest.raises(Exception, match="FOREIGN KEY"):
        with sqlite_file.atomic():
            sqlite_file.execute_sql("INSERT INTO child (parent) VALUES (42)")  # checked at COMMIT
    assert _in_thread(lambda: _write(sqlite_file, "next"))() == "next"


def test_nested_transactions_and_a_second_connection_in_one_thread(sqlite_file, tmp_path):
    with sqlite_file.atomic():
        with sqlite_file.atomic():  # a savepoint: the thread does not queue behind itself
            sqlite_file.execute_sql("INSERT INTO entry (who) VALUES ('inner')")
    other = db_module.make_database(f"sqlite:///{tmp_path}/writers.db")  # another object on the same file
    try:
        _write(other, "other")
        with sqlite_file.atomic():  # a thread holding the queue does not queue behind itself
            with pytest.raises(Exception, match="locked"):  # SQLite's own lock still says no
                other.execute_sql("PRAGMA busy_timeout = 50")
                _write(other, "refused")
    finally:
        other.close()
    assert _in_thread(lambda: _write(sqlite_file, "thread"))() == "thread"
    assert _entries(sqlite_file) == ["inner", "other", "thread"]


def test_a_refused_begin_inside_a_transaction_leaves_the_queue_as_it_was(sqlite_file):
    with sqlite_file.atomic():
        with pytest.raises(Exception, match="within a transaction"):
            sqlite_file.begin()
    assert _in_thread(lambda: _write(sqlite_file, "next"))() == "next"


def test_a_writer_waiting_too_long_gets_database_is_locked(sqlite_file, tmp_path):
    import fcntl
    import os

    from peewee import OperationalError
    impatient = db_module.QueuedSqliteDatabase(str(tmp_path / "writers.db"), writer_timeout=0.2)
    other_process = os.open(f"{tmp_path}/writers.db.writer-lock", os.O_RDWR | os.O_CREAT)  # another open file
    fcntl.flock(other_process, fcntl.LOCK_EX)
    try:
        with pytest.raises(OperationalError, match="database is locked"):
            _write(impatient, "refused")
    finally:
        os.close(other_process)
    assert _write(impatient, "after") == "after"
    impatient.close()


def test_writers_keep_no_lock_file_open_between_transactions(sqlite_file, tmp_path):
    import os

    def open_lock_files():
        return [fd for fd in os.listdir("/proc/self/fd")
                if os.path.realpath(f"/proc/self/fd/{fd}").endswith(".writer-lock")]
    before = len(open_lock_files())
    for n in range(50):
        _in_thread(lambda n=n: _write(sqlite_file, f"thread {n}"))()
    with sqlite_file.atomic():
        assert len(open_lock_files()) == before + 1
    assert len(open_lock_files()) == before


def test_writers_from_many_threads_all_get_their_turn(sqlite_file):
    results = [_in_thread(lambda n=n: [_write(sqlite_file, f"{n}-{i}") for i in range(50)]) for n in range(6)]
    for result in results:
        result()
    assert len(_entries(sqlite_file)) == 300


def test_the_pool_replaces_a_connection_the_server_dropped(database_template):
    if database_template[0] != "postgresql":
        pytest.skip("PostgreSQL only")
    url, _ = database_template[1]
    database = db_module.make_database(url.replace("postgresql://", "postgresql+pool://", 1))
    assert isinstance(database, db_module.PingFreePooledPostgresqlDatabase)
    try:
        database.connect()
        (pid,) = database.execute_sql("SELECT pg_backend_pid()").fetchone()
        database.close()  # back to the pool
        admin = psycopg2.connect(url)
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
            cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,))
            while cursor.fetchone():  # gone once the server has closed it
                cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,))
        admin.close()
        database.connect()
        (new_pid,) = database.execute_sql("SELECT pg_backend_pid()").fetchone()
        assert new_pid != pid
        database.close()
        database.connect()  # a healthy connection is handed out again, without a ping
        assert database.execute_sql("SELECT pg_backend_pid()").fetchone() == (new_pid,)
    finally:
        database.close_all()
