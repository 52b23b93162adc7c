"""A serial port faked with ``pty.openpty()``, so tests and the demo run the real driver through pyserial.

The port is exposed as a stable symlink path (``.port``) pointing at the current pty slave. Unplugging
closes the master (the driver's reads fail the way a pulled USB dongle's do) and removes the link;
replugging opens a fresh pty and re-points the link, so a driver that reopens ``.port`` reconnects.

Subclasses implement the firmware: :meth:`on_command` for host bytes and :meth:`tick` to stream.
Faults are injected with :meth:`inject_garbage`, :attr:`drop_prob`, :meth:`unplug`, :meth:`replug`,
and :attr:`burst_every` (hold packets back and send them at once).
"""

from __future__ import annotations

import errno
import os
import pty
import random
import select
import tempfile
import threading
import time
import tty
from pathlib import Path

from recorder.core.clock import now


_DIR_PREFIX = "emgrec-emu-"


def _remove_stale_dirs() -> int:
    """Remove port folders (``emgrec-emu-PID-*``, a symlink at most) of emulator processes that no
    longer exist, e.g. killed with SIGKILL, which no cleanup code survives. Returns how many."""
    removed = 0
    for d in Path(tempfile.gettempdir()).glob(f"{_DIR_PREFIX}*-*"):
        pid = d.name[len(_DIR_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # alive (or another user's: EPERM below)
        except ProcessLookupError:
            pass
        except (PermissionError, OSError):
            continue
        try:
            if d.is_dir() and not d.is_symlink() and d.stat().st_uid == os.getuid():
                for entry in d.iterdir():  # only our port links live here
                    if entry.is_symlink() or entry.is_file():
                        entry.unlink()
                d.rmdir()
                removed += 1
        except OSError:
            pass
    return removed


class PtyEmulator:
    """Base firmware emulator. ``tick()`` is called every ``tick_s`` seconds on the emulator thread."""

    tick_s = 0.005

    def __init__(self, name: str = "tty", seed: int = 0):
        _remove_stale_dirs()
        # The pid in the name lets a later emulator remove this folder if we are SIGKILLed.
        self._dir = Path(tempfile.mkdtemp(prefix=f"{_DIR_PREFIX}{os.getpid()}-"))
        self.port = str(self._dir / name)
        self.rng = random.Random(seed)
        self.drop_prob = 0.0          # probability of silently dropping a data packet
        self.garbage_prob = 0.0       # probability of inserting random bytes before a data packet
        self.duplicate_prob = 0.0     # probability of sending a data packet twice
        self.truncate_prob = 0.0      # probability of sending only part of a data packet
        self.garbage_only = False     # send random bytes instead of every data packet (100 % garbage)
        self.jitter_s = 0.0           # data leaves in batches 0..jitter_s apart (a USB latency timer)
        self._delayed: list[bytes] = []
        self._release_t = 0.0
        self.burst_every = 1          # send data packets in bursts of this many
        self.faults = {"dropped": 0, "garbage": 0, "duplicated": 0, "truncated": 0, "unplugs": 0,
                       "garbled": 0}
        self._pending: list[bytes] = []
        self._master: int | None = None
        self._slave: int | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._plug()

    # -- plumbing --------------------------------------------------------------------------------
    def _plug(self) -> None:
        master, slave = pty.openpty()
        tty.setraw(slave)  # no echo, no line discipline: bytes pass unchanged
        os.set_blocking(master, False)
        tmp = self.port + ".new"
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.port)
        with self._lock:
            self._master, self._slave = master, slave
        self.on_plug()

    def unplug(self) -> None:
        """Pull the plug: the port vanishes and the driver's I/O fails."""
        with self._lock:
            master, slave = self._master, self._slave
            self._master = self._slave = None
            self._pending.clear()
            self._delayed.clear()
        self.faults["unplugs"] += 1
        try:
            os.unlink(self.port)
        except FileNotFoundError:
            pass
        for fd in (master, slave):
            if fd is not None:
                os.close(fd)
        self.on_unplug()

    def replug(self) -> None:
        """Plug back in; the firmware restarts as after a power cycle."""
        if self._master is None:
            self._plug()

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def start(self) -> "PtyEmulator":
        self._thread = threading.Thread(target=self._loop, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        if self._master is not None:
            self.unplug()
        try:
            os.rmdir(self._dir)
        except OSError:
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def _loop(self) -> None:
        buf = b""
        next_tick = time.monotonic()
        while not self._stop.is_set():
            master = self._master
            timeout = max(0.0, next_tick - time.monotonic())
            if self._delayed:
                timeout = min(timeout, max(0.0, self._release_t - time.monotonic()))
            if master is None:
                self._stop.wait(timeout or self.tick_s)
                next_tick = time.monotonic() + self.tick_s
                continue
            try:
                r, _, _ = select.select([master], [], [], timeout)
                if r:
                    data = os.read(master, 4096)
                    if data:
                        buf = self.on_command(buf + data)
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EIO, errno.EBADF):
                    raise
            if self._delayed:
                self._flush_delayed()
            if time.monotonic() >= next_tick:
                self.tick()
                next_tick += self.tick_s
                if next_tick < time.monotonic() - 0.5:  # we were starved; do not spin to catch up
                    next_tick = time.monotonic() + self.tick_s

    def write(self, data: bytes) -> None:
        """Send raw bytes to the host (no faults applied)."""
        with self._lock:
            master = self._master
            if master is None:
                return
            view = memoryview(data)
            while view:
                try:
                    n = os.write(master, view)
                    view = view[n:]
                except BlockingIOError:
                    # Host is not reading: a real USB CDC device would NAK; wait briefly.
                    select.select([], [master], [], 0.05)
                except OSError:
                    return

    def send_data(self, packet: bytes) -> None:
        """Send one data packet through the fault injector (drop, garbage, duplicate, truncate, burst)."""
        rng = self.rng
        if self.garbage_only:
            self.faults["garbled"] += 1
            packet = bytes(rng.randrange(256) for _ in range(len(packet)))
        elif self.drop_prob and rng.random() < self.drop_prob:
            self.faults["dropped"] += 1
            return
        out = []
        if self.garbage_prob and rng.random() < self.garbage_prob:
            self.faults["garbage"] += 1
            out.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))))
        if self.truncate_prob and rng.random() < self.truncate_prob:
            self.faults["truncated"] += 1
            out.append(packet[: rng.randrange(1, len(packet))])
        else:
            out.append(packet)
            if self.duplicate_prob and rng.random() < self.duplicate_prob:
                self.faults["duplicated"] += 1
                out.append(packet)
        self._pending.append(b"".join(out))
        if len(self._pending) >= self.burst_every:
            data, self._pending = b"".join(self._pending), []
            if self.jitter_s or self._delayed:
                self._delayed.append(data)
                self._flush_delayed()
            else:
                self.write(data)

    def _flush_delayed(self) -> None:
        """Release the held data at the next of a series of instants 0..jitter_s apart: each
        packet waits a random, stationary time (the same before and after an unplug)."""
        t = time.monotonic()
        if t < self._release_t:
            return
        data, self._delayed = b"".join(self._delayed), []
        self._release_t = max(self._release_t, t - self.jitter_s) + self.rng.uniform(0.0, self.jitter_s)
        self.write(data)

    # -- firmware hooks ---------------------------------------------------------------------------
    def on_command(self, buf: bytes) -> bytes:
        """Handle host bytes; return the unconsumed remainder."""
        return b""

    def tick(self) -> None:
        """Called every tick_s; stream data with :meth:`send_data` here."""

    def on_plug(self) -> None:
        """Firmware power-on state."""

    def on_unplug(self) -> None:
        """Firmware lost power."""


def host_now() -> float:
    """The host clock the emulators use for ground-truth sample times (same as recorder.core.clock.now)."""
    return now()
