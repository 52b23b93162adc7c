"""A Thalmic Myo armband behind a BLED112 dongle, emulated on a pseudo-terminal.

The emulator speaks BGAPI like the dongle and implements the armband's GATT behaviour the driver
relies on: scanning (scan responses from the Myo and a foreign device), connecting, reading the
firmware/name/battery characteristics, CCCD writes, the command characteristic (set mode, sleep
mode, vibrate, deep sleep) and EMG streaming:

- raw mode (0x03, also 0x02): 200 Hz, 16-byte notifications of two samples x 8 int8 on 0x2b, 0x2e,
  0x31, 0x34 round-robin (notification j carries samples 2j, 2j+1 on handle ``raw_order[j % 4]``;
  ``raw_order`` defaults to that strict cycle, other orders model a link that delivers another);
- 50 Hz smoothed mode (0x01): 17-byte notifications on 0x27, 8 x uint16 LE + one byte.

Timing model. Sample k of a stream is taken at ``t_origin + k / true_rate`` (host seconds), with
``true_rate = nominal * (1 + rate_error_ppm * 1e-6)``. Notifications travel in bursts of 1..4, like
BLE connection events; a burst leaves at the moment its last sample is taken, so the best-case
latency is the pty's. Bursts are timed by a dedicated thread that waits for the exact send time
(the base class's tick grid would add a phase error of up to one tick). The stream index is a
function of time: after an unplug, the stream resumes at the index that belongs to the moment of
the new set-mode command, so the samples of the unplugged interval are lost, as with a real armband.
"""

from __future__ import annotations

import logging
import math
import random
import struct
import threading
from collections.abc import Callable

import numpy as np

from recorder.core.clock import now
from recorder.sources.myo import bgapi, gatt as myo_gatt
from recorder.sources.myo.bgapi import BgapiParser, Packet
from recorder.sources.myo.gatt import EMG_MODE_50HZ, EMG_MODE_FILTERED, EMG_MODE_RAW, MYO_SERVICE_AD
from recorder.sources.pty_port import PtyEmulator

# The firmware's ATT handles, from the protocol facts the drivers also use (not from a driver).
H_NAME, H_FIRMWARE, H_COMMAND = myo_gatt.NAME.handle, myo_gatt.FIRMWARE.handle, myo_gatt.COMMAND.handle
H_BATTERY, H_BATTERY_CCCD = myo_gatt.BATTERY.handle, myo_gatt.BATTERY.cccd
H_EMG50, H_EMG50_CCCD = myo_gatt.EMG50.handle, myo_gatt.EMG50.cccd
RAW_HANDLES = tuple(c.handle for c in myo_gatt.RAW)
RAW_CCCDS = tuple(c.cccd for c in myo_gatt.RAW)

log = logging.getLogger(__name__)

Generator = Callable[[np.ndarray], np.ndarray]

ERR_WRONG_STATE = 0x0181
ERR_NOT_CONNECTED = 0x0186
ERR_ATT_INVALID_HANDLE = 0x0401
REASON_LOCAL_TERMINATED = 0x0216


class BandNoise:
    """Deterministic band-limited noise, a function of host time: ``(n,) seconds -> (n, C) float``.

    Each channel is a sum of ``n_tones`` sinusoids with frequencies in ``band_hz`` and random phases,
    under a slow envelope (0.1..0.5 Hz), scaled to about ``rms`` counts: int8-sized surface EMG.
    """

    def __init__(self, seed: int = 0, n_channels: int = 8, band_hz: tuple[float, float] = (20.0, 95.0),
                 n_tones: int = 16, rms: float = 20.0):
        rng = np.random.default_rng(seed)
        self.freq = rng.uniform(*band_hz, size=(n_tones, n_channels))
        self.phase = rng.uniform(0.0, 2 * np.pi, size=(n_tones, n_channels))
        amp = rng.uniform(0.5, 1.5, size=(n_tones, n_channels))
        self.amp = amp * rms * np.sqrt(2.0 / (amp ** 2).sum(axis=0, keepdims=True))
        self.env_freq = rng.uniform(0.1, 0.5, size=n_channels)
        self.env_phase = rng.uniform(0.0, 2 * np.pi, size=n_channels)

    def __call__(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64).reshape(-1)
        x = (self.amp * np.sin(2 * np.pi * self.freq * t[:, None, None] + self.phase)).sum(axis=1)
        env = 1.0 + 0.5 * np.sin(2 * np.pi * self.env_freq * t[:, None] + self.env_phase)
        return x * env


class MyoEmulator(PtyEmulator):
    """BLED112 + Myo firmware on a pty. Use ``with MyoEmulator() as emu: MyoDriver(emu.port)``.

    generator: ``(n,) host seconds -> (n, 8) float``, about int8 scale (default :class:`BandNoise`).
    rate_error_ppm: the armband's crystal error; the true rate is nominal * (1 + ppm * 1e-6).
    battery_pct: value of the battery characteristic (0..100).
    advertising: False models an armband that is asleep or out of range (scans find only others).
    log_s: how many seconds of sent samples :meth:`sent_values` can return.
    raw_order: the four raw EMG handles in the order successive notifications use them (any
        permutation of 0x2b, 0x2e, 0x31, 0x34; no public reference guarantees the strict cycle), or
        "random": each notification on a random one of the four (no rotation at all).

    Faults (attributes, change them at any time): ``drop_prob`` (random single notifications lost,
    as on a radio link), ``wrong_read_handle`` (attribute reads answered with another handle's
    value event, so the host's read times out), ``emg_handle_offset`` (EMG notifications sent on
    handles shifted by this much: "streaming", but on handles the host does not know).
    """

    tick_s = 0.005
    scan_interval_s = 0.02

    def __init__(self, generator: Generator | None = None, *, seed: int = 0, rate_error_ppm: float = 0.0,
                 battery_pct: int = 87, name: str = "Myo", firmware: tuple[int, int, int, int] = (1, 5, 1970, 2),
                 advertising: bool = True, burst_sizes: tuple[int, ...] = (1, 2, 2, 3, 3, 4),
                 log_s: float = 120.0, raw_order: tuple[int, ...] | str = RAW_HANDLES):
        if raw_order != "random" and sorted(raw_order) != sorted(RAW_HANDLES):
            raise ValueError(f"raw_order must be a permutation of {[hex(h) for h in RAW_HANDLES]}, got {raw_order}")
        self.raw_order = raw_order if raw_order == "random" else tuple(raw_order)
        self.wrong_read_handle = False
        self.emg_handle_offset = 0
        self.generator = generator if generator is not None else BandNoise(seed)
        probe = np.asarray(self.generator(np.array([now()])))
        if probe.shape != (1, 8):
            raise ValueError(f"Myo emulator generator must return (n, 8) samples, got shape {probe.shape}")
        self.rate_error_ppm = float(rate_error_ppm)
        self.battery_pct = int(battery_pct)
        self.name = name
        self.firmware = firmware
        self.advertising = advertising
        self.burst_sizes = burst_sizes
        addr_rng = random.Random(seed + 7)
        self.address = bytes(addr_rng.randrange(256) for _ in range(6))
        self.commands: list[tuple[int, int, bytes]] = []  # (class, command, payload) received, for tests
        self.vibrations: list[int] = []
        self._log_len = int(log_s * 200)
        self._fw = threading.RLock()
        self._wake = threading.Event()
        self._epoch = 0
        self._burst_rng = random.Random(seed + 11)
        self._cmd_parser = BgapiParser(bgapi.TO_DEVICE)
        self._origin: float | None = None   # host time of sample 0 of the current stream
        self._origin_rate = 0.0
        self._next = 0                      # stream index of the next sample to take
        self._log = np.zeros((self._log_len, 8), dtype=np.int8)
        self._hold_until = 0.0
        self._drop_next = 0
        self._log_index = np.full(self._log_len, -1, dtype=np.int64)
        self._power_on()
        super().__init__(name="myo", seed=seed)
        self._stream_thread: threading.Thread | None = None
        self._scan_due = 0.0
        self._scan_toggle = False

    # -- state ---------------------------------------------------------------------------------
    def _power_on(self) -> None:
        with self._fw:
            self.connected = False
            self.discovering = False
            self.emg_mode = 0
            self.imu_mode = 0
            self.sleep_mode = 0
            self.cccd: dict[int, int] = {}
            self._changed()

    def _changed(self) -> None:
        """Any firmware state change: the stream thread re-plans its next burst."""
        self._epoch += 1
        self._wake.set()

    def on_plug(self) -> None:
        self._cmd_parser.reset()
        self._power_on()

    def on_unplug(self) -> None:
        self._power_on()

    @property
    def streaming(self) -> bool:
        return self.connected and self.emg_mode in (EMG_MODE_RAW, EMG_MODE_FILTERED, EMG_MODE_50HZ)

    @property
    def stream_rate_hz(self) -> float:
        """Nominal rate of the current (or last) stream: 200 raw, 50 smoothed."""
        return 50.0 if self.emg_mode == EMG_MODE_50HZ else 200.0

    # -- ground truth --------------------------------------------------------------------------
    def truth_times(self, first_index: int, n: int) -> np.ndarray:
        """(n,) float64 host seconds at which stream samples first_index.. were taken."""
        if self._origin is None:
            raise RuntimeError("the Myo emulator has not streamed yet")
        k = np.arange(first_index, first_index + n, dtype=np.float64)
        return self._origin + k / self._origin_rate

    @property
    def n_generated(self) -> int:
        """Stream index of the next sample the firmware takes (samples produced in this stream)."""
        return self._next

    @property
    def log_bytes_per_sample(self) -> int:
        """Bytes the sent-sample log gains per sample until it wraps (log_s): its zero-filled value
        ring takes memory page by page as samples are written (the index ring is filled up front)."""
        return self._log.itemsize * 8

    def sent_values(self, first_index: int, n: int) -> np.ndarray:
        """(n, 8) exact values the firmware produced for stream samples first_index.. (int8 raw,
        uint16 smoothed), whether or not a fault then dropped them. KeyError if any is not logged
        (never produced, or older than ``log_s``)."""
        with self._fw:
            idx = np.arange(first_index, first_index + n)
            rows = idx % self._log_len
            if n and not np.array_equal(self._log_index[rows], idx):
                raise KeyError(f"samples {first_index}..{first_index + n - 1} are not in the emulator log")
            return self._log[rows].copy()

    def _new_stream(self, t: float) -> None:
        """Start streaming at host time t; the index stays a function of time within one mode."""
        rate = self.stream_rate_hz * (1.0 + self.rate_error_ppm * 1e-6)
        if self._origin is None or rate != self._origin_rate:
            self._origin, self._origin_rate, self._next = t, rate, 0
            dtype = np.uint16 if self.emg_mode == EMG_MODE_50HZ else np.int8
            self._log = np.zeros((self._log_len, 8), dtype=dtype)
            self._log_index = np.full(self._log_len, -1, dtype=np.int64)
        else:
            nxt = max(self._next, math.ceil((t - self._origin) * self._origin_rate))
            if self.emg_mode != EMG_MODE_50HZ:
                nxt += nxt % 2  # raw notifications start on even samples
            self._next = nxt

    # -- host commands -----------------------------------------------------------------------------
    def on_command(self, buf: bytes) -> bytes:
        for p in self._cmd_parser.feed(buf):
            self.commands.append((p.cls, p.cmd, p.payload))
            self._handle(p)
        return b""  # the parser keeps incomplete tails itself

    def _respond(self, key: tuple[int, int], payload: bytes) -> None:
        self.write(bgapi.encode(bgapi.RESPONSE, key[0], key[1], payload))

    def _event(self, key: tuple[int, int], payload: bytes) -> None:
        self.write(bgapi.event(key, payload))

    def _handle(self, p: Packet) -> None:
        key, pl = p.key(), p.payload
        with self._fw:
            if key == bgapi.CMD_SYSTEM_HELLO:
                self._respond(key, b"")
            elif key == bgapi.CMD_SYSTEM_GET_CONNECTIONS:
                self._respond(key, b"\x03")
                if self.connected:
                    self._event(bgapi.EVT_CONNECTION_STATUS, self._status_payload())
            elif key == bgapi.CMD_CONNECTION_DISCONNECT:
                conn = pl[0]
                if self.connected and conn == 0:
                    # State first, then the bytes: a host that acts on the response must already
                    # see the link down (the real dongle's order on the wire is the same).
                    self._disconnect(respond=lambda: self._respond(key, struct.pack("<BH", conn, 0)))
                else:
                    self._respond(key, struct.pack("<BH", conn, ERR_NOT_CONNECTED))
            elif key == bgapi.CMD_GAP_DISCOVER:
                ok = not self.connected and not self.discovering
                self._respond(key, struct.pack("<H", 0 if ok else ERR_WRONG_STATE))
                if ok:
                    self.discovering = True
                    self._scan_due = now()
            elif key == bgapi.CMD_GAP_END_PROCEDURE:
                self._respond(key, struct.pack("<H", 0 if self.discovering else ERR_WRONG_STATE))
                self.discovering = False
            elif key == bgapi.CMD_GAP_CONNECT_DIRECT:
                if self.connected or self.discovering:
                    self._respond(key, struct.pack("<HB", ERR_WRONG_STATE, 0))
                    return
                self._respond(key, struct.pack("<HB", 0, 0))
                # A connection to an address that is not advertising never completes (the host
                # must time out and end the procedure), as on the real dongle.
                if pl[:6] == self.address and self.advertising:
                    self.connected = True
                    self._event(bgapi.EVT_CONNECTION_STATUS, self._status_payload())
                    self._changed()
            elif key == bgapi.CMD_ATTCLIENT_READ_BY_HANDLE:
                conn, handle = struct.unpack("<BH", pl)
                if not self.connected:
                    self._respond(key, struct.pack("<BH", conn, ERR_NOT_CONNECTED))
                    return
                self._respond(key, struct.pack("<BH", conn, 0))
                value = self._read(handle)
                if value is None:
                    self._event(bgapi.EVT_ATTCLIENT_PROCEDURE_COMPLETED,
                                struct.pack("<BHH", conn, ERR_ATT_INVALID_HANDLE, handle))
                else:
                    answer = handle + 1 if self.wrong_read_handle else handle
                    self.write(bgapi.attribute_value_event(conn, answer, value, att_type=0))
            elif key == bgapi.CMD_ATTCLIENT_ATTRIBUTE_WRITE:
                conn, handle, n = struct.unpack_from("<BHB", pl)
                if not self.connected:
                    self._respond(key, struct.pack("<BH", conn, ERR_NOT_CONNECTED))
                    return
                self._respond(key, struct.pack("<BH", conn, 0))
                result = self._write_attr(handle, pl[4:4 + n])
                self._event(bgapi.EVT_ATTCLIENT_PROCEDURE_COMPLETED, struct.pack("<BHH", conn, result, handle))

    def _status_payload(self) -> bytes:
        # connection, flags (connected | completed), address, type, interval 6 (7.5 ms), timeout, latency, bonding
        return struct.pack("<BB6sBHHHB", 0, 0x05, self.address, 0, 6, 64, 0, 0xFF)

    def _disconnect(self, respond=None) -> None:
        self.connected = False
        self.emg_mode = 0
        self.cccd.clear()
        if respond is not None:
            respond()
        self._event(bgapi.EVT_CONNECTION_DISCONNECTED, struct.pack("<BH", 0, REASON_LOCAL_TERMINATED))
        self._changed()

    def _read(self, handle: int) -> bytes | None:
        if handle == H_FIRMWARE:
            return struct.pack("<4H", *self.firmware)
        if handle == H_NAME:
            return self.name.encode()
        if handle == H_BATTERY:
            return bytes([self.battery_pct])
        return None

    def _write_attr(self, handle: int, data: bytes) -> int:
        if handle in RAW_CCCDS or handle in (H_EMG50_CCCD, H_BATTERY_CCCD, 0x1D, 0x24):
            if len(data) != 2:
                return 0x040D  # ATT invalid attribute value length
            self.cccd[handle] = data[0]
            return 0
        if handle != H_COMMAND:
            return ERR_ATT_INVALID_HANDLE
        if len(data) < 2 or data[1] != len(data) - 2:
            return 0x040D
        cmd = data[0]
        if cmd == 0x01 and len(data) == 5:       # set mode: emg, imu, classifier
            self.emg_mode, self.imu_mode = data[2], data[3]
            if self.streaming:
                self._new_stream(now())
            self._changed()
        elif cmd == 0x03 and len(data) == 3:     # vibrate
            self.vibrations.append(data[2])
        elif cmd == 0x09 and len(data) == 3:     # sleep mode (0 normal, 1 never sleep)
            self.sleep_mode = data[2]
        elif cmd == 0x04:                        # deep sleep: the armband drops the link
            self.advertising = False
            self._disconnect()
        else:
            return 0x0480  # application error: unknown Myo command
        return 0

    def set_battery(self, pct: int) -> None:
        """Change the battery level; notifies the host when it subscribed (CCCD 0x12)."""
        with self._fw:
            self.battery_pct = int(pct)
            if self.connected and self.cccd.get(H_BATTERY_CCCD):
                self.write(bgapi.attribute_value_event(0, H_BATTERY, bytes([self.battery_pct])))

    def stall(self, seconds: float) -> None:
        """Hold notifications back for ``seconds`` (BLE retransmissions under interference), then
        deliver the backlog at once: data is late, none is lost."""
        with self._fw:
            self._hold_until = now() + seconds
            self._changed()

    def fade(self, n_notifications: int) -> None:
        """Lose the next ``n_notifications`` notifications (a radio fade that the link gives up on)."""
        with self._fw:
            self._drop_next += int(n_notifications)

    # -- scanning (base tick) ----------------------------------------------------------------------
    def tick(self) -> None:
        t = now()
        with self._fw:
            if not self.discovering or t < self._scan_due:
                return
            self._scan_due = t + self.scan_interval_s
            self._scan_toggle = not self._scan_toggle
            if self._scan_toggle:  # some other BLE device nearby: flags, battery service, name
                addr, rssi = bytes([0x11, 0x22, 0x33, 0x44, 0x55, 0x66]), -70
                adv = bytes.fromhex("020106 03030f18") + b"\x05\x09band"
            elif self.advertising:  # flags, then the Myo control-service UUID
                addr, rssi = self.address, -50
                adv = bytes.fromhex("020106") + bytes([len(MYO_SERVICE_AD)]) + MYO_SERVICE_AD
            else:
                return
            payload = struct.pack("<bB6sBBB", rssi, 0, addr, 0, 0xFF, len(adv)) + adv
            self.write(bgapi.event(bgapi.EVT_GAP_SCAN_RESPONSE, payload))

    # -- streaming thread -------------------------------------------------------------------------
    def start(self) -> "MyoEmulator":
        super().start()
        self._stream_thread = threading.Thread(target=self._stream_loop, name="MyoEmulator-stream", daemon=True)
        self._stream_thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._stream_thread is not None:
            self._stream_thread.join(2.0)
        super().close()

    def _stream_loop(self) -> None:
        try:
            while not self._stop.is_set():
                with self._fw:
                    epoch = self._epoch
                    self._wake.clear()
                    burst = self._plan_burst() if self.streaming else None
                if burst is None:
                    self._wake.wait()
                    continue
                first, x, packets, t_send = burst
                t_send = max(t_send, self._hold_until)
                delay = t_send - now()
                if delay > 0 and self._wake.wait(delay):
                    continue  # the firmware state changed; plan again
                with self._fw:
                    if epoch != self._epoch or self._stop.is_set():
                        continue
                    rows = np.arange(first, first + len(x)) % self._log_len
                    self._log[rows] = x
                    self._log_index[rows] = np.arange(first, first + len(x))
                    self._next = first + len(x)
                    if self._drop_next and packets:
                        k = min(self._drop_next, len(packets))
                        self._drop_next -= k
                        self.faults["dropped"] += k
                        packets = packets[k:]
                for pkt in packets:
                    self.send_data(pkt)
        except Exception:  # surface emulator bugs in the test log instead of a silent dead stream
            log.exception("Myo emulator stream thread crashed")
            raise

    def _plan_burst(self) -> tuple[int, np.ndarray, list[bytes], float]:
        """The next burst: (first index, (n, 8) values, notification packets, host time to send).
        Values are computed before the wait so that the burst leaves as soon as its last sample
        is taken; they are a function of the sample times, so computing early changes nothing."""
        raw = self.emg_mode != EMG_MODE_50HZ
        n_notes = self._burst_rng.choice(self.burst_sizes)
        first = self._next
        n = n_notes * (2 if raw else 1)
        t = self.truth_times(first, n)
        g = np.asarray(self.generator(t), dtype=np.float64)
        if raw:
            x = np.clip(np.rint(g), -128, 127).astype(np.int8)
        else:
            # Smoothed mode: rectified mean over the 20 ms each sample covers (4 sub-samples at 200 Hz).
            sub = t[:, None] - np.arange(4)[None, :] / 200.0
            r = np.abs(np.asarray(self.generator(sub.reshape(-1)), dtype=np.float64)).reshape(n, 4, 8).mean(axis=1)
            x = np.clip(np.rint(r * 4.0), 0, 65535).astype(np.uint16)
        packets = []
        if raw:
            for s in range(0, n, 2):
                if self.raw_order == "random":
                    handle = self._burst_rng.choice(RAW_HANDLES)
                else:
                    handle = self.raw_order[(first + s) // 2 % 4]
                if self.cccd.get(handle + 1):
                    packets.append(bgapi.attribute_value_event(0, handle + self.emg_handle_offset,
                                                               x[s:s + 2].tobytes()))
        elif self.cccd.get(H_EMG50_CCCD):
            for s in range(n):
                packets.append(bgapi.attribute_value_event(0, H_EMG50 + self.emg_handle_offset,
                                                           x[s].astype("<u2").tobytes() + b"\x00"))
        return first, x, packets, float(t[-1])
