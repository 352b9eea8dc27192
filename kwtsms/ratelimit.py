"""Rate limits per client IP: failed logins, password-reset requests, API calls.

A limit is written like "5 per second", "10 per minute" or "100/hour" (settings
LOGIN_RATE_LIMIT and API_RATE_LIMIT) and counted in fixed windows: in Redis (an INCR,
and an EXPIRE on a window's first hit), shared by every web process; in process memory while Redis
is unreachable, so an outage neither locks everybody out nor lifts the limit.

This replaces Flask-Limiter, whose check on every request (limited or not) cost
about 1 ms of CPU: a quarter of what an API send costs in all.

A high limit (a hundred or more a window) is taken from Redis in leases: a process
adds a hundredth of the limit to the shared counter at once and spends it locally,
so a raised API limit does not cost a Redis round trip per call. Leases never let
more than the limit through; a client spread over several processes may be refused
up to a hundredth of the limit per process early. Lower limits (the default 5 API
calls a second, the login limits) count every hit in Redis, exactly.
"""
import logging
import math
import re
import threading
import time
from dataclasses import dataclass

from flask import current_app, request
from redis.exceptions import RedisError

from .jobs import redis_client

log = logging.getLogger("kwtsms.ratelimit")

UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_FORMAT = re.compile(r"(\d+)\s*(?:per|/)\s*(\d+)?\s*(second|minute|hour|day)s?", re.IGNORECASE)
MEMORY_KEYS = 100_000  # the in-memory fallback forgets everything beyond this many counters
LEASE_SHARE = 100  # a lease is this fraction of the limit; limits under it count every hit


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int


_parsed = {}
_memory = {}
_memory_lock = threading.Lock()
_leases = {}  # (counter key, limit) -> (window, hits left in this process's lease, or REFUSED)
REFUSED = -1  # the limit is used up: no more leases until the window ends


def parse(text):
    """"5 per second" -> Limit(5, 1); "100 per 2 hours" -> Limit(100, 7200). ValueError otherwise."""
    limit = _parsed.get(text)
    if limit is None:
        match = _FORMAT.fullmatch((text or "").strip())
        if not match:
            raise ValueError(f"not a rate limit: {text!r} (write it like '5 per second' or '10 per minute')")
        count, multiple, unit = match.groups()
        limit = _parsed[text] = Limit(int(count), int(multiple or 1) * UNITS[unit.lower()])
    return limit


def _counted(key, seconds, add):
    """Hits counted in the current window of `key`, after adding `add` (0: just read)."""
    key = f"kwtsms:rate:{key}:{int(time.time() // seconds)}"
    url = current_app.config["REDIS_URL"]
    if url:
        try:
            client = redis_client(url)
            if not add:
                return int(client.get(key) or 0)
            count = client.incrby(key, add)
            if count == add:  # the window's first hit: the key goes away with its window
                client.expire(key, seconds + 1)
            return count
        except RedisError as error:
            log.warning("rate limit counted in memory: Redis unavailable (%s)", error)
    with _memory_lock:
        if len(_memory) > MEMORY_KEYS:
            _memory.clear()
        _memory[key] = _memory.get(key, 0) + add
        return _memory[key]


def hit(name, setting):
    """Count one request of the client against the limit in config[setting]; False when over it."""
    limit = parse(current_app.config[setting])
    key = f"{name}:{request.remote_addr}"
    lease = limit.count // LEASE_SHARE
    if lease <= 1:
        return _counted(key, limit.seconds, 1) <= limit.count
    return _hit_leased(key, limit, lease)


def _hit_leased(key, limit, lease):
    window = int(time.time() // limit.seconds)
    held = (key, limit)
    with _memory_lock:
        held_window, left = _leases.get(held, (None, 0))
        if held_window == window and left:
            if left > 0:
                _leases[held] = (window, left - 1)
            return left > 0
    # A new lease: the part of it that still fits under the limit is ours.
    before = _counted(key, limit.seconds, lease) - lease
    granted = max(0, min(lease, limit.count - before))
    with _memory_lock:
        if len(_leases) > MEMORY_KEYS:
            _leases.clear()
        _leases[held] = (window, granted - 1 if granted else REFUSED)
    return granted > 0


def exhausted(name, setting):
    """Has the client used up the limit in config[setting] (without counting this request)?"""
    limit = parse(current_app.config[setting])
    return _counted(f"{name}:{request.remote_addr}", limit.seconds, 0) >= limit.count


def retry_after(setting):
    """Whole seconds until the current window of the limit in config[setting] ends."""
    seconds = parse(current_app.config[setting]).seconds
    return max(1, math.ceil(seconds - time.time() % seconds))
