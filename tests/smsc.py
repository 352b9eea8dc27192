"""A fake SMSC for the dispatch tests and the benchmark: a real SMPP 3.4 peer.

smpp34's asyncio server holds the sessions (bind, enquire_link, unbind). A thin
front in the same event loop sits between it and every client: it reads each bind
first, refuses a wrong password (ESME_RINVPASWD; smpp34 accepts any), can answer
garbage, and can drop every connection. Once bound, the front answers submit_sm
and sends delivery receipts itself, with smpp34's codec, a whole TCP read at a
time: smpp34's server hands Python one event and one future per PDU, each waking
the event loop from its Rust thread, which cost more CPU than the engine under
test (the benchmark runs on the same cores). Every other PDU goes to smpp34
untouched. It runs in a thread with its own event loop (or `python -m tests.smsc
PORT` in a process of its own).

Knobs (plain attributes, set them any time):
  reject          numbers refused with ESME_RINVDSTADR
  fail            numbers whose receipt says UNDELIV
  throttle_next   the next N submits are refused with ESME_RTHROTTLED
  throttle        {number: times} refused with ESME_RTHROTTLED that many times
  drop_after      drop every connection when this many more submits arrived
                  (the one that trips it is taken but never answered)
  garbage         None, "bind" (garbage instead of a bind response) or
                  "responses" (garbage instead of every later PDU we send)
  receipt_first   send each receipt before the submit response
  receipts        False: send no receipts
  receipt_delay   seconds between accepting and the receipt
Counters: attempts (every submit_sm per number), accepted (submits taken per
number), binds (system_id, bind command, refused?), receipts_sent (acknowledged).
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
SUBMIT_SM, SUBMIT_SM_RESP, DELIVER_SM_RESP, RESPONSE = 0x04, 0x80000004, 0x80000005, 0x80000000
ESME_RINVPASWD = 0x0E
GARBAGE = b"\x00\x00\x00\x08\xde\xad\xbe\xef"
RECEIPT_WINDOW = 1000  # receipts in flight (sent, not yet acknowledged) per receiving bind
RECEIPT_ACK_SECONDS = 5  # a receipt not acknowledged within this goes again, maybe to another bind
RECEIPT_KEEP_SECONDS = 300  # a carrier keeps an undelivered receipt this long


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


def _split_frames(buffer):
    """(complete PDUs, the incomplete rest) of a byte buffer."""
    frames, at = [], 0
    while len(buffer) - at >= 4:
        (length,) = struct.unpack_from(">L", buffer, at)
        if length < 16 or len(buffer) - at < length:
            break  # garbage stays in the buffer; a real client never sends it
        frames.append(buffer[at:at + length])
        at += length
    return frames, buffer[at:]


def _receipt_text(message_id, stat):
    err = "000" if stat == "DELIVRD" else "001"
    return (f"id:{message_id} sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'} submit date:2401010000 "
            f"done date:2401010000 stat:{stat} err:{err} text:").encode()


class _Receipt:
    __slots__ = ("number", "message_id", "stat", "keep_until", "sent_at")

    def __init__(self, number, message_id, stat):
        self.number, self.message_id, self.stat = number, message_id, stat
        self.keep_until = time.monotonic() + RECEIPT_KEEP_SECONDS
        self.sent_at = 0.0


class _Client(asyncio.Protocol):
    """One client connection: the front, with its own connection to smpp34's server behind it."""

    def __init__(self, smsc):
        self.smsc = smsc
        self.transport = None
        self.upstream = None  # the transport to smpp34, once connected
        self.for_upstream = []  # PDUs for smpp34 while it is being connected
        self.buffer = b""
        self.role = None  # bind command ("rx", "tx", "trx") once the bind passed the front
        self.bound = False  # smpp34 answered the bind
        self.in_flight = {}  # receipt sequence -> _Receipt sent and not acknowledged yet

    @property
    def receiving(self):
        return self.bound and self.role in ("rx", "trx") and not self.transport.is_closing()

    def connection_made(self, transport):
        self.transport = transport
        self.smsc._clients.add(self)

    def connection_lost(self, exc):
        self.smsc._clients.discard(self)
        if self.upstream is not None:
            self.upstream.abort()
        self.smsc._requeue(self.in_flight.values())  # a carrier keeps receipts until taken
        self.in_flight.clear()

    def data_received(self, data):
        frames, self.buffer = _split_frames(self.buffer + data)
        if frames and self.role is None and not self._bind(frames.pop(0)):
            return
        answers = []
        for frame in frames:
            command, status, sequence = struct.unpack_from(">LLL", frame, 4)
            if command == SUBMIT_SM:
                answer = self.smsc._submit(self, frame)
                if answer is None:  # drop_after tripped: what came before it is answered, then nothing
                    self.send(answers)
                    self.smsc._drop_all()
                    return
                answers.append(answer)
            elif command == DELIVER_SM_RESP:
                self.smsc._acknowledged(self, sequence, status)
            else:
                self.to_upstream(frame)
        self.send(answers)

    def _bind(self, frame):
        """The first PDU: check a bind's password, then connect to smpp34. False when refused."""
        smsc = self.smsc
        _length, command, _status, sequence = struct.unpack_from(">LLLL", frame)
        if command in BIND_COMMANDS:
            system_id, password = _c_strings(frame[16:], 2)
            if smsc.garbage == "bind":
                smsc.binds.append((system_id, BIND_COMMANDS[command], "garbage"))
                self.transport.write(b"\x00\x00\x00\x05\xff\xfe garbage, not SMPP")
                self.transport.close()
                return False
            if system_id != smsc.system_id or password != smsc.password:
                smsc.binds.append((system_id, BIND_COMMANDS[command], "refused"))
                self.transport.write(struct.pack(">LLLL", 17, RESPONSE | command, ESME_RINVPASWD, sequence) + b"\x00")
                self.transport.close()
                return False
            smsc.binds.append((system_id, BIND_COMMANDS[command], "bound"))
        self.role = BIND_COMMANDS.get(command, "")
        self.for_upstream.append(frame)
        asyncio.ensure_future(self._connect_upstream())
        return True

    async def _connect_upstream(self):
        try:
            transport, _protocol = await asyncio.get_running_loop().create_connection(
                lambda: _Upstream(self), "127.0.0.1", self.smsc.inner_port)
        except OSError:
            self.transport.abort()
            return
        if self.transport.is_closing():
            transport.abort()
            return
        self.upstream = transport
        transport.write(b"".join(self.for_upstream))
        self.for_upstream = []

    def to_upstream(self, frame):
        if self.upstream is None:
            self.for_upstream.append(frame)
        else:
            self.upstream.write(frame)

    def from_upstream(self, frames):
        """What smpp34 sends (the bind response, enquire_link, unbind, ...), on to the client."""
        for frame in frames:
            command, status = struct.unpack_from(">LL", frame, 4)
            self.send([frame])
            if command & RESPONSE and command & ~RESPONSE in BIND_COMMANDS and status == 0:
                self.bound = True
                self.smsc._flush_receipts()

    def send(self, pdus):
        if not pdus or self.transport.is_closing():
            return
        if self.smsc.garbage == "responses" and self.bound:
            pdus = [GARBAGE] * len(pdus)
        self.transport.write(b"".join(pdus))


class _Upstream(asyncio.Protocol):
    """The front's connection to smpp34's server for one client."""

    def __init__(self, client):
        self.client = client
        self.buffer = b""

    def data_received(self, data):
        frames, self.buffer = _split_frames(self.buffer + data)
        self.client.from_upstream(frames)

    def connection_lost(self, exc):
        self.client.transport.close()  # after what is buffered (an unbind_resp, say)


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
        self._receipt_sequences = itertools.count(1)
        self._clients = set()
        self._queue = collections.deque()  # receipts waiting for a receiving bind
        self._flush_due = False
        self._rr = itertools.count()
        self._loop = None
        self._thread = None
        self._ready = threading.Event()
        self._stopped = None

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
        self._loop.call_soon_threadsafe(self._enqueue, number, message_id, stat)

    def wait_for(self, predicate, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return False

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
        front = await self._loop.create_server(lambda: _Client(self), "127.0.0.1", self.port)
        events = asyncio.ensure_future(self._drain_events(server))
        housekeeping = asyncio.ensure_future(self._housekeeping())
        self._ready.set()
        await self._stopped.wait()
        events.cancel()
        housekeeping.cancel()
        front.close()
        self._drop_all()
        try:
            await server.stop()
        except Exception:  # noqa: BLE001
            pass

    @staticmethod
    async def _drain_events(server):
        """smpp34 reports every bind and unbind (submits never reach it); the front keeps its own account."""
        while True:
            await server.next()

    def _drop_all(self):
        for client in list(self._clients):
            client.transport.abort()
            if client.upstream is not None:
                client.upstream.abort()

    # --- submits ----------------------------------------------------------------------------------
    def _submit(self, client, frame):
        """Take or refuse one submit_sm; returns its response (b"" when it comes later), or None when
        every connection must drop now."""
        pdu = smpp34.decode(frame)
        number, sequence = pdu.destination_addr, pdu.sequence_number
        self.attempts[number] += 1
        if self.drop_after is not None:
            self.drop_after -= 1
            if self.drop_after <= 0:
                self.drop_after = None
                self._accept(pdu, number)  # taken, but the answer is lost with the connection
                return None
        if self.throttle_next > 0:
            self.throttle_next -= 1
            return struct.pack(">LLLL", 17, SUBMIT_SM_RESP, smpp34.ESME_RTHROTTLED, sequence) + b"\x00"
        if self.throttle.get(number, 0) > 0:
            self.throttle[number] -= 1
            return struct.pack(">LLLL", 17, SUBMIT_SM_RESP, smpp34.ESME_RTHROTTLED, sequence) + b"\x00"
        if number in self.reject:
            return struct.pack(">LLLL", 17, SUBMIT_SM_RESP, smpp34.ESME_RINVDSTADR, sequence) + b"\x00"
        message_id = self._accept(pdu, number)
        answer = struct.pack(">LLLL", 17 + len(message_id), SUBMIT_SM_RESP, 0, sequence) + message_id.encode() + b"\x00"
        if self.receipts:
            stat = "UNDELIV" if number in self.fail else "DELIVRD"
            if self.receipt_first:
                self._enqueue(number, message_id, stat)
                self._flush_receipts()
                self._loop.call_later(0.02, client.send, [answer])
                return b""
            if self.receipt_delay:
                self._loop.call_later(self.receipt_delay, self._enqueue, number, message_id, stat)
            else:
                self._enqueue(number, message_id, stat)
        return answer

    def _accept(self, pdu, number):
        message_id = f"m{next(self._ids)}"
        self.accepted[number] += 1
        self.submitted.append((number, message_id, pdu.data_coding, pdu.esm_class, pdu.short_message))
        return message_id

    # --- receipts -----------------------------------------------------------------------------------
    def _enqueue(self, number, message_id, stat):
        self._queue.append(_Receipt(number, message_id, stat))
        if not self._flush_due:  # one write per bind for everything queued in this turn of the loop
            self._flush_due = True
            self._loop.call_soon(self._flush_receipts)

    def _requeue(self, receipts):
        now = time.monotonic()
        self._queue.extend(receipt for receipt in receipts if receipt.keep_until > now)
        if self._queue:
            self._loop.call_soon(self._flush_receipts)

    def _flush_receipts(self):
        """Queued receipts to the receiving binds, in turn, as many as each has room for, one write each."""
        self._flush_due = False
        receivers = [client for client in self._clients if client.receiving]
        start = next(self._rr)
        now = time.monotonic()
        for turn in range(len(receivers)):
            if not self._queue:
                return
            client = receivers[(start + turn) % len(receivers)]
            pdus = []
            while self._queue and len(client.in_flight) < RECEIPT_WINDOW:
                receipt = self._queue.popleft()
                if receipt.keep_until < now:
                    continue
                sequence = next(self._receipt_sequences)
                receipt.sent_at = now
                client.in_flight[sequence] = receipt
                pdus.append(smpp34.DeliverSm(source_addr=receipt.number, destination_addr="", esm_class=0x04,
                                             short_message=_receipt_text(receipt.message_id, receipt.stat),
                                             sequence_number=sequence).encode())
            client.send(pdus)

    def _acknowledged(self, client, sequence, status):
        receipt = client.in_flight.pop(sequence, None)
        if receipt is None:
            return
        if status == 0:
            self.receipts_sent += 1
        else:
            self._requeue([receipt])
        if self._queue and not self._flush_due:
            self._flush_due = True
            self._loop.call_soon(self._flush_receipts)

    async def _housekeeping(self):
        """Receipts a bind sat on go again (elsewhere, maybe); queued ones wait for a receiving bind."""
        while True:
            await asyncio.sleep(0.5)
            stale = time.monotonic() - RECEIPT_ACK_SECONDS
            for client in list(self._clients):
                late = [sequence for sequence, receipt in client.in_flight.items() if receipt.sent_at < stale]
                self._requeue([client.in_flight.pop(sequence) for sequence in late])
            if self._queue:
                self._flush_receipts()


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
