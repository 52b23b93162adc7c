"""Thalmic Myo armband through its BLED112 USB dongle (BGAPI over a CDC serial port).

Connect sequence (PROTOCOLS.md): end any procedure, disconnect connections 0..2, discover until a
Myo's advert appears, end the procedure, connect, read firmware (0x17), name (0x03) and battery
(0x11), keep the armband awake, subscribe to the EMG characteristics, set the EMG mode. Every step
waits for the dongle's response or event with a deadline; nothing sleeps blindly.

The Myo has no sample counter. The driver keeps the index contiguous and uses what the transport
does reveal: raw EMG rotates over four characteristics (0x2b, 0x2e, 0x31, 0x34), so a skipped
characteristic means 1..3 lost notifications (2 samples each). No public reference guarantees the
order of that rotation (myohw.h, pyomyo, myo-raw and MyoLinux all take notifications in arrival
order), so the driver *learns* it from the first notifications of each connection (the most common
successor of each handle, which single drops do not outvote) and, when they follow no fixed cycle,
places notifications in arrival order and leaves loss to the clock. After a silence (reconnect, or an
arrival gap much longer than a burst) the index is placed by the fitted clock
(:meth:`SampleClock.expected_index`), so the gap shows as lost samples instead of shifting every
later sample in time.
"""

from __future__ import annotations

import logging
import struct
from collections import Counter, deque

import numpy as np

from recorder.core.clock import now
from recorder.sources.myo import bgapi, gatt as myo_gatt
from recorder.sources.base import DeviceError, DeviceLost, DeviceNotFound, SerialEmgSource, SourceConfigError
from recorder.sources.myo.bgapi import BgapiParser, Packet

log = logging.getLogger(__name__)

# GATT characteristics and commands of the Myo, shared with the bleak transport (gatt.py).
H_NAME = myo_gatt.NAME.handle
H_BATTERY = myo_gatt.BATTERY.handle
H_BATTERY_CCCD = myo_gatt.BATTERY.cccd
H_FIRMWARE = myo_gatt.FIRMWARE.handle
H_COMMAND = myo_gatt.COMMAND.handle
H_EMG50 = myo_gatt.EMG50.handle
H_EMG50_CCCD = myo_gatt.EMG50.cccd
RAW_HANDLES = tuple(c.handle for c in myo_gatt.RAW)
RAW_CCCDS = tuple(h + 1 for h in RAW_HANDLES)
RAW_POS = {h: i for i, h in enumerate(RAW_HANDLES)}
EMG_MODE_OFF, EMG_MODE_50HZ, EMG_MODE_FILTERED, EMG_MODE_RAW = (myo_gatt.EMG_MODE_OFF, myo_gatt.EMG_MODE_50HZ,
                                                              myo_gatt.EMG_MODE_FILTERED, myo_gatt.EMG_MODE_RAW)
MYO_SERVICE_AD = myo_gatt.MYO_SERVICE_AD

MODES = {"raw": (200.0, np.int8, EMG_MODE_RAW), "emg50": (50.0, np.uint16, EMG_MODE_50HZ)}


class _Timeout(DeviceError):
    pass


class _Stopped(DeviceLost):
    """Stop was requested while waiting for the dongle."""


class MyoDriver(SerialEmgSource):
    """Myo EMG through a BLED112 dongle on ``port``.

    mode: "raw" (200 Hz, int8 counts, the default) or "emg50" (50 Hz rectified/smoothed, uint16).
    reconnect: reopen the port and redo the connect sequence after the dongle or armband is lost.
    address: "aa:bb:cc:dd:ee:ff" to connect to one armband when several are around (else the first).
    Chunks: x (n, 8) in the mode's dtype, no unit (scale_to_uV NaN).
    """

    kind = "myo"
    channel_names = [f"emg{i}" for i in range(1, 9)]
    units = "counts"
    scale_to_uV = float("nan")
    response_timeout_s = 1.0
    connect_timeout_s = 5.0
    #: An arrival gap of this many sample periods (50 ms raw, 200 ms at 50 Hz; bursts are at most
    #: 40 ms apart) is a silence: the data after it is placed by the clock.
    silence_periods = 10
    #: Data this many samples later than the clock expects is checked like a silence.
    late_samples = 5
    #: After a silence, keep reading for drain_max_s (or until data stops for drain_gap_s) before
    #: placing the run: longer than a burst interval, so a timely burst follows any backlog.
    drain_gap_s = 0.06
    drain_max_s = 0.15
    #: Raw notifications held at the start of a connection to learn the handle rotation: at
    #: least learn_min (about 45 ms), at most learn_max before falling back to arrival order.
    learn_min = 9
    learn_max = 24

    def __init__(self, port: str, mode: str = "raw", reconnect: bool = True, *, address: str | None = None,
                 scan_timeout_s: float = 10.0, response_timeout_s: float | None = None):
        if mode not in MODES:
            raise SourceConfigError(f"Myo mode must be one of {sorted(MODES)}, got {mode!r}")
        self.mode = mode
        self.sample_rate_hz, self.dtype, self._emg_mode = MODES[mode]
        super().__init__(port, reconnect)
        self.address = bytes.fromhex(address.replace(":", ""))[::-1] if address else None
        self.scan_timeout_s = scan_timeout_s
        if response_timeout_s is not None:
            self.response_timeout_s = response_timeout_s
        self.emulator = None  # set by recorder.sources.factory.open_synthetic_myo; closed with the driver
        self._emulated = False
        self._parser = BgapiParser()
        self._pending: deque[tuple[Packet, float]] = deque()
        self._conn: int | None = None
        self._per_note = 2 if mode == "raw" else 1
        self.silence_s = self.silence_periods / self.sample_rate_hz
        self._cursor: int | None = None     # index of the next expected sample
        self._last_pos: int | None = None   # raw: round-robin position of the last notification
        # raw: {handle: position in the learned rotation}; {} = no fixed rotation (arrival order);
        # None = not learned yet on this connection (notifications wait in _learn_buf).
        self._order: dict[int, int] | None = None if mode == "raw" else {H_EMG50: 0}
        self._learn_buf: list[tuple[list[tuple[int, bytes]], float]] = []
        self._last_value = b""
        self._last_data = 0.0               # arrival of the last EMG data
        self._last_rx = 0.0                 # arrival of the last byte
        self._resync = True
        self._keep_data = False             # keep notifications read while waiting (after set-mode)

    def describe(self) -> dict:
        d = super().describe()
        d.update(port=self.port, mode=self.mode, emulated=self._emulated)
        return d

    def close(self) -> None:
        """Stop streaming and close the emulator this driver owns (if any)."""
        self.stop()
        emu, self.emulator = self.emulator, None
        if emu is not None:
            emu.close()

    # -- serial I/O -------------------------------------------------------------------------------
    def _open(self):
        import serial

        try:
            ser = serial.Serial(self.port, 115200, timeout=0.05, write_timeout=1.0)
        except (serial.SerialException, OSError, ValueError) as e:
            raise DeviceNotFound(f"cannot open the Myo dongle port {self.port}: {e}") from e
        ser.reset_input_buffer()
        self._parser.reset()
        self._pending.clear()
        return ser

    def _read_bytes(self) -> tuple[bytes, float]:
        """Bytes available now (waits up to the port timeout for the first), and their arrival time."""
        import serial

        ser = self._ser
        try:
            data = ser.read(1)
            if data:
                k = ser.in_waiting
                if k:
                    data += ser.read(k)
        except (serial.SerialException, OSError) as e:
            raise DeviceLost(f"Myo dongle on {self.port} vanished: {e}") from e
        return data, now()

    def _send(self, key: tuple[int, int], payload: bytes = b"") -> None:
        import serial

        try:
            self._ser.write(bgapi.command(key, payload))
        except (serial.SerialException, OSError) as e:
            raise DeviceLost(f"cannot write to the Myo dongle on {self.port}: {e}") from e

    def _feed(self, data: bytes) -> list[Packet]:
        packets = self._parser.feed(data)
        bad = self._parser.take_bad()
        if bad:
            self._count_bad_packet(bad)
        return packets

    def _wait(self, match, timeout: float, what: str, ignore_stop: bool = False) -> Packet:
        """Read until a packet satisfies ``match``; other packets are kept for streaming or dropped."""
        deadline = now() + timeout
        skipped: deque[tuple[Packet, float]] = deque()
        try:
            while True:
                while self._pending:
                    p, t = self._pending.popleft()
                    if match(p):
                        return p
                    self._check_disconnect(p)
                    if self._keep_data and p.is_event and p.key() == bgapi.EVT_ATTCLIENT_ATTRIBUTE_VALUE:
                        skipped.append((p, t))  # the first EMG data after set-mode
                if self._stop.is_set() and not ignore_stop:
                    raise _Stopped(f"stopped while waiting for {what}")
                if now() >= deadline:
                    raise _Timeout(f"no {what} from the dongle on {self.port} within {timeout:.1f} s")
                data, t = self._read_bytes()
                if data:
                    self._last_rx = t
                    self._pending.extend((p, t) for p in self._feed(data))
        finally:
            self._pending.extendleft(reversed(skipped))

    def _check_disconnect(self, p: Packet) -> None:
        if p.is_event and p.key() == bgapi.EVT_CONNECTION_DISCONNECTED and self._conn is not None \
                and p.payload[0] == self._conn:
            self._conn = None
            reason = struct.unpack_from("<H", p.payload, 1)[0]
            raise DeviceLost(f"Myo on {self.port} disconnected (reason {reason:#06x})")

    def _request(self, key: tuple[int, int], payload: bytes = b"", what: str = "") -> Packet:
        """Send a command and wait for its response."""
        self._send(key, payload)
        return self._wait(lambda p: not p.is_event and p.key() == key, self.response_timeout_s,
                          f"response to {what or key}")

    def _read_attr(self, handle: int) -> bytes:
        resp = self._request(bgapi.CMD_ATTCLIENT_READ_BY_HANDLE, struct.pack("<BH", self._conn, handle),
                             f"read of handle {handle:#04x}")
        result = struct.unpack_from("<H", resp.payload, 1)[0]
        if result:
            raise DeviceLost(f"Myo on {self.port} refused to read handle {handle:#04x} (error {result:#06x})")
        def answer(p: Packet) -> bool:  # the value, or a failed procedure for this handle
            if not p.is_event:
                return False
            if p.key() == bgapi.EVT_ATTCLIENT_ATTRIBUTE_VALUE:
                return bgapi.parse_attribute_value(p.payload)[1] == handle
            return p.key() == bgapi.EVT_ATTCLIENT_PROCEDURE_COMPLETED and \
                struct.unpack_from("<H", p.payload, 3)[0] == handle

        p = self._wait(answer, self.response_timeout_s, f"value of handle {handle:#04x}")
        if p.key() == bgapi.EVT_ATTCLIENT_PROCEDURE_COMPLETED:
            err = struct.unpack_from("<H", p.payload, 1)[0]
            raise DeviceLost(f"Myo on {self.port}: reading handle {handle:#04x} failed (error {err:#06x})")
        return bgapi.parse_attribute_value(p.payload)[3]

    def _write_attr(self, handle: int, data: bytes, ignore_stop: bool = False) -> None:
        self._send(bgapi.CMD_ATTCLIENT_ATTRIBUTE_WRITE, struct.pack("<BHB", self._conn, handle, len(data)) + data)
        key = bgapi.CMD_ATTCLIENT_ATTRIBUTE_WRITE
        resp = self._wait(lambda p: not p.is_event and p.key() == key, self.response_timeout_s,
                          f"response to a write of handle {handle:#04x}", ignore_stop)
        if struct.unpack_from("<H", resp.payload, 1)[0]:
            raise DeviceLost(f"Myo on {self.port} refused a write to handle {handle:#04x}")
        p = self._wait(lambda p: p.is_event and p.key() == bgapi.EVT_ATTCLIENT_PROCEDURE_COMPLETED
                       and struct.unpack_from("<H", p.payload, 3)[0] == handle,
                       self.response_timeout_s, f"completion of a write of handle {handle:#04x}", ignore_stop)
        err = struct.unpack_from("<H", p.payload, 1)[0]
        if err:
            raise DeviceError(f"Myo on {self.port} rejected a write to handle {handle:#04x} (error {err:#06x})")

    # -- connect sequence -------------------------------------------------------------------------
    def _handshake(self) -> None:
        self._conn = None
        self._last_pos = None
        if self.mode == "raw":
            self._order, self._learn_buf = None, []
        self._resync = True
        self._keep_data = False
        try:
            self._request(bgapi.CMD_GAP_END_PROCEDURE, what="gap_end_procedure")
        except _Timeout:
            raise DeviceNotFound(f"no BLED112 dongle answered on {self.port} within {self.response_timeout_s:.1f} s "
                                 "(is this the Myo's Bluetooth dongle, VID:PID 2458:0001?)") from None
        for h in range(3):
            self._request(bgapi.CMD_CONNECTION_DISCONNECT, bytes([h]), "connection_disconnect")
        addr = self._discover()
        self._request(bgapi.CMD_GAP_END_PROCEDURE, what="gap_end_procedure")
        resp = self._request(bgapi.CMD_GAP_CONNECT_DIRECT, addr + struct.pack("<BHHHH", 0, 6, 6, 64, 0),
                             "gap_connect_direct")
        result = struct.unpack_from("<H", resp.payload)[0]
        if result:
            raise DeviceLost(f"the dongle on {self.port} refused to connect (error {result:#06x})")
        try:
            ev = self._wait(lambda p: p.is_event and p.key() == bgapi.EVT_CONNECTION_STATUS and p.payload[1] & 0x01,
                            self.connect_timeout_s, "connection to the Myo")
        except _Timeout as e:
            self._send(bgapi.CMD_GAP_END_PROCEDURE)  # abandon the pending connection
            raise DeviceLost(str(e)) from None
        self._conn = ev.payload[0]
        reads = {}
        for step in myo_gatt.connect_steps(self._emg_mode):
            if step.op == "read":
                reads[step.char.name] = self._read_attr(step.char.handle)
            elif step.op == "subscribe":
                self._write_attr(step.char.cccd, b"\x01\x00")
            else:
                if step.op == "mode":
                    self._keep_data = True  # EMG may arrive before the set-mode completion event
                self._write_attr(step.char.handle, step.data)
        gi = myo_gatt.info_from_reads(reads)
        name, battery = gi["name"], gi["battery_pct"]
        info = {"port": self.port, "mode": self.mode, "firmware": gi["firmware"],
                "hardware_rev": gi["hardware_rev"], "name": name, "address": ":".join(f"{b:02x}" for b in addr[::-1])}
        self._update_status(info=info, battery_pct=int(battery))
        self._last_rx = self._last_data = now()
        log.info("Myo %s (firmware %s, battery %d %%) streaming %s on %s", name, info["firmware"], battery,
                 self.mode, self.port)

    def _discover(self) -> bytes:
        resp = self._request(bgapi.CMD_GAP_DISCOVER, b"\x01", "gap_discover")
        result = struct.unpack_from("<H", resp.payload)[0]
        if result:
            raise DeviceLost(f"the dongle on {self.port} refused to scan (error {result:#06x})")

        def is_myo(p: Packet) -> bool:
            if not (p.is_event and p.key() == bgapi.EVT_GAP_SCAN_RESPONSE):
                return False
            addr, adv = p.payload[2:8], p.payload[11:]
            return MYO_SERVICE_AD in adv and (self.address is None or addr == self.address)

        try:
            return self._wait(is_myo, self.scan_timeout_s, "Myo advert").payload[2:8]
        except _Timeout:
            self._send(bgapi.CMD_GAP_END_PROCEDURE)
            raise DeviceNotFound(f"the BLED112 on {self.port} found no Myo armband in {self.scan_timeout_s:.1f} s "
                                 "(is it charged, awake, in range and not connected elsewhere?)") from None

    def _shutdown_device(self) -> None:
        """Turn EMG off and drop the link, so the armband goes back to advertising."""
        if self._ser is None or self._conn is None:
            return
        try:
            for step in myo_gatt.stop_steps():
                self._write_attr(step.char.handle, step.data, ignore_stop=True)
        except _Timeout:
            pass  # the link is going anyway; the disconnect below ends it
        self._send(bgapi.CMD_CONNECTION_DISCONNECT, bytes([self._conn]))
        self._wait(lambda p: not p.is_event and p.key() == bgapi.CMD_CONNECTION_DISCONNECT,
                   self.response_timeout_s, "response to connection_disconnect", ignore_stop=True)
        self._conn = None

    # -- streaming ----------------------------------------------------------------------------------
    def _read_some(self) -> None:
        if self._pending:  # data that arrived with the last handshake responses
            groups: dict[float, list[Packet]] = {}
            while self._pending:
                p, t = self._pending.popleft()
                groups.setdefault(t, []).append(p)
            for t, packets in groups.items():
                self._process(packets, t)
        data, arrival = self._read_bytes()
        if not data:
            if arrival - self._last_rx > self.lost_after_s:
                raise DeviceLost(f"no data from the Myo dongle on {self.port} for {arrival - self._last_rx:.1f} s")
            return
        self._last_rx = arrival
        self._process(self._feed(data), arrival)

    def _process(self, packets: list[Packet], arrival: float) -> None:
        notes, lost = self._extract(packets)
        if notes and self._order is None:
            self._learn_buf.append((notes, arrival))
            if not self._learn(final=lost is not None):
                return
            groups, self._learn_buf = self._learn_buf, []
            notes = [n for g, _ in groups for n in g]
        elif notes:
            groups = [(notes, arrival)]
        if notes:
            silent = self._resync or arrival - self._last_data > self.silence_s or self._late(notes, arrival)
            if silent and lost is None:
                lost = self._drain(groups)
            self._emit_groups(groups, silent)
        if lost is not None:
            raise lost

    def _learn(self, final: bool = False) -> bool:
        """Learn the raw handle rotation from the held notifications; True once decided (sets
        ``_order``). With ``final`` (the link is going) an undecided rotation means arrival order."""
        handles = [h for notes, _ in self._learn_buf for h, _v in notes]
        order = learn_rotation(handles, self.learn_min)
        if order is None and (final or len(handles) >= self.learn_max):
            order = {}
        if order is None:
            return False
        if not order:
            log.warning("Myo on %s: raw EMG notifications follow no fixed handle rotation; placing them "
                        "in arrival order (loss is then seen only by the clock)", self.port)
        elif [h for h, _ in sorted(order.items(), key=lambda kv: kv[1])] != list(RAW_HANDLES):
            log.info("Myo on %s: raw EMG handle rotation %s", self.port,
                     ", ".join(f"{h:#04x}" for h, _ in sorted(order.items(), key=lambda kv: kv[1])))
        self._order = order
        return True

    def _last_byte_time(self) -> float:
        return self._last_rx

    def _late(self, notes: list, arrival: float) -> bool:
        """True when these notifications arrive much later than the clock expects for contiguous
        data: a loss the round-robin cannot see (a multiple of 4 notifications) or a delay; the
        drain that follows tells which."""
        if self._cursor is None:
            return False
        e = self.clock.expected_index(arrival, self._per_note * len(notes))
        return e is not None and e - self._cursor >= self.late_samples

    def _extract(self, packets: list[Packet]) -> tuple[list[tuple[int, bytes]], DeviceLost | None]:
        """EMG notifications as (handle, 16 value bytes); battery updates applied;
        a disconnect event is returned (raised after the data before it is emitted)."""
        notes: list[tuple[int, bytes]] = []
        lost: DeviceLost | None = None
        raw = self.mode == "raw"
        for p in packets:
            if p.type != bgapi.EVENT:
                continue
            if p.key() == bgapi.EVT_ATTCLIENT_ATTRIBUTE_VALUE:
                _conn, handle, _type, value = bgapi.parse_attribute_value(p.payload)
                if raw and handle in RAW_POS and len(value) == 16:
                    notes.append((handle, value))
                elif not raw and handle == H_EMG50 and len(value) == 17:
                    notes.append((H_EMG50, value[:16]))
                elif handle == H_BATTERY and value:
                    self._update_status(battery_pct=int(value[0]))
            elif p.key() == bgapi.EVT_CONNECTION_DISCONNECTED:
                try:
                    self._check_disconnect(p)
                except DeviceLost as e:
                    lost = e
        return notes, lost

    def _drain(self, groups: list) -> DeviceLost | None:
        """After a silence, read on before placing the data: delayed (not lost) data arrives as a
        backlog in a quick run of reads and is then followed by timely bursts, whose arrival says
        where the run sits in time. Stops after ``drain_max_s``, a gap of ``drain_gap_s``, or as
        soon as the reads so far show the run is contiguous (the common case: a scheduler stall
        delayed the data and nothing was lost), so a stall does not hold live data back."""
        import select

        deadline = now() + self.drain_max_s
        latency_n = int(self.clock.latency_quantile(0.5) * self.sample_rate_hz)  # once per drain (used only in-stream)
        while True:
            if self._settled(groups, latency_n):
                return None
            timeout = min(self.drain_gap_s, deadline - now())
            if timeout <= 0:
                return None
            try:
                ready, _, _ = select.select([self._ser.fileno()], [], [], timeout)
            except (OSError, ValueError) as e:
                raise DeviceLost(f"Myo dongle on {self.port} vanished: {e}") from e
            if not ready:
                return None
            data, t = self._read_bytes()
            if not data:
                return None
            self._last_rx = t
            notes, lost = self._extract(self._feed(data))
            if notes:
                groups.append((notes, t))
            if lost is not None:
                return lost

    def _index_groups(self, groups: list[tuple[list[tuple[int, bytes]], float]], count_bad: bool = True):
        """Index the notifications of one or more reads by the round-robin (a skipped characteristic =
        2 lost samples per notification), starting at the cursor. Pure apart from counting repeated
        notifications as bad when ``count_bad``.

        Returns (indexed [(indices, values, arrival)], next index, last round-robin pos, last value)."""
        per, order = self._per_note, self._order
        rotation = self.mode == "raw" and bool(order)
        start = self._cursor
        if start is None:  # first data ever: align the index with the round-robin phase
            start = per * order[groups[0][0][0][0]] if rotation else 0
        c, last_pos, last_val = start, self._last_pos, self._last_value
        indexed: list[tuple[list[int], list[bytes], float]] = []
        for notes, arrival in groups:
            idx: list[int] = []
            vals: list[bytes] = []
            for handle, value in notes:
                missing = 0
                pos = order[handle] if rotation else None
                if rotation and last_pos is not None:
                    missing = (pos - last_pos - 1) % 4
                if value == last_val and (missing == 3 or not rotation):  # the same notification twice
                    if count_bad:
                        self._count_bad_packet()
                    continue
                i = c + per * missing
                idx.append(i)
                vals.append(value)
                c, last_pos, last_val = i + per, pos, value
            if idx:
                indexed.append((idx, vals, arrival))
        return indexed, c, last_pos, last_val

    def _silence_shift(self, indexed: list, latency_n: int | None = None) -> int:
        """Samples by which a run read after a silence sits later than the round-robin says (lost
        data), from the clock. Each read's arrival bounds the shift from above (data is never
        early); the least delayed read of the run gives the tightest bound, like the clock's
        envelope, so more reads can only lower it."""
        per = self._per_note
        first = indexed[0][0][0]
        if not self._resync and self.mode == "raw" and self._order and self._cursor is not None \
                and first == self._cursor:
            # In-stream, and the rotation continues across the silence: nothing says a
            # notification was lost, so the silence was a delay (a stall of this process, or a
            # link holding data back) and the sample count, not the clock, says what arrived.
            # (A loss of a whole number of rotations without a skip at its edge goes unseen:
            # counting every stall of a loaded host as loss was far worse.)
            return 0
        bounds = [self.clock.expected_index(t, idx[-1] + per - first) for idx, _, t in indexed]
        if bounds[0] is None:
            return 0
        shift = min(bounds) - first
        if not self._resync:
            # In-stream silence: data that is merely late must not count as lost. Lateness up
            # to this link's typical read latency (median; tens of ms on a loaded host) is not
            # loss, else every scheduler stall inserts a false gap and shifts all later data.
            if latency_n is None:
                latency_n = int(self.clock.latency_quantile(0.5) * self.sample_rate_hz)
            shift -= latency_n
        if self.mode == "raw" and self._order and self._last_pos is not None:
            shift = 8 * round(shift / 8)  # the round-robin already counted the rest
        return shift

    def _settled(self, groups: list, latency_n: int) -> bool:
        """True once the reads so far already place the run where it is contiguous with the data
        before the silence: later reads can only lower the shift, so draining on cannot change the
        outcome and would only hold the data back (live latency)."""
        indexed = self._index_groups(groups, count_bad=False)[0]
        return bool(indexed) and self._silence_shift(indexed, latency_n) <= self._per_note

    def _emit_groups(self, groups: list[tuple[list[tuple[int, bytes]], float]], silent: bool) -> None:
        """Index the notifications of one or more reads and emit them as contiguous chunks.

        groups: [(notes, arrival)] in arrival order. Raw indices follow the round-robin; after a
        silence the clock places the run, rounded to whole round-robin cycles (8 samples) when the
        round-robin is known."""
        per, raw = self._per_note, self.mode == "raw"
        indexed, c, last_pos, last_val = self._index_groups(groups)
        if not indexed:
            return
        if silent:
            shift = self._silence_shift(indexed)
            log.debug("Myo silence on %s: %d reads -> shift %d", self.port, len(indexed), shift)
            if shift > per:
                indexed = [([i + shift for i in idx], vals, t) for idx, vals, t in indexed]
                c += shift
        self._resync = False
        self._cursor, self._last_pos, self._last_value = c, last_pos, last_val
        self._last_data = indexed[-1][2]
        # Emit runs of consecutive indices; a jump between runs is counted as lost by _emit.
        dt = np.int8 if raw else "<u2"
        for idx, vals, arrival in indexed:
            run = 0
            for k in range(1, len(idx) + 1):
                if k == len(idx) or idx[k] != idx[k - 1] + per:
                    x = np.frombuffer(b"".join(vals[run:k]), dtype=dt).reshape(-1, 8)
                    self._emit(x.astype(self.dtype, copy=False), arrival, first_index=idx[run])
                    run = k


def learn_rotation(handles: list[int], min_notes: int = 9) -> dict[int, int] | None:
    """The raw EMG handle rotation that notifications arriving in this order follow.

    handles: raw EMG handles in arrival order. Each handle's successor is the one that most often
    follows it (a single dropped notification makes one transition skip a handle; it cannot outvote
    the others). Returns {handle: position 0..3} when the successors form one 4-cycle that explains
    at least 3/4 of the transitions (positions start at 0x2b when the cycle is the documented
    0x2b, 0x2e, 0x31, 0x34, else at the first handle seen), {} when they clearly follow no fixed
    cycle, and None when more notifications are needed (fewer than ``min_notes``, or a tie)."""
    if len(handles) < min_notes:
        return None
    trans = Counter(zip(handles, handles[1:]))
    succ: dict[int, int] = {}
    for a in RAW_HANDLES:
        outs = sorted(((n, b) for (x, b), n in trans.items() if x == a), reverse=True)
        if not outs or (len(outs) > 1 and outs[0][0] == outs[1][0]):
            return None
        succ[a] = outs[0][1]
    start = RAW_HANDLES[0] if succ[RAW_HANDLES[0]] == RAW_HANDLES[1] else handles[0]
    cycle = [start]
    while len(cycle) < 4 and succ[cycle[-1]] not in cycle:
        cycle.append(succ[cycle[-1]])
    if len(cycle) < 4 or succ[cycle[-1]] != start:
        return {}
    explained = sum(n for (a, b), n in trans.items() if succ[a] == b)
    if explained < 0.75 * (len(handles) - 1):
        return {}
    return {h: k for k, h in enumerate(cycle)}

