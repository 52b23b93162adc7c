"""OpenBCI Cyton (8 x 24-bit channels at 250 Hz through its FTDI dongle): packet parser and driver.

Packet (33 bytes, PROTOCOLS.md)::

    0xA0 | sample number (u8, wraps) | 8 x int24 big-endian | 6 aux bytes | footer 0xC0..0xC6

The protocol has no checksum, so framing is judged from the sync byte, the footer and the byte
that follows (the next packet's sync byte). :class:`CytonParser` is incremental (feed it whatever a
read returned) and vectorised over runs of well-formed packets; it falls back to a byte-level
decision only where the stream is damaged. It unwraps the 8-bit sample number into a continuous
index (a jump is a gap: lost samples) and drops repeated packets.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass

import numpy as np

from recorder.core.clock import now
from recorder.sources.base import DeviceLost, DeviceNotFound, SerialEmgSource

log = logging.getLogger(__name__)

SYNC = 0xA0
PACKET_LEN = 33
FOOTER_MIN, FOOTER_MAX = 0xC0, 0xC6
N_CHANNELS = 8
BAUD = 115200
GAIN = 24
#: Microvolts per count at the default gain 24: 4.5 V reference / gain / (2^23 - 1) (about 0.02235).
SCALE_TO_UV = 4.5 / GAIN / (2**23 - 1) * 1e6
#: g per accelerometer count (LIS3DH at +-4 g, as the OpenBCI docs give it).
ACCEL_SCALE_G = 0.002 / 16
_CH_SLICE = slice(2, 2 + 3 * N_CHANNELS)
_AUX_SLICE = slice(26, 32)


@dataclass(slots=True)
class CytonPackets:
    """Decoded packets, in stream order, duplicates removed.

    index: (k,) int64 continuous sample index (the unwrapped sample number; jumps are gaps).
    sample_number: (k,) uint8 as sent.
    counts: (k, 8) int32 ADC counts (multiply by SCALE_TO_UV for microvolts).
    aux: (k, 6) uint8 raw aux bytes.
    footer: (k,) uint8 footer byte (0xC0 = aux holds accelerometer x, y, z).
    """

    index: np.ndarray
    sample_number: np.ndarray
    counts: np.ndarray
    aux: np.ndarray
    footer: np.ndarray

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def accel_g(self) -> tuple[np.ndarray, np.ndarray]:
        """Accelerometer readings: (positions (m,) into these packets, (m, 3) float64 g).

        Only packets with footer 0xC0 and non-zero aux carry a reading (the firmware sends one at
        25 Hz and zeros in between)."""
        has = (self.footer == 0xC0) & self.aux.any(axis=1)
        pos = np.flatnonzero(has)
        xyz = np.ascontiguousarray(self.aux[pos]).view(">i2").astype(np.float64) * ACCEL_SCALE_G
        return pos, xyz.reshape(-1, 3)

    def runs(self) -> list[slice]:
        """Slices of consecutive indices (a new run starts after each gap)."""
        if not len(self):
            return []
        cuts = np.flatnonzero(np.diff(self.index) != 1) + 1
        edges = [0, *cuts.tolist(), len(self)]
        return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


def _is_footer(b):
    return (b >= FOOTER_MIN) & (b <= FOOTER_MAX)


def decode_packets(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(k, 33) uint8 well-formed packets -> sample numbers (k,), counts (k, 8) int32, aux (k, 6), footer (k,)."""
    k = raw.shape[0]
    b = raw[:, _CH_SLICE].reshape(k, N_CHANNELS, 3).astype(np.int32)
    v = (b[..., 0] << 16) | (b[..., 1] << 8) | b[..., 2]
    v -= (v & 0x800000) << 1  # sign-extend 24-bit two's complement
    return raw[:, 1].copy(), v, raw[:, _AUX_SLICE].copy(), raw[:, 32].copy()


class CytonParser:
    """Incremental, resynchronising Cyton packet parser.

    Framing rules (no checksum exists, so these minimise the damage a corrupt byte can do):

    * A candidate starts with 0xA0 and has a footer byte 32 bytes later.
    * It is *confirmed* when the byte after it is 0xA0 (the next packet). Right after an accepted
      packet (aligned) a candidate that ends exactly at the end of the data is accepted at once,
      so a live stream is never held back; after skipped bytes it waits for one more byte.
    * An unconfirmed candidate is rejected when a confirmed candidate starts inside its 33 bytes
      (a truncated packet followed by a whole one); with ``strict`` (what the driver uses) also
      when skipped bytes precede it (garbage on both sides) and its sample number is not
      1..``max_unconfirmed_step`` after the last accepted packet's, because pure noise forms such
      a "packet" about once a second. Otherwise it is accepted (a whole packet followed by
      garbage): every intact packet is recovered, at the price of an occasional forged one.
    * Skipped bytes between accepted packets count as one bad packet per run.

    Sample numbers are unwrapped modulo 256; a repeated number is a duplicate and is dropped.
    The first packet's index is its sample number.
    """

    max_unconfirmed_step = 4

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self._buf = b""
        self._frame_sn: int | None = None  # sample number of the last packet the framing accepted
        self._aligned = True
        self._skipping = False
        self._last_sn: int | None = None
        self._last_index = -1
        self._silence_at: int | None = None  # offset in _buf where bytes after a silence begin
        self.packets = 0
        self.bad_packets = 0
        self.bytes_skipped = 0
        self.duplicates = 0

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for more data."""
        return len(self._buf)

    def feed(self, data: bytes, expect_last: float | None = None) -> CytonPackets:
        """Add bytes read from the port; return the packets completed by them.

        expect_last: after a silence long enough for the 8-bit sample number to wrap (256
        samples, 1.024 s), the host clock's estimate of the newest packet's index (in this
        parser's numbering; a little high by the read's lateness). The gap at the first packet
        whose bytes are all new is then the counter difference plus the whole wraps that bring
        the newest index nearest that estimate: the counter alone cannot tell 3 lost samples
        from 259 (or a whole wrap from a duplicate)."""
        if expect_last is None:
            self._silence_at = None
        elif self._silence_at is None:
            self._silence_at = len(self._buf)  # the bytes from here on came after the silence
        self._buf += data
        return self._parse(final=False, expect_last=expect_last)

    def flush(self) -> CytonPackets:
        """No more bytes will come (port closed): decide the held-back bytes."""
        return self._parse(final=True)

    # -- framing --------------------------------------------------------------------------------
    def _skip(self, pos: int, to: int) -> int:
        if to > pos:
            self.bytes_skipped += to - pos
            if not self._skipping:
                self.bad_packets += 1
                self._skipping = True
        self._aligned = False
        return to

    def _accept(self) -> None:
        self._skipping = False
        self._aligned = True

    def _parse(self, final: bool, expect_last: float | None = None) -> CytonPackets:
        buf = self._buf
        arr = np.frombuffer(buf, dtype=np.uint8)
        n = arr.shape[0]
        runs: list[tuple[int, int]] = []  # (start, number of packets) of accepted packets
        pos = 0
        while pos < n:
            if self._aligned:
                # Fast path: a run of packets at 33-byte stride, each followed by a sync byte.
                m = (n - pos) // PACKET_LEN
                if m:
                    s = pos + PACKET_LEN * np.arange(m)
                    nxt = s + PACKET_LEN
                    good = (arr[s] == SYNC) & _is_footer(arr[s + 32])
                    good &= (nxt >= n) | (arr[np.minimum(nxt, n - 1)] == SYNC)
                    k = m if good.all() else int(np.argmin(good))
                    if k:
                        runs.append((pos, k))
                        self._frame_sn = int(arr[pos + PACKET_LEN * (k - 1) + 1])
                        pos += PACKET_LEN * k
                        self._accept()
                        continue
            verdict = self._decide(arr, pos, n, final)
            if verdict is None:  # need more bytes
                break
            if verdict == pos:
                runs.append((pos, 1))
                self._frame_sn = int(arr[pos + 1])
                pos += PACKET_LEN
                self._accept()
            else:
                pos = self._skip(pos, verdict)
        if final and pos < n:
            pos = self._skip(pos, n)
        self._buf = buf[pos:]
        new_from = self._silence_at
        if new_from is not None:
            self._silence_at = max(0, new_from - pos)
        blocks = [arr[a:a + PACKET_LEN * k].reshape(k, PACKET_LEN) for a, k in runs]
        if len(blocks) == 1:
            raw = blocks[0]
        else:
            raw = np.concatenate(blocks) if blocks else np.zeros((0, PACKET_LEN), np.uint8)
        first_new = None
        if new_from is not None and expect_last is not None and runs:  # the first packet after the silence
            starts = np.concatenate([a + PACKET_LEN * np.arange(k) for a, k in runs])
            fresh = np.flatnonzero(starts >= new_from)
            if fresh.size:
                first_new, self._silence_at = int(fresh[0]), None
        return self._number(*decode_packets(raw), first_new=first_new, expect_last=expect_last)

    def _decide(self, arr: np.ndarray, pos: int, n: int, final: bool) -> int | None:
        """At ``pos``: return pos to accept the packet there, a later position to skip to, or None
        to wait for more bytes."""
        if arr[pos] != SYNC:
            return self._next_sync(arr, pos + 1, n)
        end = pos + PACKET_LEN
        if end > n:
            return n if final else None
        if not _is_footer(arr[end - 1]):
            return self._next_sync(arr, pos + 1, n)
        if end == n:
            return pos if (self._aligned or final) else None
        if arr[end] == SYNC:
            return pos
        if self.strict and not self._aligned and (self._frame_sn is None
                                  or not 1 <= (int(arr[pos + 1]) - self._frame_sn) % 256 <= self.max_unconfirmed_step):
            # Garbage on both sides, and a sample number that does not follow the last packet's:
            # pure noise looks like a packet about once a second; taking it would invent a
            # sample at a random index.
            return self._next_sync(arr, pos + 1, n)
        # Unconfirmed: prefer a confirmed packet that starts inside this one (we are a truncated
        # packet followed by a whole one); otherwise take it (a whole packet followed by garbage).
        for p in (pos + 1 + np.flatnonzero(arr[pos + 1:end] == SYNC)).tolist():
            if p + PACKET_LEN > n:
                if final:
                    continue
                return None
            if _is_footer(arr[p + 32]) and (p + PACKET_LEN == n or arr[p + PACKET_LEN] == SYNC):
                return p
        return pos

    @staticmethod
    def _next_sync(arr: np.ndarray, start: int, n: int) -> int:
        hits = np.flatnonzero(arr[start:] == SYNC)
        return start + int(hits[0]) if hits.size else n

    # -- numbering ------------------------------------------------------------------------------
    def _number(self, sn: np.ndarray, counts, aux, footer, first_new: int | None = None,
                expect_last: float | None = None) -> CytonPackets:
        k = sn.shape[0]
        if not k:
            return CytonPackets(np.zeros(0, np.int64), sn, counts, aux, footer)
        self.packets += k
        s = sn.astype(np.int64)
        prev = np.empty(k, np.int64)
        prev[1:] = s[:-1]
        if self._last_sn is None:
            prev[0] = s[0] - 1  # first packet ever: index = its sample number
            self._last_index = int(s[0]) - 1
        else:
            prev[0] = self._last_sn
        delta = (s - prev) % 256
        index = self._last_index + np.cumsum(delta)
        if first_new is not None and self._last_sn is not None:
            wraps = int(round((expect_last - index[-1]) / 256))
            if wraps > 0:
                delta[first_new] += 256 * wraps
                index[first_new:] += 256 * wraps
        self._last_sn = int(s[-1])
        self._last_index = int(index[-1])
        keep = delta != 0
        if not keep.all():
            self.duplicates += int(k - keep.sum())
            index, sn, counts, aux, footer = index[keep], sn[keep], counts[keep], aux[keep], footer[keep]
        return CytonPackets(index, sn, counts, aux, footer)


# ------------------------------------------------------------------------------------------------
class CytonDriver(SerialEmgSource):
    """OpenBCI Cyton on a serial port (FTDI dongle, or an emulator's pty).

    Chunks carry (n, 8) int32 ADC counts; ``scale_to_uV`` converts to microvolts (gain 24).
    The latest accelerometer reading is kept in :attr:`accel_g` ((3,) g) at host time :attr:`accel_t`.
    """

    kind = "cyton"
    sample_rate_hz = 250.0
    channel_names = [f"ch{i}" for i in range(1, N_CHANNELS + 1)]
    units = "counts"
    scale_to_uV = SCALE_TO_UV
    dtype = np.int32
    read_timeout_s = 0.1  # how often the reader looks at the stop flag while the port is silent
    #: No usable sample for this long is a stall. Below 256 samples (1.024 s), so that a gap
    #: between two usable packets can never wrap the 8-bit sample number unseen: a longer one
    #: reconnects, and the clock places what follows.
    stall_after_s = 0.9
    #: After a restart (counter back to 0), reads are held this long and placed together by the
    #: least delayed of them (a lower envelope, as the clock's fit): one late first read must not
    #: shift everything after it (see :meth:`_place`).
    place_hold_s = 0.25
    #: Bytes after the port was silent this long may follow a gap that wrapped the 8-bit sample
    #: number (a radio dropout): its length is then taken from the host clock and the counter.
    #: Half a wrap: any shorter silence holds fewer than 256 samples even with late packets.
    #: (While bytes flow without a usable sample, the stall watchdog acts before a wrap.)
    wrap_silence_s = 0.5

    def __init__(self, port: str, reconnect: bool = True, handshake_timeout_s: float = 2.0):
        super().__init__(port, reconnect=reconnect)
        self.handshake_timeout_s = handshake_timeout_s
        self._parser = CytonParser(strict=True)
        self._index_offset: int | None = 0
        self._held: list[tuple[CytonPackets, float]] = []
        self._last_data = 0.0
        self._emulator = None
        self.accel_g: np.ndarray | None = None
        self.accel_t: float | None = None
        self.duplicate_packets = 0
        self._status.info.update(port=port)

    @property
    def emulator(self):
        """The emulator this driver owns (``recorder.sources.factory.open_synthetic_cyton``), else None."""
        return self._emulator

    # -- connection -----------------------------------------------------------------------------
    def _open(self):
        return _open_serial(self.port, self.read_timeout_s)

    def _handshake(self) -> None:
        info = _reset_and_identify(self._ser, self.port, self.handshake_timeout_s, self._stop)
        self._update_status(info={"port": self.port, **info})
        ser = self._ser
        try:
            ser.reset_input_buffer()
            ser.write(b"b")
        except OSError as e:
            raise DeviceLost(f"{self.port}: {e}") from e
        # A restarted board counts from 0 again: the first chunk is placed by the clock instead.
        first = self._parser.packets == 0 and self._status.samples_received == 0
        self._parser = CytonParser(strict=True)
        self._index_offset = 0 if first else None
        self._held = []
        self._last_data = now()

    def _shutdown_device(self) -> None:
        if self._ser is not None:
            self._ser.write(b"s")

    # -- streaming ------------------------------------------------------------------------------
    def _read_some(self) -> None:
        ser = self._ser
        try:
            data = ser.read(ser.in_waiting or 1)  # blocks up to read_timeout_s for the first byte
            if data:
                more = ser.in_waiting
                if more:
                    data += ser.read(more)
        except OSError as e:  # serial.SerialException is an OSError: port gone (unplugged)
            raise DeviceLost(f"{self.port}: {e}") from e
        arrival = now()
        if not data:
            if arrival - self._last_data > self.lost_after_s:
                raise DeviceLost(f"no data from the Cyton on {self.port} for {arrival - self._last_data:.1f} s")
            return
        silence = arrival - self._last_data
        self._last_data = arrival
        p = self._parser
        bad_before, dup_before = p.bad_packets, p.duplicates
        expect = None
        if self._index_offset is not None and silence > self.wrap_silence_s:
            at = self.clock.index_at(arrival)
            expect = None if at is None else at - self._index_offset
        pk = p.feed(data, expect)
        if p.bad_packets > bad_before:
            self._count_bad_packet(p.bad_packets - bad_before)
        self.duplicate_packets += p.duplicates - dup_before
        if not len(pk):
            return
        if self._index_offset is None:
            self._held.append((pk, arrival))
            if arrival - self._held[0][1] < self.place_hold_s:
                return
            held, self._held = self._held, []
            self._index_offset = self._place(held)
        else:
            held = [(pk, arrival)]
        off = self._index_offset
        for pk, arrival in held:
            pos, xyz = pk.accel_g()
            if pos.size:
                self.accel_g, self.accel_t = xyz[-1], arrival
            for run in pk.runs():
                self._emit(pk.counts[run], arrival, first_index=int(pk.index[run.start]) + off)

    def _last_byte_time(self) -> float:
        return self._last_data

    def _place(self, held: list[tuple[CytonPackets, float]]) -> int:
        """Offset from the restarted board's count to the continuous index, from the fitted clock.

        held: the reads after the restart, [(packets, arrival)]. Each read's newest sample was
        taken at or before its arrival, so ``clock index at arrival - packet index`` is the offset
        plus that read's lateness; the least late of the n reads is the best estimate. Its own
        expected lateness (the least of n reads is still a little late) is taken from the reads
        before the restart: the median, over blocks of n of them, of each block's least lateness.
        Without that correction every restart would land a little late, the clock's envelope would
        follow the misplaced data, and the next restart would land later still (cycles of short
        unplugs drifted by 10 samples in 8 cycles). Never before the data already emitted."""
        x = []
        for pk, arrival in held:
            last = self.clock.index_at(arrival)
            if last is not None:
                x.append(last - int(pk.index[-1]))
        if not x:
            return 0
        n = len(x)
        late = self.clock.lateness()[-40 * n:]
        k = len(late) // n
        bias = float(np.median(late[-k * n:].reshape(k, n).min(axis=1))) if k else 0.0
        offset = int(round(min(x) - bias))
        log.debug("Cyton on %s restarted: %d reads, least lateness %.2f, expected %.2f -> offset %d",
                  self.port, n, min(x) - offset, bias, offset)
        return max(offset, self._next_index - int(held[0][0].index[0]))

    def close(self) -> None:
        emu, self._emulator = self._emulator, None
        if emu is not None:
            self.stop()
            emu.close()

    @classmethod
    def probe(cls, port: str, timeout_s: float = 2.0) -> dict:
        """Ask the device on ``port`` to identify itself: {"port", "board", "firmware", "banner"}.
        Raises DeviceNotFound when nothing Cyton-like answers."""
        ser = _open_serial(port, cls.read_timeout_s)
        try:
            return {"port": port, **_reset_and_identify(ser, port, timeout_s)}
        finally:
            ser.close()


def _open_serial(port: str, timeout_s: float):
    import serial

    try:
        return serial.Serial(port, BAUD, timeout=timeout_s, write_timeout=1.0)
    except (serial.SerialException, OSError) as e:
        raise DeviceNotFound(f"cannot open serial port {port}: {e}") from e


def _reset_and_identify(ser, port: str, timeout_s: float, stop=None) -> dict:
    """Stop any stream, soft-reset with ``v`` and read the banner up to ``$$$`` before the deadline."""
    try:
        ser.reset_input_buffer()
        ser.write(b"s")
        ser.write(b"v")
        deadline = now() + timeout_s
        buf = b""
        while b"$$$" not in buf:
            if stop is not None and stop.is_set():
                raise DeviceLost(f"{port}: stopped during the handshake")
            if now() >= deadline:
                raise DeviceNotFound(
                    f"no OpenBCI Cyton answered on {port} (sent 'v', no '$$$' within {timeout_s:g} s)")
            buf = (buf + ser.read(ser.in_waiting or 1))[-4096:]
    except OSError as e:
        raise DeviceLost(f"{port}: {e}") from e
    text = buf[: buf.index(b"$$$")].decode("ascii", "replace")
    board = next((ln.strip() for ln in text.splitlines() if "OpenBCI" in ln), "")
    fw = re.search(r"Firmware:\s*(\S+)", text)
    return {"board": board, "firmware": fw.group(1) if fw else "", "banner": text.strip()[-500:]}

