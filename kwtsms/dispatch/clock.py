"""`clock` in the Procfile: the periodic work (mostly the dispatch engine's), one process.

Every task is a service function, run at its own interval inside its own
database connection; a failing task is logged and tried again next time.

    python -m kwtsms.dispatch.clock
"""
import logging
import signal
import time

from ..db import db

log = logging.getLogger("kwtsms.dispatch.clock")


def tasks(config):
    from ..imports.service import fail_stalled, requeue_lost
    from ..messages.service import sweep_unqueued
    from ..recharge.service import expire_stale_orders
    from . import service
    from . import stream
    from .providers import kwtsms_upstream, sink
    return [
        # (name, seconds between runs, function)
        ("sink reports", 1, sink.generate_reports),
        ("pending receipts", 2, service.match_pending_receipts),
        ("reconcile stuck", 10, service.reconcile_stuck),
        ("rescue lost jobs", 10, service.rescue),
        ("drain the stream", 10, stream.ensure_draining),
        ("close finished messages", 10, service.sweep_finished),
        ("queue lost sends", 30, sweep_unqueued),
        ("expire overdue", 60, service.expire_overdue),
        ("expire unreported", 300, service.expire_unreported),
        ("fail stalled imports", 60, fail_stalled),
        ("queue lost imports", 60, requeue_lost),
        ("expire recharge orders", 60, expire_stale_orders),
        ("poll kwtSMS reports", config["DISPATCH_UPSTREAM_POLL_SECONDS"], kwtsms_upstream.poll_reports),
    ]


def run_once(app, due=None, now=None):
    """Run every task (or those in `due`) once. Returns {name: result or error text}."""
    results = {}
    with app.app_context():
        for name, _interval, func in tasks(app.config):
            if due is not None and name not in due:
                continue
            try:
                with db.connection_context():
                    results[name] = func()
            except Exception as error:  # noqa: BLE001 - the clock must keep ticking
                log.exception("clock task %r failed", name)
                results[name] = f"error: {error!r}"
    return results


def main():
    from .. import create_app
    app = create_app()
    stopping = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.append(True))
    last = {}
    log.info("dispatch clock started")
    while not stopping:
        now = time.monotonic()
        with app.app_context():
            schedule = [(name, interval) for name, interval, _f in tasks(app.config)]
        due = {name for name, interval in schedule if now - last.get(name, -1e9) >= interval}
        if due:
            results = run_once(app, due)
            for name in due:
                last[name] = now
            busy = {k: v for k, v in results.items() if v}
            if busy:
                log.info("clock: %s", busy)
        time.sleep(0.25)


if __name__ == "__main__":
    main()
