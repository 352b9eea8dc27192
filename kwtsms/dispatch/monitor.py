"""Live figures for /admin/dispatch, kept in Redis because they are about
processes, not data: per-provider counters in 10-second buckets (submitted,
receipts, throttled, errors) and the state of every bind, refreshed by the
process holding it and gone when it stops. Redis trouble never breaks dispatch."""
import json
import logging
import os
import socket
import time

from flask import current_app, has_app_context
from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger("kwtsms.dispatch")

BUCKET = 10
WINDOW = 60
_clients = {}


def _redis():
    if not has_app_context():
        return None
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return client


def count(provider_id, what, n=1):
    if not n:
        return
    client = _redis()
    if client is None:
        return
    bucket = int(time.time()) // BUCKET
    key = f"kwtsms:dispatch:rate:{provider_id}:{what}:{bucket}"
    try:
        pipe = client.pipeline(transaction=False)
        pipe.incrby(key, n)
        pipe.expire(key, WINDOW * 10)
        pipe.execute()
    except RedisError:
        pass


def rates(provider_ids, kinds=("submitted", "receipts", "throttled", "errors")):
    """{provider_id: {kind: per second over the last minute}}"""
    client = _redis()
    result = {pid: {kind: 0.0 for kind in kinds} for pid in provider_ids}
    if client is None or not provider_ids:
        return result
    now_bucket = int(time.time()) // BUCKET
    buckets = range(now_bucket - WINDOW // BUCKET, now_bucket)  # whole buckets only
    keys = [(pid, kind, f"kwtsms:dispatch:rate:{pid}:{kind}:{b}") for pid in provider_ids for kind in kinds
            for b in buckets]
    try:
        values = client.mget([k for _p, _k, k in keys]) if keys else []
    except RedisError:
        return result
    for (pid, kind, _key), value in zip(keys, values):
        if value:
            result[pid][kind] += int(value) / WINDOW
    return result


def report_bind(provider_id, role, state, detail=""):
    client = _redis()
    if client is None:
        return
    key = f"kwtsms:dispatch:bind:{provider_id}:{socket.gethostname()}:{os.getpid()}:{role}"
    try:
        if state == "closed":
            client.delete(key)
        else:
            client.set(key, json.dumps({"provider_id": provider_id, "role": role, "state": state,
                                        "detail": detail[:300], "at": time.time()}), ex=120)
    except RedisError:
        pass


def binds():
    client = _redis()
    if client is None:
        return []
    try:
        keys = list(client.scan_iter("kwtsms:dispatch:bind:*", count=500))
        values = client.mget(keys) if keys else []
    except RedisError:
        return []
    found = []
    for value in values:
        if value:
            try:
                found.append(json.loads(value))
            except ValueError:
                pass
    return sorted(found, key=lambda b: (b["provider_id"], b["role"], b["detail"]))
