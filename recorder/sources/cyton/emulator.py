"""OpenBCI Cyton firmware emulator on a pty: the real :class:`~recorder.sources.cyton.driver.CytonDriver`
talks to it through pyserial.

Ground truth. The emulated ADC samples on one grid that starts at the first ``b``:
sample ``g`` (the *stream index*) is taken at ``t_stream_start + g / true_rate_hz``, whether or not
it is sent. Stopping, soft resets and unplugging only decide which samples go out; the 8-bit sample
number in a packet counts from 0 at the first sample after each reset (``v`` or power-on), as the
firmware does. Every generated sample is logged by stream index (counts, delivered or not), so
tests can check a driver's values and times exactly.

Packets are encoded here independently of the driver's decoder (byte facts: PROTOCOLS.md).
"""

from __future__ import annotations

import math
import threading
from typing import Callable

import numpy as np

from recorder.sources.cyton.driver import ACCEL_SCALE_G, N_CHANNELS, SCALE_TO_UV
from recorder.sources.pty_port import PtyEmulator, host_now

NOMINAL_RATE_HZ = 250.0
#: Microvolts per ADC count at gain 24: the driver's scale, defined once (sources/cyton/driver.py).
UV_PER_COUNT = SCALE_TO_UV
#: Accelerometer counts per g (the driver's g per count, inverted).
ACCEL_COUNTS_PER_G = 1 / ACCEL_SCALE_G
BANNER = (b"OpenBCI V3 8-16 channel\n"
          b"On Board ADS1299 Device ID: 0x3E\n"
          b"LIS3DH Device ID: 0x33\n"
          b"Firmware: v3.1.2\n"
          b"$$$")

Generator = Callable[[np.ndarray], np.ndarray]


class BandLimitedEmg:
    """Deterministic EMG-like noise as a function of host time: ``(n,) s -> (n, C) microvolts``.

    A sum of ``n_tones`` sinusoids per channel with random frequencies in ``band_hz`` (below the
    125 Hz Nyquist limit of 250 Hz sampling) and random phases, amplitude-modulated by a slow
    envelope (0.2-0.6 Hz) so activity waxes and wanes. Channel RMS lies within x0.5..x1.5 of
    ``rms_uV``. The same t always gives the same values.
    """

    def __init__(self, n_channels: int = N_CHANNELS, seed: int = 0, rms_uV: float = 60.0,
                 band_hz: tuple[float, float] = (20.0, 120.0), n_tones: int = 24):
        rng = np.random.default_rng(seed)
        c, k = n_channels, n_tones
        self.freq = rng.uniform(band_hz[0], band_hz[1], (c, k))
        self.phase = rng.uniform(0.0, 2 * np.pi, (c, k))
        amp = rng.rayleigh(1.0, (c, k))
        amp *= np.sqrt(2.0 / (amp**2).sum(axis=1, keepdims=True))  # unit RMS per channel
        self.amp = amp * (rms_uV * rng.uniform(0.5, 1.5, (c, 1)))
        self.env_freq = rng.uniform(0.2, 0.6, c)
        self.env_phase = rng.uniform(0.0, 2 * np.pi, c)

    def __call__(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64).reshape(-1)
        # Reduce t modulo a long period first so huge monotonic times keep full phase precision.
        tt = np.mod(t, 1000.0)[:, None, None]
        x = (self.amp * np.sin(2 * np.pi * self.freq * tt + self.phase)).sum(axis=-1)
        env = 0.4 + 0.6 * np.sin(2 * np.pi * self.env_freq * tt[:, :, 0] + self.env_phase) ** 2
        return x * env * 1.25  # 1.25 keeps the overall RMS near rms_uV under the envelope


class CytonEmulator(PtyEmulator):
    """Emulated Cyton board + dongle.

    generator: ``f(t_host (n,) float64 s) -> (n, 8) float microvolts``; default :class:`BandLimitedEmg`.
    rate_error_ppm: the crystal's error; the true rate is 250 * (1 + ppm * 1e-6) Hz.
    answer: False makes a mute device (ignores every command), for "wrong device" tests.
    frozen: set True to hang the firmware (no data, commands ignored) with the port still present.
    counter_stuck: set True to freeze the sample number at its current value (a firmware that
        streams but stops counting: every later packet repeats one sample number) until the next
        soft reset or power cycle.

    Commands: ``v`` soft reset (stops, counter to 0, banner ending ``$$$``), ``b`` start, ``s``
    stop, ``1``-``8`` / ``!@#$%^&*`` channel off / on (an off channel sends zeros), ``d`` default
    channel settings, ``D`` query defaults, ``x...X`` / ``z...Z`` / ``~N`` settings (accepted, ignored);
    anything else is accepted and ignored. All received commands are kept in :attr:`commands`.
    """

    idle_tick_s = 0.005
    block_samples = 25  # samples generated and encoded ahead (100 ms)

    @property
    def tick_s(self) -> float:
        """Wake up when the next sample is due, so each packet leaves as soon as it is sampled (as
        the firmware does); a fixed tick would add a constant, unremovable latency of up to one
        tick to every sample. The 20 us margin avoids waking just before the sample is due."""
        if not self._streaming:
            return self.idle_tick_s
        return min(self.idle_tick_s, max(5e-5, self._next_due_t - self._tick_t + 2e-5))

    def __init__(self, generator: Generator | None = None, *, seed: int = 0,
                 rate_error_ppm: float = 0.0, answer: bool = True, name: str = "ttyUSB-cyton",
                 log_s: float = 16.0):
        # Set before PtyEmulator.__init__, which plugs in (on_plug) at its end.
        self.generator: Generator = generator if generator is not None else BandLimitedEmg(seed=seed)
        self.rate_error_ppm = float(rate_error_ppm)
        self.true_rate_hz = NOMINAL_RATE_HZ * (1.0 + self.rate_error_ppm * 1e-6)
        self.answer = answer
        self.frozen = False
        self.counter_stuck = False
        self._stuck_sn: int | None = None
        self.t_stream_start: float | None = None
        self.commands: list[str] = []
        self._commands_cond = threading.Condition()
        self.channel_on = np.ones(N_CHANNELS, dtype=bool)
        self._streaming = False
        self._tick_t = 0.0             # host time of the last tick
        self._next_due_t = 0.0         # host time at which sample _g_next is taken
        self._g_next = 0               # next stream index to send
        self._counter_origin: int | None = None  # stream index that gets sample number 0
        self._log_lock = threading.Lock()
        # Firmware state is touched by the emulator thread (tick, commands) and by whoever calls
        # unplug()/replug(); one lock keeps a tick from seeing half a power cycle.
        self._fw_lock = threading.RLock()
        # The exact log grows (doubling) past log_s seconds; a long soak preallocates it so that the
        # copies a doubling makes do not show up in its memory figures.
        cap = max(4096, int(log_s * NOMINAL_RATE_HZ))
        self._counts = np.zeros((cap, N_CHANNELS), np.int32)
        self._delivered = np.zeros(cap, bool)
        self._generated = np.zeros(cap, bool)
        self._n_log = 0
        self._setting: bytearray | None = None
        self._block: tuple[int, np.ndarray, np.ndarray] | None = None  # (g0, counts, packets)
        super().__init__(name=name, seed=seed)

    # -- ground truth ----------------------------------------------------------------------------
    @property
    def streaming(self) -> bool:
        return self._streaming

    def truth_times(self, first_index: int, n: int) -> np.ndarray:
        """(n,) host seconds at which stream samples first_index .. first_index + n - 1 were taken."""
        if self.t_stream_start is None:
            raise RuntimeError("the emulator has not streamed yet")
        g = np.arange(first_index, first_index + n, dtype=np.float64)
        return self.t_stream_start + g / self.true_rate_hz

    def sent_counts(self, first_index: int, n: int) -> np.ndarray:
        """(n, 8) int32 counts the firmware produced for those stream indices (exact log).
        Raises IndexError for samples it never produced (not streaming, unplugged)."""
        with self._log_lock:
            if first_index < 0 or first_index + n > self._n_log or not self._generated[first_index:first_index + n].all():
                raise IndexError(f"stream samples {first_index}..{first_index + n - 1} were not generated")
            return self._counts[first_index:first_index + n].copy()

    def delivered(self, first_index: int, n: int) -> np.ndarray:
        """(n,) bool: the sample's packet left intact (not dropped or truncated, port plugged)."""
        with self._log_lock:
            out = np.zeros(n, bool)
            lo, hi = max(first_index, 0), min(first_index + n, self._n_log)
            if hi > lo:
                out[lo - first_index:hi - first_index] = self._delivered[lo:hi]
            return out

    def wait_command(self, command: str, count: int = 1, timeout: float = 2.0) -> bool:
        """Wait until ``command`` has been received ``count`` times in all; False on timeout."""
        with self._commands_cond:
            return self._commands_cond.wait_for(lambda: self.commands.count(command) >= count, timeout)

    @property
    def log_bytes_per_sample(self) -> int:
        """Bytes the ground-truth log gains per stream sample (counts, delivered, generated): its
        zero-filled arrays take memory page by page as samples are written."""
        return self._counts.itemsize * N_CHANNELS + 2

    @property
    def n_generated(self) -> int:
        """One past the highest stream index produced so far."""
        return self._n_log

    # -- firmware --------------------------------------------------------------------------------
    def on_plug(self) -> None:
        self._power_on()

    def on_unplug(self) -> None:
        self._power_on()

    def _power_on(self) -> None:
        with self._fw_lock:
            self._reset_state()

    def _reset_state(self) -> None:
        self.counter_stuck = False
        self._streaming = False
        self._counter_origin = None
        self.channel_on[:] = True
        self._setting = None
        self._block = None

    def on_command(self, buf: bytes) -> bytes:
        if not self.answer or self.frozen:
            return b""
        # Waiters see a command only once its effect is in place (wait_command, then check state).
        with self._commands_cond, self._fw_lock:
            self._handle_commands(buf)
            self._commands_cond.notify_all()
        return b""

    def _handle_commands(self, buf: bytes) -> None:
        for c in buf.decode("latin-1"):
            if self._setting is not None:  # inside x...X, z...Z or ~N: swallow until it ends
                self._setting.append(ord(c))
                if c in "XZ" or self._setting[0] == ord("~"):
                    self.commands.append(self._setting.decode("latin-1"))
                    self._setting = None
                continue
            if c not in "xz~":
                self.commands.append(c)
            if c == "v":
                self._power_on()
                self.write(BANNER)
            elif c == "b":
                self._start_stream()
            elif c == "s":
                self._streaming = False
            elif c in "12345678":
                self.channel_on[int(c) - 1] = False
                self._block = None
            elif c in "!@#$%^&*":
                self.channel_on["!@#$%^&*".index(c)] = True
                self._block = None
            elif c == "d":
                self.channel_on[:] = True
                self._block = None
                self.write(b"updating channel settings to default$$$")
            elif c == "D":
                self.write(b"060110$$$")
            elif c in "xz~":
                self._setting = bytearray(c.encode())

    def _start_stream(self) -> None:
        t = host_now()
        if self.t_stream_start is None:
            self.t_stream_start = t
            self._g_next = 0
        else:  # resume on the same sampling grid, at the first sample after now
            self._g_next = max(self._g_next, math.ceil((t - self.t_stream_start) * self.true_rate_hz))
        if self._counter_origin is None:
            self._counter_origin = self._g_next
        self._tick_t = t
        self._next_due_t = self.t_stream_start + self._g_next / self.true_rate_hz
        self._streaming = True

    def tick(self) -> None:
        with self._fw_lock:
            self._tick()

    def _tick(self) -> None:
        if not self._streaming or self.frozen:
            return
        self._tick_t = t = host_now()
        g_due = math.floor((t - self.t_stream_start) * self.true_rate_hz) + 1
        g0 = self._g_next
        n = g_due - g0
        if n <= 0:
            return
        self._g_next = g_due
        self._next_due_t = self.t_stream_start + g_due / self.true_rate_hz
        blk = self._block
        if blk is None or not (blk[0] <= g0 and g_due <= blk[0] + len(blk[1])):
            blk = self._make_block(g0, max(n, self.block_samples))
        i = g0 - blk[0]
        counts, packets = blk[1][i:i + n], blk[2][i:i + n]
        sent = np.zeros(n, bool)
        for k in range(n):
            before = self.faults["dropped"] + self.faults["truncated"] + self.faults["garbled"]
            pkt = packets[k].tobytes()
            repeated = False
            if self.counter_stuck:
                if self._stuck_sn is None:
                    self._stuck_sn = pkt[1]
                repeated = pkt[1] != self._stuck_sn
                pkt = pkt[:1] + bytes([self._stuck_sn]) + pkt[2:]
            else:
                self._stuck_sn = None
            self.send_data(pkt)
            sent[k] = (self.plugged and not repeated
                       and self.faults["dropped"] + self.faults["truncated"] + self.faults["garbled"] == before)
        self._log(g0, counts, sent)
        if g_due >= blk[0] + len(blk[1]):  # prepare the next block now, while nothing is due
            self._make_block(g_due, self.block_samples)

    def _make_block(self, g0: int, n: int) -> tuple[int, np.ndarray, np.ndarray]:
        """Sample and encode stream indices g0 .. g0 + n - 1 ahead of time, so a packet leaves
        the moment it is due instead of after the generator and encoder have run."""
        uv = np.asarray(self.generator(self.truth_times(g0, n)), dtype=np.float64)
        if uv.shape != (n, N_CHANNELS):
            raise ValueError(f"Cyton emulator generator returned shape {uv.shape}, expected {(n, N_CHANNELS)}")
        counts = np.clip(np.rint(uv / UV_PER_COUNT), -(2**23), 2**23 - 1).astype(np.int32)
        counts[:, ~self.channel_on] = 0
        self._block = (g0, counts, self._encode(g0, counts))
        return self._block

    def _encode(self, g0: int, counts: np.ndarray) -> np.ndarray:
        """(n, 8) int32 counts for stream indices g0.. -> (n, 33) uint8 packets."""
        n = counts.shape[0]
        g = np.arange(g0, g0 + n)
        pk = np.zeros((n, 33), np.uint8)
        pk[:, 0] = 0xA0
        pk[:, 1] = (g - self._counter_origin) & 0xFF
        u = counts.astype(np.int64) & 0xFFFFFF
        ch = pk[:, 2:26].reshape(n, N_CHANNELS, 3)
        ch[..., 0], ch[..., 1], ch[..., 2] = u >> 16, (u >> 8) & 0xFF, u & 0xFF
        # Accelerometer at 25 Hz (every 10th sample), zeros in between, as the firmware does.
        acc = g % 10 == 0
        if acc.any():
            t = self.truth_times(g0, n)[acc]
            xyz = np.stack([0.05 * np.sin(0.7 * t), 0.05 * np.cos(0.5 * t), np.ones_like(t)], axis=1)
            a = np.rint(xyz * ACCEL_COUNTS_PER_G).astype(">i2")
            pk[acc, 26:32] = a.view(np.uint8).reshape(-1, 6)
        pk[:, 32] = 0xC0
        return pk

    def _log(self, g0: int, counts: np.ndarray, sent: np.ndarray) -> None:
        n = counts.shape[0]
        with self._log_lock:
            need = g0 + n
            if need > self._counts.shape[0]:
                cap = max(need, 2 * self._counts.shape[0])
                self._counts = np.resize(self._counts, (cap, N_CHANNELS))
                self._counts[self._n_log:] = 0
                self._delivered = np.concatenate([self._delivered[:self._n_log], np.zeros(cap - self._n_log, bool)])
                self._generated = np.concatenate([self._generated[:self._n_log], np.zeros(cap - self._n_log, bool)])
            self._counts[g0:need] = counts
            self._delivered[g0:need] = sent
            self._generated[g0:need] = True
            self._n_log = max(self._n_log, need)
