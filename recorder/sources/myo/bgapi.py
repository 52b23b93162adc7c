"""BGAPI (Bluegiga/Silicon Labs BLED112) packet codec and a resynchronising incremental parser.

A packet is a 4-byte header and a payload (PROTOCOLS.md): byte0 = message type (0x00 command or
response, 0x80 event; bits 6..3 technology type, 0 for BLE; bits 2..0 the high bits of the payload
length), byte1 = payload length (low 8 bits), byte2 = class, byte3 = command. There is no checksum
and no start byte, so a parser that lost its place (line noise, a truncated packet) can only find
it again by plausibility: the header must name a message we know, with a payload length that
message can have. Variable-length messages end with one length-prefixed array, so their length is
checked against that array's length byte too. On any failure the parser skips one byte and tries
again; each run of skipped bytes counts as one bad packet.

Truncated notifications. A notification cut short is completed by the bytes that follow it. When
those are the next packet, the next packet's header lies inside the would-be notification and the
chimera is dropped (also when that next packet was itself cut short, and when the data ends inside
its header: the parser then waits for the bytes that decide). What cannot be caught: a notification
whose missing tail is replaced by line noise. The result is byte for byte a whole notification with
other values (and, when noise remains, one followed by noise, which is also what a whole
notification followed by noise looks like); raw EMG values are arbitrary int8, BGAPI has no
checksum, and dropping every notification followed by noise would drop intact data with it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

RESPONSE = 0x00  # also the type of host commands
EVENT = 0x80

# Message classes and commands used by the Myo driver and its emulator.
SYSTEM, CONNECTION, ATTCLIENT, GAP = 0, 3, 4, 6
# commands / responses
CMD_SYSTEM_HELLO = (SYSTEM, 1)
CMD_SYSTEM_GET_CONNECTIONS = (SYSTEM, 6)
CMD_CONNECTION_DISCONNECT = (CONNECTION, 0)
CMD_ATTCLIENT_READ_BY_HANDLE = (ATTCLIENT, 4)
CMD_ATTCLIENT_ATTRIBUTE_WRITE = (ATTCLIENT, 5)
CMD_GAP_DISCOVER = (GAP, 2)
CMD_GAP_CONNECT_DIRECT = (GAP, 3)
CMD_GAP_END_PROCEDURE = (GAP, 4)
# events
EVT_SYSTEM_BOOT = (SYSTEM, 0)
EVT_CONNECTION_STATUS = (CONNECTION, 0)
EVT_CONNECTION_DISCONNECTED = (CONNECTION, 4)
EVT_ATTCLIENT_PROCEDURE_COMPLETED = (ATTCLIENT, 1)
EVT_ATTCLIENT_ATTRIBUTE_VALUE = (ATTCLIENT, 5)
EVT_GAP_SCAN_RESPONSE = (GAP, 0)

MAX_PAYLOAD = 0x7FF  # 11 bits of length
WAIT = -1  # BgapiParser: a packet's fate depends on bytes not yet received


@dataclass(slots=True, frozen=True)
class Rule:
    """Allowed payload lengths of one message: exactly ``fixed`` bytes, or ``array_at`` fixed bytes
    followed by a u8 length byte and that many bytes (BGAPI's trailing ``uint8array``)."""

    fixed: int | None = None
    array_at: int | None = None

    def header_ok(self, length: int) -> bool:
        if self.fixed is not None:
            return length == self.fixed
        return self.array_at + 1 <= length <= self.array_at + 256

    def payload_ok(self, payload: bytes) -> bool:
        if self.fixed is not None:
            return len(payload) == self.fixed
        k = self.array_at
        return len(payload) > k and len(payload) == k + 1 + payload[k]


def _fixed(n: int) -> Rule:
    return Rule(fixed=n)


def _array_at(offset: int) -> Rule:
    return Rule(array_at=offset)


# (type, class, command) -> allowed payload length. Lengths follow the BGAPI BLE reference for the
# messages a BLED112 sends a central (FROM_DEVICE) and the commands a host sends (TO_DEVICE).
# system_reset has no response and is left out: "00 00 00 00" is far more often noise.
FROM_DEVICE: dict[tuple[int, int, int], Rule] = {
    # responses
    (RESPONSE, 0, 1): _fixed(0),          # system_hello
    (RESPONSE, 0, 2): _fixed(6),          # system_address_get
    (RESPONSE, 0, 6): _fixed(1),          # system_get_connections: u8 maxconn
    (RESPONSE, 0, 8): _fixed(12),         # system_get_info
    (RESPONSE, 3, 0): _fixed(3),          # connection_disconnect: u8 conn, u16 result
    (RESPONSE, 3, 1): _fixed(2),          # connection_get_rssi
    (RESPONSE, 3, 7): _fixed(3),          # connection_get_status
    (RESPONSE, 4, 1): _fixed(3),          # attclient_read_by_group_type
    (RESPONSE, 4, 3): _fixed(3),          # attclient_find_information
    (RESPONSE, 4, 4): _fixed(3),          # attclient_read_by_handle: u8 conn, u16 result
    (RESPONSE, 4, 5): _fixed(3),          # attclient_attribute_write: u8 conn, u16 result
    (RESPONSE, 4, 6): _fixed(3),          # attclient_write_command
    (RESPONSE, 6, 1): _fixed(2),          # gap_set_mode
    (RESPONSE, 6, 2): _fixed(2),          # gap_discover: u16 result
    (RESPONSE, 6, 3): _fixed(3),          # gap_connect_direct: u16 result, u8 conn
    (RESPONSE, 6, 4): _fixed(2),          # gap_end_procedure: u16 result
    (RESPONSE, 6, 7): _fixed(2),          # gap_set_scan_parameters
    # events
    (EVENT, 0, 0): _fixed(12),            # system_boot
    (EVENT, 3, 0): _fixed(16),            # connection_status
    (EVENT, 3, 1): _fixed(6),             # connection_version_ind
    (EVENT, 3, 2): _array_at(1),          # connection_feature_ind: u8 conn, u8array
    (EVENT, 3, 4): _fixed(3),             # connection_disconnected: u8 conn, u16 reason
    (EVENT, 4, 0): _fixed(3),             # attclient_indicated
    (EVENT, 4, 1): _fixed(5),             # attclient_procedure_completed: u8 conn, u16 result, u16 handle
    (EVENT, 4, 2): _array_at(5),          # attclient_group_found
    (EVENT, 4, 4): _array_at(3),          # attclient_find_information_found
    (EVENT, 4, 5): _array_at(4),          # attclient_attribute_value: u8 conn, u16 handle, u8 type, u8array
    (EVENT, 4, 6): _array_at(1),          # attclient_read_multiple_response
    (EVENT, 6, 0): _array_at(10),         # gap_scan_response: i8 rssi, u8 type, addr[6], u8, u8, u8array
}

TO_DEVICE: dict[tuple[int, int, int], Rule] = {
    (RESPONSE, 0, 1): _fixed(0),          # system_hello
    (RESPONSE, 0, 6): _fixed(0),          # system_get_connections
    (RESPONSE, 3, 0): _fixed(1),          # connection_disconnect: u8 conn
    (RESPONSE, 4, 4): _fixed(3),          # attclient_read_by_handle: u8 conn, u16 handle
    (RESPONSE, 4, 5): _array_at(3),       # attclient_attribute_write: u8 conn, u16 handle, u8array
    (RESPONSE, 6, 2): _fixed(1),          # gap_discover: u8 mode
    (RESPONSE, 6, 3): _fixed(15),         # gap_connect_direct
    (RESPONSE, 6, 4): _fixed(0),          # gap_end_procedure
    (RESPONSE, 6, 7): _fixed(5),          # gap_set_scan_parameters
}


@dataclass(slots=True, frozen=True)
class Packet:
    """One BGAPI message. ``type`` is RESPONSE (0x00; also host commands) or EVENT (0x80).
    ``offset`` is the position of its first byte in the stream the parser was fed (for tests)."""

    type: int
    cls: int
    cmd: int
    payload: bytes
    offset: int = -1

    @property
    def is_event(self) -> bool:
        return self.type == EVENT

    def key(self) -> tuple[int, int]:
        return (self.cls, self.cmd)

    def encode(self) -> bytes:
        return encode(self.type, self.cls, self.cmd, self.payload)


def encode(msg_type: int, cls: int, cmd: int, payload: bytes = b"") -> bytes:
    """Header + payload bytes of one BGAPI message."""
    n = len(payload)
    if n > MAX_PAYLOAD:
        raise ValueError(f"BGAPI payload of {n} bytes exceeds {MAX_PAYLOAD}")
    if msg_type not in (RESPONSE, EVENT):
        raise ValueError(f"BGAPI message type must be 0x00 or 0x80, got {msg_type:#x}")
    return bytes((msg_type | (n >> 8), n & 0xFF, cls, cmd)) + payload


def command(key: tuple[int, int], payload: bytes = b"") -> bytes:
    """A host command (type 0x00)."""
    return encode(RESPONSE, key[0], key[1], payload)


def event(key: tuple[int, int], payload: bytes = b"") -> bytes:
    return encode(EVENT, key[0], key[1], payload)


def attribute_value_event(conn: int, handle: int, value: bytes, att_type: int = 1) -> bytes:
    """attclient_attribute_value; att_type 0 = read result, 1 = notification."""
    return event(EVT_ATTCLIENT_ATTRIBUTE_VALUE,
                 struct.pack("<BHBB", conn, handle, att_type, len(value)) + value)


def parse_attribute_value(payload: bytes) -> tuple[int, int, int, bytes]:
    """(conn, handle, type, value) of an attclient_attribute_value event payload."""
    conn, handle, att_type, n = struct.unpack_from("<BHBB", payload)
    return conn, handle, att_type, payload[5:5 + n]


class BgapiParser:
    """Incremental BGAPI parser that resynchronises on garbage.

    ``feed(data)`` returns the complete packets found so far; an incomplete tail is kept for the
    next call. ``table`` is :data:`FROM_DEVICE` (a host reading a dongle) or :data:`TO_DEVICE`
    (an emulator reading a host). ``bad_packets`` counts runs of bytes skipped to resynchronise.
    """

    def __init__(self, table: dict | None = None):
        self.table = FROM_DEVICE if table is None else table
        self._buf = bytearray()
        self._base = 0          # stream offset of _buf[0]
        self._skipping = False  # inside a run of skipped bytes
        self.bad_packets = 0    # total runs of skipped bytes
        self.skipped_bytes = 0
        self.packets = 0
        self._bad_taken = 0

    def reset(self) -> None:
        """Drop buffered bytes (after reopening a port); counters survive."""
        self._base += len(self._buf)
        self._buf.clear()
        self._skipping = False

    def take_bad(self) -> int:
        """Bad packets counted since the last call (for a driver's status counter)."""
        n = self.bad_packets - self._bad_taken
        self._bad_taken = self.bad_packets
        return n

    def _skip(self) -> None:
        if not self._skipping:
            self._skipping = True
            self.bad_packets += 1
        self.skipped_bytes += 1
        self._pos += 1

    def _header_ok_at(self, buf: bytearray, q: int, n: int) -> bool | None:
        """Whether buf[q:] starts with a plausible header (known message, possible length, array
        length byte agreeing where it is already there); None while fewer than 4 bytes are there."""
        if n - q < 4:
            return None
        b0 = buf[q]
        rule = self.table.get((b0 & 0x80, buf[q + 2], buf[q + 3]))
        length = ((b0 & 0x07) << 8) | buf[q + 1]
        if b0 & 0x78 or rule is None or not rule.header_ok(length):
            return False
        k = rule.array_at
        return not (k is not None and n > q + 4 + k and length != k + 1 + buf[q + 4 + k])

    def _embedded_value_event(self, buf: bytearray, p: int, end: int, n: int) -> int | None:
        """Offset of an attribute_value event header (80 LL 04 05) that starts inside the
        attribute_value event buf[p:end] and runs past its end, when it says buf[p:end] is a
        truncated notification completed by the start of the next one; WAIT when the bytes that
        decide it have not arrived yet; None to take the packet.

        Only attribute_value events (the stream's data packets) are checked. The embedded header
        wins when its own array length byte agrees (LL == len + 5: 32 specific bits, so a clean
        packet is practically never rejected), or when that byte disagrees (the embedded packet
        was itself truncated: two truncations in a row) and the bytes right after buf[p:end] are
        no header either, so nothing confirms the outer packet's length."""
        if buf[p] != 0x80 or buf[p + 2] != 4 or buf[p + 3] != 5:
            return None
        q = buf.find(b"\x80", p + 1, end)
        while q != -1:
            h = n - q  # bytes of the candidate header already here
            if (h < 2 or q + 4 + buf[q + 1] > end) and (h < 3 or buf[q + 2] == 4) and (h < 4 or buf[q + 3] == 5):
                if h < 4:
                    return WAIT  # the data ends inside what may be the next notification's header
                if q + 8 >= n or buf[q + 1] == buf[q + 8] + 5:
                    return q
                confirmed = self._header_ok_at(buf, end, n)
                if confirmed is None:
                    return WAIT
                if not confirmed:
                    return q
            q = buf.find(b"\x80", q + 1, end)
        return None

    def feed(self, data: bytes) -> list[Packet]:
        buf = self._buf
        buf += data
        out: list[Packet] = []
        table = self.table
        self._pos = 0
        n = len(buf)
        while n - self._pos >= 4:
            p = self._pos
            b0 = buf[p]
            rule = table.get((b0 & 0x80, buf[p + 2], buf[p + 3]))
            length = ((b0 & 0x07) << 8) | buf[p + 1]
            if b0 & 0x78 or rule is None or not rule.header_ok(length):
                self._skip()
                continue
            k = rule.array_at
            if k is not None and n > p + 4 + k and length != k + 1 + buf[p + 4 + k]:
                self._skip()  # the array length byte already contradicts the header
                continue
            end = p + 4 + length
            if end > n:
                break  # plausible and incomplete: wait for the rest
            q = self._embedded_value_event(buf, p, end, n)
            if q == WAIT:
                break
            if q is not None:
                # A truncated notification swallowed the start of the next one (BGAPI has no
                # checksum): drop the chimera, count it, and resume at the embedded header.
                self.bad_packets += 1
                self._pos = q
                continue
            out.append(Packet(b0 & 0x80, buf[p + 2], buf[p + 3], bytes(buf[p + 4:end]), self._base + p))
            self.packets += 1
            self._skipping = False
            self._pos = end
        del buf[:self._pos]
        self._base += self._pos
        return out
