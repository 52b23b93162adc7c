"""One writer per session file: an OS-level lock held for as long as anything writes the file.

The lock is ``fcntl.flock`` on a sidecar file next to the session (``.NAME.h5.lock``), not on the
session itself: HDF5 takes its own ``flock`` on the file (exclusive while creating it, then
released once SWMR writing starts so that readers can open it), and flock locks taken through
different open files conflict even inside one process, so a lock of ours on the ``.h5`` would
make HDF5 refuse to open it for us and for every reader. The sidecar lock does not touch the
HDF5 file at all: a SWMR reader (Review, ``emgrec info``) opens a file being recorded as before.

The kernel drops a flock when its holder dies (SIGKILL, power loss of the process), so a stale
sidecar left by a crash never blocks anybody; the holder deletes the sidecar when it is done.
The lock is advisory: it stops every emgrec writer (recorder, annotation and landmark saves,
``recover``/``repair``, import, export), not other programs.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

from recorder.core.errors import EmgrecError, UsageError

log = logging.getLogger(__name__)

#: Errors that mean "this place cannot hold a lock" (a folder we may not write, a filesystem without
#: flock), not "someone holds it": the write goes ahead unguarded, with a warning.
_NO_LOCKING = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}

__all__ = ["SessionBusyError", "WriteLock", "lock_path", "holder", "refuse_if_busy", "unique_path",
           "check_output"]


class SessionBusyError(EmgrecError, OSError):
    """Another writer holds the file (a recording in progress, or a save running)."""

    def __init__(self, path, action: str, info: dict | None):
        self.path = Path(path)
        self.holder = info or {}
        who = self.holder
        by = (f"{who.get('purpose', 'a writer')} (process {who.get('pid', '?')}"
              f"{' on ' + who['host'] if who.get('host') and who.get('host') != socket.gethostname() else ''}"
              f"{', since ' + who['since'] if who.get('since') else ''})") if who else "another writer"
        super().__init__(errno.EBUSY, f"cannot {action}: {self.path} is open for writing by {by}; "
                                      f"wait until it is closed", str(self.path))

    def __str__(self) -> str:  # OSError's default adds "[Errno 16]" and repeats the file name
        return self.strerror


def lock_path(path) -> Path:
    """The sidecar lock file of a session: ``.NAME.lock`` in the same folder."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


def _read_info(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        return {}


class WriteLock:
    """Exclusive, non-blocking lock of one session path. Use as a context manager or
    ``acquire()`` / ``release()``. ``purpose`` is what a refused writer is told holds the file."""

    def __init__(self, path, purpose: str = "a writer"):
        self.path = Path(path)
        self.purpose = purpose
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, action: str = "write", wait_s: float = 0.2) -> "WriteLock":
        """Take the lock or raise :class:`SessionBusyError` naming the file and its holder.
        ``wait_s`` rides out :func:`holder`'s momentary probes, never a real writer."""
        if self._fd is not None:
            return self
        lp = lock_path(self.path)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fd = os.open(lp, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as e:
                if e.errno not in _NO_LOCKING:
                    raise
                log.warning("%s: cannot create the write lock %s (%s); continuing without it", self.path, lp, e)
                return self
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                info = _read_info(fd)
                os.close(fd)
                if time.monotonic() < deadline:
                    time.sleep(0.01)
                    continue
                raise SessionBusyError(self.path, action, info) from None
            except OSError as e:
                os.close(fd)
                if e.errno not in _NO_LOCKING:
                    raise
                log.warning("%s: this filesystem cannot lock %s (%s); continuing without the lock", self.path, lp, e)
                return self
            # The previous holder unlinks the sidecar while still holding it: if ours is no longer
            # the file at that name, we locked a deleted inode; take the new one.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(lp))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "purpose": self.purpose,
                "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(info).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            lock_path(self.path).unlink(missing_ok=True)  # while still locked: see acquire()
        except OSError:
            pass
        os.close(fd)

    def __enter__(self) -> "WriteLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self):
        if self._fd is not None:
            self.release()


def holder(path) -> dict | None:
    """Who holds the write lock of ``path`` ({pid, host, purpose, since}), or None when nobody does."""
    try:
        fd = os.open(lock_path(path), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_info(fd) or {"purpose": "a writer"}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def refuse_if_busy(path, action: str) -> None:
    """Raise :class:`SessionBusyError` when a writer holds ``path``."""
    info = holder(path)
    if info is not None:
        raise SessionBusyError(path, action, info)


def check_output(out, inputs=(), *, force: bool = False, what: str = "output") -> Path:
    """Refuse an output path that is one of the inputs (always, even with ``force``), that is being
    written by someone else, or that exists when ``force`` is False. Returns ``out`` as a Path."""
    out = Path(out)
    for p in inputs:
        p = Path(p)
        try:
            same = out.exists() and p.exists() and out.samefile(p)
        except OSError:
            same = False
        if same or out.resolve() == p.resolve():
            raise UsageError(f"{what} {out} is also an input ({p}); choose another name")
    refuse_if_busy(out, f"write {what}")
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists (use --force to overwrite it)")
    return out


def unique_path(folder, stem: str, suffix: str = ".h5", sep: str = "-") -> Path:
    """A path in ``folder`` named ``STEM-YYYYmmdd-HHMMSS.h5`` (``sep`` between stem and time) that
    does not exist yet and that no writer holds (``-2``, ``-3``, ... appended when it does), e.g. the
    default name of a recording. Not reserved: of two callers racing for one name, the writer's
    lock refuses the second (and ``emgrec record`` without --force refuses an existing file)."""
    folder = Path(folder)
    base = f"{stem}{sep}{datetime.now():%Y%m%d-%H%M%S}"
    for k in range(1, 10_000):
        p = folder / (f"{base}{suffix}" if k == 1 else f"{base}-{k}{suffix}")
        if not p.exists() and not lock_path(p).exists():
            return p
    raise FileExistsError(f"no free name {base}-N{suffix} in {folder}")
