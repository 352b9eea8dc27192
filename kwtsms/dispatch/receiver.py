"""`smpp` in the Procfile: holds the receiving bind of every enabled SMPP provider
and records the delivery receipts it brings.

A receipt is acknowledged (deliver_sm_resp) only after it is committed: if this
process dies first, the carrier sends it again. Binds reconnect with backoff;
provider changes made on /admin/routes are picked up within half a minute.

    python -m kwtsms.dispatch.receiver
"""
import logging
import os
import select
import signal
import socket
import time
from collections import defaultdict

from ..db import db
from ..models import DispatchProvider

log = logging.getLogger("kwtsms.dispatch.receiver")
RELOAD_SECONDS = 30
FLUSH_AT = 2000
COUNT_SECONDS = 1  # the live receipt counters (one Redis round trip) are added to once a second, not per step


class Receiver:
    def __init__(self, app):
        self.app = app
        self.sessions = {}  # provider id -> Session
        self.loaded_at = 0.0
        self.counted = defaultdict(int)  # provider id -> receipts recorded, not yet added to the live figures
        self.counted_at = time.monotonic()

    def reload(self):
        from .providers.smpp import Session
        rows = {row.id: row for row in DispatchProvider.select().where(
            DispatchProvider.kind == DispatchProvider.SMPP, DispatchProvider.is_enabled == True)}  # noqa: E712
        for provider_id in list(self.sessions):
            session = self.sessions[provider_id]
            row = rows.get(provider_id)
            if row is None or row.updated_at != session.row.updated_at:
                session.close()
                del self.sessions[provider_id]
        for provider_id, row in rows.items():
            if provider_id not in self.sessions:
                # Always a transceiver bind: some SMSCs refuse deliver_sm_resp on a receiver bind.
                self.sessions[provider_id] = Session(row, "trx", label=f"receiver {socket.gethostname()}:{os.getpid()}")
        self.loaded_at = time.monotonic()

    def step(self, timeout=0.2):
        """Connect what is down, read what arrived, record and acknowledge receipts. Returns receipts recorded."""
        from . import service
        from .providers.base import ProviderError
        from .providers.smpp import SessionDown
        if time.monotonic() - self.loaded_at > RELOAD_SECONDS:
            self.reload()
        for session in self.sessions.values():
            if not session.connected and time.monotonic() >= session.next_attempt:
                try:
                    session.connect()
                except ProviderError:
                    pass
        live = {s.client._socket: s for s in self.sessions.values() if s.connected}
        if not live:
            time.sleep(timeout)
            return 0
        try:
            readable, _w, _x = select.select(list(live), [], [], timeout)
        except (OSError, ValueError):
            readable = []
        for sock in readable:
            session = live[sock]
            try:
                pdus = session.read(0)
                while pdus:
                    for pdu in pdus:
                        if not session.handle_common(pdu):
                            log.warning("ignored %s on the receiving bind", pdu.command)
                    if len(session.receipts) >= FLUSH_AT:
                        break
                    pdus = session.read(0)
            except SessionDown as error:
                session.lost(error)
        recorded = 0
        pending = [s for s in self.sessions.values() if s.receipts]
        if pending:
            receipts = [r for s in pending for r in s.receipts]
            try:
                service.record_receipts(receipts)
            except Exception:  # noqa: BLE001 - not acknowledged: the carrier will send them again
                log.exception("could not record %d receipts; they stay unacknowledged", len(receipts))
            else:
                recorded = len(receipts)
                for session in pending:
                    self.counted[session.provider_id] += len(session.receipts)
                    session.receipts = []
                    session.ack_receipts()
        if time.monotonic() - self.counted_at >= COUNT_SECONDS:
            self._report_counts()
        for session in self.sessions.values():
            if session.connected:
                try:
                    session.keepalive()
                except SessionDown as error:
                    session.lost(error)
        return recorded

    def _report_counts(self):
        from . import monitor
        for provider_id, count in self.counted.items():
            monitor.count(provider_id, "receipts", count)
        self.counted.clear()
        self.counted_at = time.monotonic()

    def close(self):
        self._report_counts()
        for session in self.sessions.values():
            session.close()
        self.sessions.clear()


def main():
    from .. import create_app
    app = create_app()
    stopping = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.append(True))
    log.info("SMPP receiver started")
    with app.app_context():
        receiver = Receiver(app)
        try:
            while not stopping:
                try:
                    # One connection for as long as it works: opening and closing one per step
                    # (SQLite: pragmas, a WAL checkpoint) cost more than recording the receipts.
                    db.connect(reuse_if_open=True)
                    receiver.step()
                except Exception:  # noqa: BLE001 - keep the binds; try again on a fresh connection
                    log.exception("receiver step failed")
                    db.close()
                    time.sleep(1)
        finally:
            receiver.close()
            db.close()


if __name__ == "__main__":
    main()
