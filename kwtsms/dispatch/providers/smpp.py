"""SMPP 3.4 carrier connections with smpplib.

`Session` is one bind: connect, bind (transceiver, transmitter or receiver), keep
it alive with enquire_link, and read whatever the carrier sends (submit
responses, delivery receipts, enquire_link, unbind, garbage). `SmppProvider` is
what a worker submits through: a window of submit_sm in flight, a messages-per-
second cap, GSM-7 (data_coding 0) or UCS-2 (8) with concatenation headers from
our splitter, reconnect with backoff. Receipts are acknowledged (deliver_sm_resp)
only after they are committed, so a crash never loses one: the carrier sends it
again.
"""
import datetime
import logging
import random
import re
import select
import socket
import struct
import time
from collections import deque

import smpplib.client
import smpplib.consts as C
import smpplib.exceptions
import smpplib.smpp

from ... import smstext
from ...models import DispatchProvider
from .. import monitor
from .base import FAILED, INTERRUPTED, REJECTED, RETRY, SENT, Outcome, Provider, ProviderError, Receipt, secret_of

log = logging.getLogger("kwtsms.dispatch.smpp")

TEMPORARY = {C.SMPP_ESME_RSYSERR, C.SMPP_ESME_RMSGQFUL, C.SMPP_ESME_RTHROTTLED, C.SMPP_ESME_RX_T_APPN}
THROTTLING = {C.SMPP_ESME_RMSGQFUL, C.SMPP_ESME_RTHROTTLED}
REJECTING = {C.SMPP_ESME_RINVDSTADR, C.SMPP_ESME_RINVDSTTON, C.SMPP_ESME_RINVDSTNPI, C.SMPP_ESME_RINVNUMDESTS,
             C.SMPP_ESME_RINVSRCADR, C.SMPP_ESME_RINVSRCTON, C.SMPP_ESME_RINVSRCNPI, C.SMPP_ESME_RX_R_APPN,
             C.SMPP_ESME_RINVMSGLEN, C.SMPP_ESME_RINVDESTFLAG}
BIND_REFUSED = {C.SMPP_ESME_RINVPASWD, C.SMPP_ESME_RINVSYSID, C.SMPP_ESME_RBINDFAIL, C.SMPP_ESME_RINVSYSTYP,
                C.SMPP_ESME_RALYBND}
BACKOFF = (1, 2, 5, 10, 30, 60)
RESPONSE_TIMEOUT = 30.0
MAX_PDU = 64 * 1024
_RECEIPT = re.compile(rb"id:(?P<id>\S+).*?stat:(?P<stat>\w+)(?:.*?err:(?P<err>\w+))?", re.IGNORECASE | re.DOTALL)
MESSAGE_STATES = {1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 6: "ACCEPTD",
                  7: "UNKNOWN", 8: "REJECTD"}


SUBMIT_SM, SUBMIT_SM_RESP, GENERIC_NACK, DELIVER_SM, DELIVER_SM_RESP = (0x00000004, 0x80000004, 0x80000000,
                                                                0x00000005, 0x80000005)


class FastPdu:
    """A submit_sm_resp or generic_nack read without smpplib's general parser (the hot path)."""
    __slots__ = ("command", "status", "sequence", "message_id")

    def __init__(self, command, status, sequence, message_id=b""):
        self.command, self.status, self.sequence, self.message_id = command, status, sequence, message_id


class _Deliver:
    """The fields of a deliver_sm that receipts need."""
    __slots__ = ("command", "status", "sequence", "source_addr", "esm_class", "short_message",
                 "receipted_message_id", "message_state")


def _cstring(body, at):
    end = body.index(b"\x00", at)
    return body[at:end], end + 1


def parse_deliver_sm(frame):
    """deliver_sm without smpplib's general parser; None when it does not parse (smpplib then decides)."""
    try:
        _length, _command, status, sequence = struct.unpack(">LLLL", frame[:16])
        body = frame[16:]
        _service, at = _cstring(body, 0)
        source, at = _cstring(body, at + 2)
        _destination, at = _cstring(body, at + 2)
        esm_class = body[at]
        _schedule, at = _cstring(body, at + 3)
        _validity, at = _cstring(body, at)
        sm_length = body[at + 4]
        at += 5
        short_message = body[at:at + sm_length]
        if len(short_message) != sm_length:
            return None
        at += sm_length
        pdu = _Deliver()
        pdu.receipted_message_id = pdu.message_state = None
        while at + 4 <= len(body):
            tag, size = struct.unpack(">HH", body[at:at + 4])
            value = body[at + 4:at + 4 + size]
            if len(value) != size:
                return None
            if tag == 0x001E:
                pdu.receipted_message_id = value.rstrip(b"\x00")
            elif tag == 0x0427 and size == 1:
                pdu.message_state = value[0]
            at += 4 + size
        if at != len(body):
            return None
    except (ValueError, IndexError, struct.error):
        return None
    pdu.command, pdu.status, pdu.sequence = "deliver_sm", status, sequence
    pdu.source_addr, pdu.esm_class, pdu.short_message = source, esm_class, short_message
    return pdu


def submit_sm_bytes(sequence, head, destination, tail):
    """A submit_sm PDU: `head` and `tail` are the fields before and after destination_addr,
    encoded once per text part (smpplib builds the same bytes ~20x slower)."""
    body = head + destination.encode("ascii") + b"\x00" + tail
    return struct.pack(">LLLL", 16 + len(body), SUBMIT_SM, 0, sequence) + body


def submit_sm_head(source, ton, npi):
    return b"\x00" + bytes([ton, npi]) + source.encode("latin-1") + b"\x00" + bytes([1, 1])


def submit_sm_tail(esm_class, validity, data_coding, short_message):
    # esm_class, protocol_id, priority_flag, schedule_delivery_time, validity_period,
    # registered_delivery (final receipts), replace_if_present, data_coding, sm_default_msg_id, sm_length
    return (bytes([esm_class, 0, 0]) + b"\x00" + validity.encode("ascii") + b"\x00"
            + bytes([1, 0, data_coding, 0, len(short_message)]) + short_message)


class SessionDown(Exception):
    """The bind is gone (closed, reset, garbage, unbound, no answer)."""

    def __init__(self, message, kind="disconnect"):
        super().__init__(message)
        self.kind = kind


def _text(value):
    if isinstance(value, bytes):
        return value.decode("latin-1", "replace")
    return "" if value is None else str(value)


def describe(status):
    return f"0x{status:08X} {C.DESCRIPTIONS.get(status, 'unknown error')}"


def source_address(sender):
    """(TON, NPI) for our sender: alphanumeric 5/0, a short code 3/0, a full number 1/1."""
    if sender.isdigit():
        return (1, 1) if len(sender) > 8 else (3, 0)
    return 5, 0


def relative_validity(until, now=None):
    """SMPP relative time (YYMMDDhhmmss000R) from now until `until`."""
    now = now or datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    seconds = max(60, int((until - now).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"0000{min(days, 99):02d}{hours:02d}{minutes:02d}{seconds:02d}000R"


def encode_parts(text):
    """[(short_message, esm_class)], data_coding for one recipient's text, cut by our splitter."""
    info = smstext.analyze(text)
    parts = smstext.split(info.text) or [""]
    if info.encoding == "gsm7":
        data_coding, encode = 0, (lambda t: t.encode("gsm03.38"))
    else:
        data_coding, encode = 8, (lambda t: t.encode("utf-16-be"))
    if len(parts) == 1:
        return [(encode(parts[0]), 0)], data_coding
    reference = random.randint(0, 255)
    total = len(parts)
    return [(bytes([5, 0, 3, reference, total, n]) + encode(part), 0x40)
            for n, part in enumerate(parts, start=1)], data_coding


def parse_receipt(pdu, provider_id):
    """A Receipt from a deliver_sm, or None when it is not a delivery receipt (an MO message)."""
    body = pdu.short_message or b""
    if isinstance(body, str):
        body = body.encode("latin-1", "replace")
    carrier_id = _text(getattr(pdu, "receipted_message_id", None)).strip("\x00")
    state = getattr(pdu, "message_state", None)
    match = _RECEIPT.search(body)
    is_receipt = bool((pdu.esm_class or 0) & 0x3C) or carrier_id or match
    if not is_receipt:
        return None
    stat = MESSAGE_STATES.get(state, "") if state else ""
    err = ""
    if match:
        carrier_id = carrier_id or _text(match.group("id"))
        stat = stat or _text(match.group("stat")).upper()
        err = _text(match.group("err") or b"")
    if not carrier_id:
        return None
    return Receipt(provider_id=provider_id, carrier_id=carrier_id[:64], stat=stat.upper(), err=err,
                   text=body[:300].decode("latin-1", "replace"), mobile=_text(pdu.source_addr))


class Session:
    """One SMPP bind. `role` is "trx", "tx" or "rx"."""

    def __init__(self, row, role, label):
        self.row, self.role, self.label = row, role, label
        self.provider_id = row.id
        self.client = None
        self.buffer = b""
        self.last_sent = self.last_read = 0.0
        self.enquire_sent = None
        self.failures = 0
        self.next_attempt = 0.0
        self.receipts, self.unacked = [], []

    # --- connection -----------------------------------------------------------------------
    @property
    def connected(self):
        return self.client is not None

    def connect(self):
        """Bind, or raise ProviderError (after logging why) with the backoff to wait."""
        now = time.monotonic()
        if now < self.next_attempt:
            raise ProviderError("waiting to reconnect", retry_after=self.next_attempt - now)
        row = self.row
        monitor.report_bind(self.provider_id, self.role, "connecting", self.label)
        client = smpplib.client.Client(row.host, row.port, timeout=10, allow_unknown_opt_params=True,
                                       logger_name="kwtsms.dispatch.smpplib")
        try:
            client.connect()
            bind = {"trx": client.bind_transceiver, "tx": client.bind_transmitter, "rx": client.bind_receiver}
            bind[self.role](system_id=row.system_id, password=secret_of(row), system_type=row.system_type,
                            interface_version=0x34)
        except smpplib.exceptions.PDUError as error:
            status = error.args[1] if len(error.args) > 1 else None
            self._drop(client)
            if status in BIND_REFUSED:
                self._failed("bind_refused", f"{row.host}:{row.port} refused the bind of {row.system_id!r}: "
                                             f"{describe(status)}")
            self._failed("bind_failed", f"bind to {row.host}:{row.port} failed: {error}")
        except (smpplib.exceptions.ConnectionError, OSError) as error:
            self._drop(client)
            self._failed("connect_failed", f"cannot connect to {row.host}:{row.port}: {error or 'refused'}")
        except Exception as error:  # noqa: BLE001 - smpplib raises anything on garbage
            self._drop(client)
            self._failed("bad_pdu", f"{row.host}:{row.port} answered the bind with garbage: {error!r}")
        client._socket.settimeout(10)
        self.client, self.buffer = client, b""
        self.last_sent = self.last_read = time.monotonic()
        self.enquire_sent = None
        self.failures = 0
        monitor.report_bind(self.provider_id, self.role, "bound", self.label)
        log.info("bound %s to %s:%s as %s", self.role, row.host, row.port, row.system_id)

    def _failed(self, kind, detail):
        from .. import service
        delay = BACKOFF[min(self.failures, len(BACKOFF) - 1)]
        self.failures += 1
        self.next_attempt = time.monotonic() + delay
        monitor.report_bind(self.provider_id, self.role, "backoff", f"{self.label}: {detail}")
        monitor.count(self.provider_id, "errors")
        service.log_event(kind, detail, self.provider_id)
        raise ProviderError(detail, retry_after=delay)

    @staticmethod
    def _drop(client):
        try:
            client.disconnect()
        except Exception:  # noqa: BLE001
            pass

    def close(self, unbind=True):
        """Unbind (a peer may never answer the unbind: we wait briefly) and disconnect."""
        client, self.client = self.client, None
        if client is None:
            return
        if unbind:
            try:
                client._socket.settimeout(1.0)
                client.send_pdu(smpplib.smpp.make_pdu("unbind", client=client))
                deadline = time.monotonic() + 1.0
                while time.monotonic() < deadline:
                    readable, _w, _x = select.select([client._socket], [], [], deadline - time.monotonic())
                    if not readable:
                        break
                    chunk = client._socket.recv(65536)
                    if not chunk or b"\x80\x00\x00\x06" in chunk:
                        break
            except Exception:  # noqa: BLE001 - a missing unbind_resp is fine
                pass
        self._drop(client)
        self.unacked = []
        monitor.report_bind(self.provider_id, self.role, "closed", self.label)

    def lost(self, error):
        """The connection died under us: note it and back off before reconnecting."""
        from .. import service
        client, self.client = self.client, None
        if client is not None:
            self._drop(client)
        self.unacked = []
        delay = BACKOFF[min(self.failures, len(BACKOFF) - 1)]
        self.failures += 1
        self.next_attempt = time.monotonic() + delay
        monitor.report_bind(self.provider_id, self.role, "backoff", f"{self.label}: {error}")
        monitor.count(self.provider_id, "errors")
        service.log_event(getattr(error, "kind", "disconnect"), f"{self.row.host}:{self.row.port}: {error}",
                          self.provider_id)

    # --- I/O ------------------------------------------------------------------------------
    def send(self, pdu):
        self.send_raw(pdu.generate())

    def send_raw(self, data):
        try:
            self.client._socket.sendall(data)
        except OSError as error:
            raise SessionDown(f"connection lost while sending: {error}") from error
        self.last_sent = time.monotonic()

    def read(self, timeout):
        """PDUs that arrive within `timeout` seconds (0: only what is already here)."""
        sock = self.client._socket
        try:
            readable, _w, _x = select.select([sock], [], [], max(timeout, 0))
        except (OSError, ValueError) as error:
            raise SessionDown(f"connection lost: {error}") from error
        if not readable:
            return []
        try:
            chunk = sock.recv(262144)
        except (OSError, socket.timeout) as error:
            raise SessionDown(f"connection lost: {error}") from error
        if not chunk:
            raise SessionDown("the carrier closed the connection")
        self.last_read = time.monotonic()
        self.buffer += chunk
        pdus = []
        while len(self.buffer) >= 4:
            (length,) = struct.unpack(">L", self.buffer[:4])
            if length < 16 or length > MAX_PDU:
                raise SessionDown(f"garbage from the carrier (PDU length {length}): {self.buffer[:32].hex()}",
                                  kind="bad_pdu")
            if len(self.buffer) < length:
                break
            frame, self.buffer = self.buffer[:length], self.buffer[length:]
            _length, command_id, status, sequence = struct.unpack(">LLLL", frame[:16])
            if command_id == SUBMIT_SM_RESP:
                pdus.append(FastPdu("submit_sm_resp", status, sequence, frame[16:].split(b"\x00", 1)[0]))
                continue
            if command_id == GENERIC_NACK:
                pdus.append(FastPdu("generic_nack", status, sequence))
                continue
            if command_id == DELIVER_SM:
                deliver = parse_deliver_sm(frame)
                if deliver is not None:
                    pdus.append(deliver)
                    continue
            try:
                pdus.append(smpplib.smpp.parse_pdu(frame, client=self.client, allow_unknown_opt_params=True))
            except Exception as error:  # noqa: BLE001 - smpplib raises anything on garbage
                raise SessionDown(f"garbage from the carrier ({error!r}): {frame[:32].hex()}",
                                  kind="bad_pdu") from error
        return pdus

    def handle_common(self, pdu):
        """Answer what needs no caller: enquire_link, unbind, receipts (buffered). True if handled."""
        command = pdu.command
        if command == "enquire_link":
            response = smpplib.smpp.make_pdu("enquire_link_resp", client=self.client)
            response.sequence = pdu.sequence
            self.send(response)
        elif command == "enquire_link_resp":
            self.enquire_sent = None
        elif command == "deliver_sm":
            receipt = parse_receipt(pdu, self.provider_id)
            if receipt is None:  # a message from a handset: we do not take those; acknowledge it
                self.ack(pdu.sequence)
            else:
                self.receipts.append(receipt)
                self.unacked.append(pdu.sequence)
        elif command == "unbind":
            response = smpplib.smpp.make_pdu("unbind_resp", client=self.client)
            response.sequence = pdu.sequence
            try:
                self.send(response)
            finally:
                raise SessionDown("the carrier unbound")
        elif command in ("unbind_resp", "alert_notification", "data_sm"):
            pass
        else:
            return False
        return True

    def ack(self, sequence):
        self.send_raw(struct.pack(">LLLL", 17, DELIVER_SM_RESP, 0, sequence) + b"\x00")

    def ack_receipts(self):
        """After the receipts are committed: deliver_sm_resp for each (in one write)."""
        unacked, self.unacked = self.unacked, []
        if self.client is None or not unacked:
            return
        try:
            self.send_raw(b"".join(struct.pack(">LLLL", 17, DELIVER_SM_RESP, 0, sequence) + b"\x00"
                                   for sequence in unacked))
        except SessionDown as error:
            self.lost(error)

    def take_receipts(self):
        receipts, self.receipts = self.receipts, []
        return receipts

    def keepalive(self):
        """enquire_link after `enquire_link` seconds of silence; a peer that never answers is dropped."""
        now = time.monotonic()
        interval = max(self.row.enquire_link, 5)
        if self.enquire_sent is not None and now - self.enquire_sent > 2 * interval:
            raise SessionDown("no answer to enquire_link")
        if self.enquire_sent is None and now - max(self.last_sent, self.last_read) > interval:
            self.send(smpplib.smpp.make_pdu("enquire_link", client=self.client))
            self.enquire_sent = now
            monitor.report_bind(self.provider_id, self.role, "bound", self.label)


class _Pending:
    __slots__ = ("item", "parts", "data_coding", "next_part", "accepted", "written", "result", "tries")

    def __init__(self, item, parts, data_coding):
        self.item, self.parts, self.data_coding = item, parts, data_coding
        self.next_part, self.accepted, self.written, self.result, self.tries = 0, [], False, None, 0


class SmppProvider(Provider):
    kind = DispatchProvider.SMPP

    def __init__(self, row, config):
        super().__init__(row, config)
        role = "tx" if row.bind_mode == DispatchProvider.SPLIT else "trx"
        self.session = Session(row, role, label=f"worker {socket.gethostname()}:{_pid()}")
        self.rate = float(row.mps or 0)
        self.pause_until = 0.0

    # --- submitting ---------------------------------------------------------------------------
    def submit(self, work):
        session = self.session
        if not session.connected:
            session.connect()  # ProviderError: nothing was sent
        row = self.row
        ton, npi = source_address(work.sender)
        validity = relative_validity(work.valid_until)
        head = submit_sm_head(work.sender, ton, npi)
        encoded = {}
        states = []
        for item in work.items:
            if item.text not in encoded:
                parts, data_coding = encode_parts(item.text)
                encoded[item.text] = ([submit_sm_tail(esm_class, validity, data_coding, short_message)
                                       for short_message, esm_class in parts], data_coding)
            parts, data_coding = encoded[item.text]
            states.append(_Pending(item, parts, data_coding))
        ready = deque(states)
        in_flight = {}  # sequence -> (_Pending, part index, sent at); oldest first (a dict keeps insertion order)
        window = max(row.window, 1)
        interval = 0.0
        next_send = time.monotonic()
        last_tick = time.monotonic()
        submitted = 0
        try:
            while ready or in_flight:
                now = time.monotonic()
                if self.row.mps:
                    self.rate = min(float(self.row.mps), self.rate * 1.05 + 0.5) if self.rate else float(self.row.mps)
                    interval = 1.0 / max(self.rate, 1.0)
                batch = []
                while ready and len(in_flight) < window and now >= next_send and now >= self.pause_until:
                    state = ready.popleft()
                    index = state.next_part
                    sequence = session.client.next_sequence()
                    batch.append(submit_sm_bytes(sequence, head, state.item.mobile, state.parts[index]))
                    state.written = True
                    in_flight[sequence] = (state, index, now)
                    submitted += 1
                    if interval:
                        next_send = max(next_send + interval, now - 1.0)
                        now = time.monotonic()
                if batch:
                    session.send_raw(b"".join(batch))
                wait = 0.0 if (ready and len(in_flight) < window) else 0.5
                if ready and len(in_flight) < window:
                    wait = max(0.0, min(max(next_send, self.pause_until) - time.monotonic(), 0.5))
                for pdu in session.read(wait if in_flight or ready else 0):
                    self._handle(pdu, in_flight, ready)
                now = time.monotonic()
                if in_flight and now - next(iter(in_flight.values()))[2] > RESPONSE_TIMEOUT:
                    raise SessionDown(f"no submit_sm_resp within {RESPONSE_TIMEOUT:.0f} s")
                if now - last_tick > 1:
                    session.keepalive()
                    if work.tick:
                        work.tick()
                    last_tick = now
        except SessionDown as error:
            session.lost(error)
            for state, _index, _sent in in_flight.values():
                if state.result is None:
                    state.result = Outcome(state.item.id, INTERRUPTED, "interrupted: " + str(error)[:150],
                                           parts=list(state.accepted))
            for state in states:
                if state.result is None:
                    if state.written:  # some parts went out: never send it again
                        state.result = Outcome(state.item.id, INTERRUPTED, "interrupted: " + str(error)[:150],
                                               parts=list(state.accepted))
                    else:
                        state.result = Outcome(state.item.id, RETRY, str(error)[:200],
                                               retry_after=session.next_attempt - time.monotonic())
        monitor.count(self.id, "submitted", submitted)
        return [state.result for state in states]

    def _handle(self, pdu, in_flight, ready):
        session = self.session
        if pdu.command == "submit_sm_resp" or (pdu.command == "generic_nack" and pdu.sequence in in_flight):
            entry = in_flight.pop(pdu.sequence, None)
            if entry is None:
                log.warning("submit_sm_resp for an unknown sequence %s", pdu.sequence)
                return
            state, index, _sent = entry
            status = pdu.status or 0
            total = len(state.parts)
            if pdu.command == "submit_sm_resp" and status == 0:
                state.accepted.append((index + 1, total, _text(pdu.message_id)[:64]))
                state.next_part = index + 1
                if state.next_part < total:
                    ready.appendleft(state)
                else:
                    state.result = Outcome(state.item.id, SENT, parts=state.accepted)
                return
            if pdu.command == "generic_nack":
                state.result = Outcome(state.item.id, FAILED, f"generic_nack {describe(status)}"[:200],
                                       parts=state.accepted)
                return
            if status in TEMPORARY:
                if status in THROTTLING:
                    self.rate = max(1.0, (self.rate or 100.0) / 2)
                    self.pause_until = time.monotonic() + min(0.25 * 2 ** min(state.tries, 4), 5.0)
                    monitor.count(self.id, "throttled")
                if not state.accepted:  # nothing of it went out: queue it again, later
                    state.result = Outcome(state.item.id, RETRY, describe(status), retry_after=1.0)
                    return
                state.tries += 1
                if state.tries <= 3:  # later parts of a long message: try that part again here
                    ready.append(state)
                    return
                state.result = Outcome(state.item.id, FAILED, f"part {index + 1} of {total} refused: "
                                                              f"{describe(status)}"[:200], parts=state.accepted)
                return
            kind = REJECTED if status in REJECTING else FAILED
            state.result = Outcome(state.item.id, kind, describe(status)[:200], parts=state.accepted)
            return
        if not session.handle_common(pdu):
            if pdu.command == "generic_nack":
                log.warning("generic_nack from the carrier: %s", describe(pdu.status or 0))
            else:
                from .. import service
                service.log_event("unexpected_pdu", f"unexpected {pdu.command} from the carrier", self.id)

    # --- receipts and idling --------------------------------------------------------------------
    def take_receipts(self):
        return self.session.take_receipts()

    def after_commit(self):
        self.session.ack_receipts()

    def drain(self, seconds=0.05):
        """Read what is waiting (receipts) before going idle."""
        if not self.session.connected:
            return []
        try:
            deadline = time.monotonic() + seconds
            while True:
                pdus = self.session.read(max(0.0, deadline - time.monotonic()))
                for pdu in pdus:
                    if not self.session.handle_common(pdu):
                        log.warning("ignored %s while idle", pdu.command)
                if not pdus:
                    break
        except SessionDown as error:
            self.session.lost(error)
        return self.session.take_receipts()

    def release(self):
        self.session.close()


def _pid():
    import os
    return os.getpid()
