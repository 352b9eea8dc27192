"""A fake SMSC for the dispatch tests and the benchmark: a real SMPP 3.4 peer.

The SMPP side is smpp34's asyncio server (binds, submit_sm, message ids,
deliver_sm receipts). smpp34 accepts any password, so a thin TCP front in the
same event loop reads each bind first: it refuses a wrong password
(ESME_RINVPASWD), can answer garbage, and can drop every connection; otherwise
it pipes the bytes to the smpp34 server untouched. It runs in a thread with its
own event loop (or `python -m tests.smsc PORT` in a process of its own).

Knobs (plain attributes, set them any time):
  reject          numbers refused with ESME_RINVDSTADR
  fail            numbers whose receipt says UNDELIV
  throttle_next   the next N submits are refused with ESME_RTHROTTLED
  throttle        {number: times} refused with ESME_RTHROTTLED that many times
  drop_after      drop every connection when this many more submits arrived
                  (the one that trips it is taken but never answered)
  garbage         None, "bind" (garbage instead of a bind response) or
                  "responses" (garbage instead of the next PDU we send)
  receipt_first   send each receipt before the submit response
  receipts        False: send no receipts
  receipt_delay   seconds between accepting and the receipt
Counters: attempts (every submit_sm per number), accepted (submits taken per
number), binds (system_id, bind command, refused?), receipts_sent.
"""
import asyncio
import collections
import itertools
import socket
import struct
import sys
import threading
import time
from collections import Counter

import smpp34

BIND_COMMANDS = {0x01: "rx", 0x02: "tx", 0x09: "trx"}
ESME_RINVPASWD = 0x0E


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _c_strings(body, count):
    values, rest = [], body
    for _ in range(count):
        end = rest.find(b"\x00")
        if end < 0:
            return values + [""] * (count - len(values))
        values.append(rest[:end].decode("latin-1"))
        rest = rest[end + 1:]
    return values


class FakeSMSC:
    def __init__(self, system_id="kwtsms", password="secret", port=None, receipt_delay=0.0):
        self.system_id, self.password = system_id, password
        self.port = port or free_port()
        self.inner_port = free_port()
        self.receipt_delay = receipt_delay
        self.reject, self.fail, self.throttle = set(), set(), {}
        self.throttle_next = 0
        self.drop_after = None
        self.garbage = None
        self.receipt_first = False
        self.receipts = True
        self.attempts, self.accepted = Counter(), Counter()
        self.binds = []
        self.receipts_sent = 0
        self.submitted = []  # (number, message id, data_coding, esm_class, short_message)
        self._ids = itertools.count(1)
        self._sessions = {}
        self._connections = set()
        self._loop = None
        self._thread = None
        self._ready = threading.Event()
        self._stopped = None
        self._rr = itertools.count()

    # --- control (any thread) ----------------------------------------------------------------
    def start(self):
        self._thread = threading.Thread(target=self._run, name="fake-smsc", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake SMSC did not start")
        return self

    def stop(self):
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(10)

    def drop(self):
        """Close every client connection now."""
        self._loop.call_soon_threadsafe(self._drop_all)

    def send_receipt(self, message_id, number="96550000000", stat="DELIVRD"):
        """A receipt for any id (an unknown one, say) to a receiving bind."""
        asyncio.run_coroutine_threadsafe(self._deliver(number, message_id, stat), self._loop)

    def wait_for(self, predicate, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return False

    @property
    def bound_sessions(self):
        return len(self._sessions)

    # --- the event loop -------------------------------------------------------------------------
    def _run(self):
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self):
        self._stopped = asyncio.Event()
        server = smpp34.Server(host="127.0.0.1", port=self.inner_port, system_id="FAKESMSC")
        await server.start()
        front = await asyncio.start_server(self._front, "127.0.0.1", self.port)
        events = asyncio.ensure_future(self._events(server))
        self._queue = collections.deque()
        self._queued = asyncio.Event()
        pumps = [asyncio.ensure_future(self._pump()) for _ in range(4)]  # noqa: F841
        self._ready.set()
        await self._stopped.wait()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()
        events.cancel()
        front.close()
        self._drop_all()
        try:
            await server.stop()
        except Exception:  # noqa: BLE001
            pass

    def _drop_all(self):
        for writer in list(self._connections):
            try:
                writer.transport.abort()
            except Exception:  # noqa: BLE001
                pass
        self._connections.clear()

    async def _front(self, reader, writer):
        inner_writer = None
        try:
            header = await reader.readexactly(16)
            length, command, _status, sequence = struct.unpack(">LLLL", header)
            body = await reader.readexactly(max(length - 16, 0))
            if command in BIND_COMMANDS:
                system_id, password = _c_strings(body, 2)
                if self.garbage == "bind":
                    self.binds.append((system_id, BIND_COMMANDS[command], "garbage"))
                    writer.write(b"\x00\x00\x00\x05\xff\xfe garbage, not SMPP")
                    await writer.drain()
                    return
                if system_id != self.system_id or password != self.password:
                    self.binds.append((system_id, BIND_COMMANDS[command], "refused"))
                    writer.write(struct.pack(">LLLL", 17, 0x80000000 | command, ESME_RINVPASWD, sequence) + b"\x00")
                    await writer.drain()
                    return
                self.binds.append((system_id, BIND_COMMANDS[command], "bound"))
            inner_reader, inner_writer = await asyncio.open_connection("127.0.0.1", self.inner_port)
            inner_writer.write(header + body)
            self._connections.update((writer, inner_writer))
            await asyncio.gather(self._pipe(reader, inner_writer, corrupt=False),
                                 self._pipe(inner_reader, writer, corrupt=True), return_exceptions=True)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            for w in (writer, inner_writer):
                if w is not None:
                    self._connections.discard(w)
                    try:
                        w.close()
                    except Exception:  # noqa: BLE001
                        pass

    async def _pipe(self, reader, writer, corrupt):
        first = True
        try:
            while True:
                if corrupt:  # frame by frame, so garbage can replace one PDU
                    header = await reader.readexactly(4)
                    (length,) = struct.unpack(">L", header)
                    data = header + await reader.readexactly(length - 4)
                    if self.garbage == "responses" and not first:
                        data = b"\x00\x00\x00\x08\xde\xad\xbe\xef"
                    first = False
                else:
                    data = await reader.read(65536)
                    if not data:
                        break
                writer.write(data)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            try:
                writer.transport.abort()
            except Exception:  # noqa: BLE001
                pass

    async def _events(self, server):
        while True:
            event = await server.next()
            if isinstance(event, smpp34.Esme):
                self._sessions[event.session_id] = event
            elif isinstance(event, smpp34.Unbound):
                self._sessions.pop(event.session_id, None)
            elif isinstance(event, smpp34.SubmitSmEvent):
                await self._submit(event)

    async def _submit(self, event):
        number = event.destination_addr
        self.attempts[number] += 1
        if self.drop_after is not None:
            self.drop_after -= 1
            if self.drop_after <= 0:
                self.drop_after = None
                self._drop_all()  # the answer is lost: the client never learns it was taken
                message_id = f"m{next(self._ids)}"
                self.accepted[number] += 1
                self.submitted.append((number, message_id, event.data_coding, event.esm_class, event.short_message))
                event.accept(message_id)
                return
        if self.throttle_next > 0:
            self.throttle_next -= 1
            event.reject(smpp34.ESME_RTHROTTLED)
            return
        if self.throttle.get(number, 0) > 0:
            self.throttle[number] -= 1
            event.reject(smpp34.ESME_RTHROTTLED)
            return
        if number in self.reject:
            event.reject(smpp34.ESME_RINVDSTADR)
            return
        message_id = f"m{next(self._ids)}"
        self.accepted[number] += 1
        self.submitted.append((number, message_id, event.data_coding, event.esm_class, event.short_message))
        stat = "UNDELIV" if number in self.fail else "DELIVRD"
        if self.receipts and self.receipt_first:
            asyncio.ensure_future(self._deliver(number, message_id, stat))
            await asyncio.sleep(0.02)
            event.accept(message_id)
            return
        event.accept(message_id)
        if self.receipts:
            if self.receipt_delay:
                self._loop.call_later(self.receipt_delay, self._enqueue, number, message_id, stat)
            else:
                self._enqueue(number, message_id, stat)

    def _enqueue(self, number, message_id, stat):
        self._queue.append((number, message_id, stat, time.monotonic() + 300))
        self._queued.set()

    async def _pump(self):
        """Receipts in groups of up to 200 per receiving bind, several groups in flight; a group a
        bind does not acknowledge within 5 s goes again, elsewhere (a carrier keeps receipts until taken)."""
        while True:
            if not self._queue:
                self._queued.clear()
                await self._queued.wait()
                continue
            sessions = [s for s in self._sessions.values() if s.can_receive]
            if not sessions:
                await asyncio.sleep(0.2)
                continue
            session = sessions[next(self._rr) % len(sessions)]
            group = [self._queue.popleft() for _ in range(min(200, len(self._queue)))]
            sends = [session.deliver_sm(destination_addr="", source_addr=number, esm_class=0x04,
                                        short_message=self._receipt_text(message_id, stat))
                     for number, message_id, stat, _deadline in group]
            try:
                results = await asyncio.wait_for(asyncio.gather(*sends, return_exceptions=True), timeout=5)
            except Exception:  # noqa: BLE001 - that bind is gone or stuck
                results = [None] * len(group)
            for entry, result in zip(group, results):
                if getattr(result, "is_success", False):
                    self.receipts_sent += 1
                elif entry[3] > time.monotonic():
                    self._queue.append(entry)
                    self._queued.set()

    @staticmethod
    def _receipt_text(message_id, stat):
        err = "000" if stat == "DELIVRD" else "001"
        return (f"id:{message_id} sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'} submit date:2401010000 "
                f"done date:2401010000 stat:{stat} err:{err} text:").encode()

    async def _deliver(self, number, message_id, stat):
        """Send a receipt to a receiving bind; like a carrier, try again (elsewhere) until one takes it."""
        text = self._receipt_text(message_id, stat)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not self._stopped.is_set():
            sessions = [s for s in self._sessions.values() if s.can_receive]
            if sessions:
                session = sessions[next(self._rr) % len(sessions)]
                try:
                    response = await asyncio.wait_for(
                        session.deliver_sm(destination_addr="", source_addr=number, esm_class=0x04,
                                           short_message=text), timeout=5)
                    if response.is_success:
                        self.receipts_sent += 1
                        return
                except Exception:  # noqa: BLE001 - that bind is gone or slow: another one
                    pass
            await asyncio.sleep(0.2)


def main():
    """`python -m tests.smsc PORT [SYSTEM_ID PASSWORD]`: run it alone (the benchmark does)."""
    port = int(sys.argv[1])
    system_id = sys.argv[2] if len(sys.argv) > 2 else "kwtsms"
    password = sys.argv[3] if len(sys.argv) > 3 else "secret"
    smsc = FakeSMSC(system_id=system_id, password=password, port=port).start()
    print(f"fake SMSC on 127.0.0.1:{port}", flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        smsc.stop()


if __name__ == "__main__":
    main()
