"""Background jobs on RQ. Jobs take ids, never objects, and open their own connection."""
from functools import wraps

from flask import current_app, has_app_context
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry

from .db import db


class QueueUnavailable(RuntimeError):
    """Redis is not configured or not reachable; the work was not queued."""


_redis_clients = {}  # REDIS_URL -> client: one connection pool per process (redis-py resets it after a fork)


def redis_client(url):
    """A new Redis client per call would open (and introduce itself on) a new connection every time:
    ~3 ms per API send. One client per URL and process instead."""
    client = _redis_clients.get(url)
    if client is None:
        client = _redis_clients[url] = Redis.from_url(url)
    return client


def queue(name="default"):
    url = current_app.config["REDIS_URL"]
    if not url:
        raise QueueUnavailable("REDIS_URL is not set")
    return Queue(name, connection=redis_client(url))


def enqueue(func, *args, job_id=None, retry=None, **options):
    """Queue func(*args); raises QueueUnavailable instead of a bare Redis error."""
    try:
        return queue().enqueue(func, *args, job_id=job_id, retry=retry or Retry(max=2, interval=[5, 30]),
                               **options)
    except RedisError as error:
        raise QueueUnavailable(str(error)) from error


def job(func):
    """Run a job body inside the app (settings, translations) with its own database connection.

    The worker (`python -m kwtsms.worker`) already runs inside the app; anything
    else running jobs (a test's SimpleWorker) must push an app context first.
    """
    @wraps(func)
    def wrapper(*args, **kwargs):
        if not has_app_context():
            from . import create_app
            with create_app().app_context(), db.connection_context():
                return func(*args, **kwargs)
        with db.connection_context():
            return func(*args, **kwargs)
    return wrapper
