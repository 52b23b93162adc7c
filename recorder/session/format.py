"""HDF5 session files (format ``emg-hand-session`` v1): one batched writer thread, one lazy reader.

The schema, the clock and the crash-safety design are documented in ``docs/session-format.md``.
In short:

* Every dataset is created before recording starts, then the file switches to HDF5 SWMR
  (single-writer/multiple-reader) mode. In SWMR mode the library orders its writes so that the
  file on disk is consistent at every moment; a process killed with SIGKILL therefore leaves a file
  that still opens (read-only, with ``swmr=True``) and holds everything up to the last flush.
* SWMR cannot grow variable-length data safely, so JPEG frames are stored as one flat, growable
  ``uint8`` byte stream (``/video/jpeg``) plus an (F, 2) ``[offset, nbytes]`` index. Labels and
  markers are fixed-width compound tables (string fields UTF-8, 64 / 256 bytes).
* Datasets are appended in batches (one resize + write per dataset per flush) and flushed at least
  every ``flush_interval_s``. Related datasets can end at different lengths in a crashed file;
  unwritten rows hold NaN / -1 fill values. :class:`SessionReader` trims to the rows that are
  complete in every related dataset, so callers never see the difference.

Times in the file are *session seconds*: host monotonic seconds minus the session's ``t0``
(root attribute ``t0_host_s``).
"""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import json
import logging
import math
import os
import queue
import shutil
import threading
from pathlib import Path
from typing import Callable, Iterable, Sequence

import h5py
import numpy as np

from recorder import __version__
from recorder.session.annotations import AnnotationError
from recorder.core.clock import now
from recorder.core.errors import EmgrecError
from recorder.core.types import N_LANDMARKS, EmgChunk, Frame, Landmarks
from recorder.session.writelock import SessionBusyError, WriteLock  # noqa: F401 (SessionBusyError: re-exported)

log = logging.getLogger(__name__)

FORMAT = "emg-hand-session"
FORMAT_VERSION = 1
LABEL_NAME_BYTES = 64
MARKER_TEXT_BYTES = 256
LABEL_DTYPE = np.dtype([("start_s", "<f8"), ("end_s", "<f8"), ("name", f"S{LABEL_NAME_BYTES}")])
MARKER_DTYPE = np.dtype([("t_s", "<f8"), ("text", f"S{MARKER_TEXT_BYTES}")])
HANDEDNESS_CODES = {"": 0, "Left": 1, "Right": 2}
#: HDF5 file-format bounds of every file emgrec writes a session to. v1.10 is the oldest format with
#: SWMR; pinning the upper bound too keeps HDF5 2.x from using newer object encodings that HDF5
#: 1.10/1.12 readers (Debian's tools, MATLAB, older h5py) cannot parse. Root attribute ``hdf5_libver``
#: records it; files without it were written with ``libver="latest"`` (``emgrec repair --compat``).
LIBVER = ("v110", "v110")
_HANDEDNESS_NAMES = {v: k for k, v in HANDEDNESS_CODES.items()}

#: Datasets some sessions have (imported joint angles); checked like the required ones when present.
OPTIONAL_DATASETS = ("pose/angles",)

#: Fletcher32 checksums on every chunked dataset the writer creates.
CHECKSUMS = True

#: Every dataset of a v1 file; the reader refuses a file that lacks one.
REQUIRED_DATASETS = (
    "emg/data", "emg/t", "emg/gaps", "video/t", "video/index", "video/jpeg", "video/jpeg_index",
    "landmarks/image", "landmarks/world", "landmarks/score", "landmarks/handedness", "labels", "markers",
)


class SessionFormatError(EmgrecError, ValueError):
    """The file is not a readable emgrec session (corrupt, truncated, foreign, newer version)."""

    def __init__(self, path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


# ------------------------------------------------------------------------------------------------
# Layout (shared by the writer and by recovery of a crashed file)
# ------------------------------------------------------------------------------------------------

def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _fixed_str(s: str) -> np.ndarray:
    """``s`` as a fixed-length UTF-8 HDF5 string (0-d, at least 1 byte; NUL padding is stripped on
    read). Unlike h5py's default variable-length strings, its bytes live inside the attribute
    message, which HDF5 checksums, and not in a global heap, which it does not (docs/session-format.md)."""
    b = s.encode("utf-8")
    return np.array(b, dtype=h5py.string_dtype("utf-8", max(1, len(b))))


def _str_array(items) -> np.ndarray:
    """A list of str as a fixed-length UTF-8 string array (1-d)."""
    b = [str(x).encode("utf-8") for x in items]
    return np.array(b, dtype=h5py.string_dtype("utf-8", max([1, *map(len, b)])))


def _to_attr(v):
    """The value an attribute is stored as: numbers and bools as they are, str (and bytes) as a
    fixed-length UTF-8 string, arrays as they are (string arrays as fixed-length ones), anything
    else as JSON text."""
    if isinstance(v, (bool, int, float, np.integer, np.floating, np.bool_)):
        return v
    if isinstance(v, str):
        return _fixed_str(v)
    if isinstance(v, bytes):
        return np.array(v, dtype=h5py.string_dtype("utf-8", max(1, len(v))))
    if isinstance(v, np.ndarray):
        if v.dtype.kind in "OU":  # variable-length strings as h5py reads them
            return _str_array([x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in v.ravel()]
                              ).reshape(v.shape)
        return v
    return _fixed_str(json.dumps(v, default=str))


def set_attrs(obj, values: dict) -> None:
    """Write attributes of a dataset or group as :func:`_to_attr` stores them. Root attributes of a
    session go through :func:`set_root_attrs` (they carry a checksum)."""
    for k, v in values.items():
        obj.attrs[k] = _to_attr(v)


#: Root attribute holding a checksum over the other root attributes (see :func:`_attrs_digest`).
ATTRS_CHECKSUM = "attrs_checksum"


def _attr_plain(v):
    """An attribute value as Python data: bytes -> str (UTF-8), numpy scalars and arrays -> Python."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return [_attr_plain(x) for x in v.tolist()] if v.ndim else _attr_plain(v[()])
    return v


def _attrs_digest(values: dict, names) -> str:
    """sha256 (hex) over the named attributes as Python data (name, type and value; floats by repr):
    the same for a variable- or fixed-length string of the same text."""
    canon = [[k, type(v).__name__, v] for k, v in ((k, _attr_plain(values[k])) for k in sorted(names))]
    return hashlib.sha256(json.dumps(canon, default=repr, allow_nan=True).encode()).hexdigest()


def set_root_attrs(f: h5py.File, values: dict) -> None:
    """Write root attributes of a session and restamp :data:`ATTRS_CHECKSUM` over all of them.
    HDF5 checksums the attribute messages of small values itself but not values over ~4 kB (kept
    as "huge objects" of its fractal heap) nor variable-length strings of older files; the stamp
    covers those. Every emgrec write of a root attribute must come through here: the reader
    refuses a file whose root attributes do not match it."""
    set_attrs(f, values)
    names = [k for k in f.attrs.keys() if k != ATTRS_CHECKSUM]
    raw = {k: f.attrs[k] for k in names}
    f.attrs[ATTRS_CHECKSUM] = _fixed_str(json.dumps({"sha256": _attrs_digest(raw, names), "names": sorted(names)}))


def _create_layout(f: h5py.File, *, n_channels: int, emg_dtype, sample_rate_hz: float,
                   channel_names: Sequence[str], units: str, scale_to_uV: float) -> None:
    """Create every v1 dataset, empty and growable. Must run before SWMR mode is switched on."""
    emg_rows = max(256, int(2 ** math.ceil(math.log2(max(sample_rate_hz, 1.0) * 4))))  # ~4 s chunks
    # Per-chunk checksums: bit rot raises on read instead of passing silently (bench/storage.py
    # measures the cost by turning CHECKSUMS off for one run).
    ck = dict(fletcher32=True) if CHECKSUMS else {}
    g = f.create_group("emg")
    d = g.create_dataset("data", (0, n_channels), maxshape=(None, n_channels),
                         chunks=(emg_rows, n_channels), dtype=np.dtype(emg_dtype), **ck)
    set_attrs(d, {"sample_rate_hz": float(sample_rate_hz), "channel_names": _str_array(channel_names),
                  "units": str(units), "scale_to_uV": float(scale_to_uV)})
    t = g.create_dataset("t", (0,), maxshape=(None,), chunks=(emg_rows,), dtype="<f8", fillvalue=np.nan, **ck)
    set_attrs(t, {"units": "s (session clock)"})
    gp = g.create_dataset("gaps", (0, 2), maxshape=(None, 2), chunks=(64, 2), dtype="<f8", fillvalue=np.nan, **ck)
    set_attrs(gp, {"units": "s (session clock); columns start, end"})

    v = f.create_group("video")
    set_attrs(v.create_dataset("t", (0,), maxshape=(None,), chunks=(1024,), dtype="<f8", fillvalue=np.nan, **ck),
              {"units": "s (session clock)"})
    v.create_dataset("index", (0,), maxshape=(None,), chunks=(1024,), dtype="<i8", fillvalue=-1, **ck)
    set_attrs(v.create_dataset("jpeg", (0,), maxshape=(None,), chunks=(1 << 18,), dtype="u1", **ck), {"layout": (
        "concatenated JPEG files; frame i is jpeg[offset:offset+nbytes] with jpeg_index[i]")})
    set_attrs(v.create_dataset("jpeg_index", (0, 2), maxshape=(None, 2), chunks=(1024, 2), dtype="<i8",
                               fillvalue=-1, **ck), {"columns": _str_array(["offset", "nbytes"])})

    lm = f.create_group("landmarks")
    set_attrs(lm.create_dataset("image", (0, N_LANDMARKS, 3), maxshape=(None, N_LANDMARKS, 3),
                                chunks=(256, N_LANDMARKS, 3), dtype="<f4", fillvalue=np.nan, **ck),
              {"units": "MediaPipe normalised image coordinates"})
    set_attrs(lm.create_dataset("world", (0, N_LANDMARKS, 3), maxshape=(None, N_LANDMARKS, 3),
                                chunks=(256, N_LANDMARKS, 3), dtype="<f4", fillvalue=np.nan, **ck), {"units": "mm"})
    lm.create_dataset("score", (0,), maxshape=(None,), chunks=(1024,), dtype="<f4", fillvalue=np.nan, **ck)
    set_attrs(lm.create_dataset("handedness", (0,), maxshape=(None,), chunks=(1024,), dtype="u1", fillvalue=0, **ck),
              {"codes": json.dumps(_HANDEDNESS_NAMES)})

    set_attrs(f.create_dataset("labels", (0,), maxshape=(None,), chunks=(64,), dtype=LABEL_DTYPE, **ck),
              {"units": "s (session clock)"})
    set_attrs(f.create_dataset("markers", (0,), maxshape=(None,), chunks=(64,), dtype=MARKER_DTYPE, **ck),
              {"units": "s (session clock)"})


def _encode_text(text: str, nbytes: int, what: str, strict: bool) -> bytes:
    b = str(text).encode("utf-8")
    if len(b) <= nbytes:
        return b
    if strict:
        raise AnnotationError(f"{what} {text!r} is longer than {nbytes} bytes (UTF-8)")
    log.warning("%s %r truncated to %d bytes", what, text, nbytes)
    return b[:nbytes].decode("utf-8", errors="ignore").encode("utf-8")


def _append(ds: h5py.Dataset, rows: np.ndarray) -> None:
    """One resize + one write for a whole batch."""
    n0 = ds.shape[0]
    ds.resize(n0 + rows.shape[0], axis=0)
    ds[n0:] = rows


# ------------------------------------------------------------------------------------------------
# Writer
# ------------------------------------------------------------------------------------------------

_STOP = object()


class SessionWriter:
    """Writes one session file from a single background thread.

    ``add_*`` methods are thread-safe and never block or raise: they put the record on a queue.
    The writer thread JPEG-encodes frames, gathers records into batches and appends them with one
    resize + write per dataset, flushing at least every ``flush_interval_s`` seconds (<= 1 s).

    Host-clock seconds go in; session seconds (host - ``t0``) are stored.

    On a write failure (disk full, I/O error) the writer stops writing, keeps the file valid up to
    its last good flush, sets :attr:`error`, calls ``on_error(exc)`` once (on the writer thread),
    and counts everything it could not write in :meth:`stats` (``lost_*``). It stops on its own
    before the disk is full (``min_free_bytes`` plus twice the pending batch must stay free), which
    closes the file normally. ``max_queued_frames`` bounds the frames waiting for JPEG encoding;
    beyond it frames are dropped and counted (``lost_frames``) rather than blocking capture.
    """

    def __init__(self, path, *, sample_rate_hz: float, channel_names: Sequence[str], units: str = "counts",
                 scale_to_uV: float = float("nan"), emg_dtype=np.int16, t0: float, metadata: dict | None = None,
                 video: bool = True, flush_interval_s: float = 0.5, jpeg_quality: int = 85,
                 store_images: bool = True, on_error: Callable[[BaseException], None] | None = None,
                 max_queued_frames: int = 300, min_free_bytes: int = 50_000_000, libver: tuple[str, str] = LIBVER,
                 overwrite: bool = True):
        if not 0 < flush_interval_s <= 1.0:
            raise ValueError(f"flush_interval_s must be in (0, 1] s, got {flush_interval_s}")
        if sample_rate_hz <= 0 or not channel_names:
            raise ValueError("sample_rate_hz must be positive and channel_names non-empty")
        self.path = Path(path)
        self.sample_rate_hz = float(sample_rate_hz)
        self.channel_names = [str(c) for c in channel_names]
        self.units = units
        self.scale_to_uV = float(scale_to_uV)
        self.emg_dtype = np.dtype(emg_dtype)
        self.t0 = float(t0)
        self.metadata = dict(metadata or {})
        self.video = bool(video)
        # False: frames keep their times and landmarks but no image (privacy, size; docs/session-format.md).
        self.store_images = bool(store_images)
        self.flush_interval_s = float(flush_interval_s)
        self.jpeg_quality = int(jpeg_quality)
        self.on_error = on_error
        self.max_queued_frames = int(max_queued_frames)
        self.min_free_bytes = int(min_free_bytes)
        self.libver = tuple(libver)  # only the storage bench's before/after comparison changes it
        self.overwrite = bool(overwrite)  # False: refuse (FileExistsError) a path that exists when starting
        self._wlock = WriteLock(self.path, "a recording")
        self._queued_frames = 0
        self.error: BaseException | None = None

        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._qlen = 0  # approximate; only for stats
        self._thread: threading.Thread | None = None
        self._closed = False
        self._lock = threading.Lock()  # guards the counters below
        self._room = threading.Condition(self._lock)  # frames left the queue (add_frame(block=True))
        self._c = dict(samples=0, frames=0, landmarks=0, gaps=0, labels=0, markers=0, bytes=0, flushes=0,
                       lost_samples=0, lost_frames=0, lost_landmarks=0, lost_other=0, rejected=0,
                       late_landmarks=0, orphan_landmarks=0)
        self._last_flush = float("nan")
        self._f: h5py.File | None = None
        # Writer-thread state.
        self._emg_x: list[np.ndarray] = []
        self._emg_t: list[np.ndarray] = []
        self._frames: list[tuple[float, int, bytes]] = []
        self._lm_pending: dict[int, Landmarks] = {}  # frame_index -> landmarks not yet written
        self._row_of: dict[int, int] = {}  # frame_index -> video row (recent frames only)
        self._n_frames = 0
        self._gaps: list[tuple[float, float]] = []
        self._labels: list[tuple[float, float, bytes]] = []
        self._markers: list[tuple[float, bytes]] = []

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> "SessionWriter":
        """Create the file with every dataset, switch to SWMR mode and start the writer thread.
        Raises OSError (naming the file) when it cannot be created, :class:`SessionBusyError` before
        touching it when another writer holds it; the write lock is held until the file is closed."""
        if self._thread is not None:
            raise RuntimeError(f"{self.path}: writer already started")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._wlock.acquire("record")
        try:
            f = h5py.File(self.path, "w" if self.overwrite else "w-", libver=self.libver, rdcc_nbytes=0)
        except OSError as e:
            self._wlock.release()
            if isinstance(e, FileExistsError):
                raise FileExistsError(f"{self.path} exists (use --force to overwrite it)") from None
            raise OSError(f"cannot create session file {self.path}: {e}") from e
        try:
            md = self.metadata
            a = {"format": FORMAT, "format_version": FORMAT_VERSION, "created_utc": _utc_now(),
                 "software_version": __version__}
            for key in ("subject", "hand", "notes"):
                a[key] = str(md.get(key, ""))
            for key in ("device", "settings"):
                a[key] = json.dumps(md.get(key, {}), default=str)
            for key, val in md.items():
                if key not in ("subject", "hand", "notes", "device", "settings"):
                    a[key] = val
            a.update({"t0_host_s": self.t0, "clock": "session seconds = host monotonic seconds - t0_host_s",
                      "has_video": self.video, "hdf5_libver": ",".join(self.libver),
                      "video_storage": "jpeg" if self.store_images else "none"})
            set_root_attrs(f, a)  # before SWMR mode: a crash file keeps them, with their checksum
            _create_layout(f, n_channels=len(self.channel_names), emg_dtype=self.emg_dtype,
                           sample_rate_hz=self.sample_rate_hz, channel_names=self.channel_names,
                           units=self.units, scale_to_uV=self.scale_to_uV)
            f.swmr_mode = True
        except BaseException:
            f.close()
            self._wlock.release()
            raise
        self._f = f
        self._last_flush = now()
        self._thread = threading.Thread(target=self._main, name=f"session-writer:{self.path.name}", daemon=True)
        self._thread.start()
        return self

    def __enter__(self):
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self, timeout: float | None = None) -> Path:
        """Write what is queued, finalise the file (attrs ``complete``, ``closed_utc``, ``writer_stats``)
        and return its path. Safe to call twice. Errors are in :attr:`error`, not raised."""
        if self._closed:
            return self.path
        with self._lock:
            self._closed = True
            self._room.notify_all()
        if self._thread is not None:
            self._q.put(_STOP)
            self._thread.join(timeout)
            if not self._thread.is_alive():
                # Records put by a producer racing with close() landed behind the stop mark.
                while True:
                    try:
                        item = self._q.get_nowait()
                    except queue.Empty:
                        break
                    if item is not _STOP:
                        self._count_lost(*item)
        return self.path

    # -- producers (any thread, never block) ------------------------------------------------------
    def _put(self, kind: str, item, lost_key: str, n: int) -> None:
        if self._closed or self.error is not None or self._thread is None:
            with self._lock:
                self._c[lost_key] += n
            return
        self._q.put((kind, item))
        self._qlen += 1

    def add_emg(self, chunk: EmgChunk) -> None:
        """Queue (n, C) samples with their (n,) host times."""
        self._put("emg", chunk, "lost_samples", len(chunk))

    def add_frame(self, frame: Frame, jpeg: bytes | None = None, block: bool = False) -> None:
        """Queue a frame; it is JPEG-encoded on the writer thread unless ``jpeg`` is given.

        block: wait for room when ``max_queued_frames`` are queued instead of dropping the frame
        (for offline writers such as the synthetic-session generator; live capture never blocks)."""
        if not self.video:
            with self._lock:
                self._c["rejected"] += 1
            return
        with self._lock:
            if block:
                self._room.wait_for(lambda: self._queued_frames < self.max_queued_frames or self._closed
                                    or self.error is not None or self._thread is None)
            if self._closed or self.error is not None or self._thread is None \
                    or self._queued_frames >= self.max_queued_frames:
                # Closed, failed, or the writer cannot keep up (slow disk or encoder): drop and
                # count, never block capture.
                self._c["lost_frames"] += 1
                return
            self._queued_frames += 1
        self._q.put(("frame", (frame, jpeg)))
        self._qlen += 1

    def add_landmarks(self, lm: Landmarks) -> None:
        """Queue the landmarks of frame ``lm.frame_index``; they may arrive before or after the frame."""
        self._put("lm", lm, "lost_landmarks", 1)

    def add_gap(self, t0_host: float, t1_host: float) -> None:
        self._put("gap", (float(t0_host), float(t1_host)), "lost_other", 1)

    def add_label(self, start_host: float, end_host: float, name: str) -> None:
        self._put("label", (float(start_host), float(end_host), str(name)), "lost_other", 1)

    def add_marker(self, t_host: float, text: str) -> None:
        self._put("marker", (float(t_host), str(text)), "lost_other", 1)

    def stats(self) -> dict:
        """Counters: samples/frames/landmarks written (flushed), bytes of payload written, queue
        (records waiting), lost_* (records that could not be written after an error or after close),
        last_flush_age_s."""
        with self._lock:
            d = dict(self._c)
        d["queue"] = max(self._qlen, 0)
        d["last_flush_age_s"] = now() - self._last_flush if self._last_flush == self._last_flush else None
        d["error"] = repr(self.error) if self.error is not None else None
        return d

    # -- writer thread ----------------------------------------------------------------------------
    def _main(self) -> None:
        deadline = now() + self.flush_interval_s
        stopping = False
        while not stopping:
            try:
                item = self._q.get(timeout=max(0.0, deadline - now()))
            except queue.Empty:
                item = None
            # Take what is waiting, so a burst costs one wake-up, but never past the flush deadline:
            # a producer that keeps the queue non-empty must not postpone the flush.
            while item is not None:
                if item is _STOP:
                    stopping = True
                else:
                    self._qlen -= 1
                    self._accept(*item)
                if now() >= deadline:
                    break
                try:
                    item = self._q.get_nowait()
                except queue.Empty:
                    item = None
            if stopping or now() >= deadline:
                self._write_batch()
                deadline = now() + self.flush_interval_s
        self._finalise()

    def _accept(self, kind: str, item) -> None:
        if self.error is not None:
            self._count_lost(kind, item)
            return
        try:
            if kind == "emg":
                x = np.asarray(item.x)
                if x.ndim != 2 or x.shape[1] != len(self.channel_names) or x.shape[0] != len(item.t):
                    log.error("%s: EMG chunk of shape %s rejected (expected (n, %d))", self.path,
                              x.shape, len(self.channel_names))
                    with self._lock:
                        self._c["rejected"] += 1
                    return
                self._emg_x.append(x.astype(self.emg_dtype, copy=False))
                self._emg_t.append(np.asarray(item.t, dtype=np.float64) - self.t0)
            elif kind == "frame":
                with self._lock:
                    self._queued_frames -= 1
                    self._room.notify_all()
                frame, jpeg = item
                if not self.store_images:
                    jpeg = b""  # a frame row without image: [offset, 0] in /video/jpeg_index
                if jpeg is None:
                    import cv2
                    ok, buf = cv2.imencode(".jpg", frame.image, [int(cv2.IMWRITE_JPEG_QUALITY), self.jpeg_quality])
                    if not ok:
                        raise ValueError(f"JPEG encoding failed for frame {frame.index}")
                    jpeg = buf.tobytes()
                self._frames.append((float(frame.t) - self.t0, int(frame.index), bytes(jpeg)))
            elif kind == "lm":
                self._lm_pending[int(item.frame_index)] = item
            elif kind == "gap":
                self._gaps.append((item[0] - self.t0, item[1] - self.t0))
            elif kind == "label":
                self._labels.append((item[0] - self.t0, item[1] - self.t0,
                                     _encode_text(item[2], LABEL_NAME_BYTES, "label name", strict=False)))
            elif kind == "marker":
                self._markers.append((item[0] - self.t0,
                                      _encode_text(item[1], MARKER_TEXT_BYTES, "marker text", strict=False)))
        except (ValueError, TypeError, AttributeError) as e:
            # A malformed record is a caller bug; it is logged and counted, never raised into acquisition.
            log.error("%s: %s record rejected: %s", self.path, kind, e)
            with self._lock:
                self._c["rejected"] += 1

    def _count_lost(self, kind: str, item) -> None:
        if kind == "frame":
            with self._lock:
                self._queued_frames -= 1
                self._room.notify_all()
        key = {"emg": "lost_samples", "frame": "lost_frames", "lm": "lost_landmarks"}.get(kind, "lost_other")
        with self._lock:
            self._c[key] += len(item) if kind == "emg" else 1

    def _write_batch(self) -> None:
        if self.error is not None or self._f is None:
            return
        f = self._f
        nbytes = 0
        try:
            self._check_free_space()
            n_samples = 0
            if self._emg_x:
                x = np.concatenate(self._emg_x) if len(self._emg_x) > 1 else self._emg_x[0]
                t = np.concatenate(self._emg_t) if len(self._emg_t) > 1 else self._emg_t[0]
                # Data before times: a crashed file's reader trims to the shorter of the two.
                _append(f["emg/data"], x)
                _append(f["emg/t"], t)
                n_samples = len(t)
                nbytes += x.nbytes + t.nbytes
            n_new_frames, n_lm = 0, 0
            if self._frames:
                nbytes += self._write_frames(f)
                n_new_frames = len(self._frames)
            if self._lm_pending:
                n_lm = self._write_late_landmarks(f)
            if self._gaps:
                _append(f["emg/gaps"], np.asarray(self._gaps, dtype="<f8").reshape(-1, 2))
            if self._labels:
                _append(f["labels"], np.array(self._labels, dtype=LABEL_DTYPE))
            if self._markers:
                _append(f["markers"], np.array(self._markers, dtype=MARKER_DTYPE))
            f.flush()
        except Exception as e:  # disk full, I/O error, or an HDF5 failure: stop writing, keep the file
            self._fail(e)
            return
        with self._lock:
            c = self._c
            c["samples"] += n_samples
            c["frames"] += n_new_frames
            c["landmarks"] += n_lm
            c["gaps"] += len(self._gaps)
            c["labels"] += len(self._labels)
            c["markers"] += len(self._markers)
            c["bytes"] += nbytes
            c["flushes"] += 1
        self._emg_x.clear()
        self._emg_t.clear()
        self._frames.clear()
        self._gaps.clear()
        self._labels.clear()
        self._markers.clear()
        self._last_flush = now()

    def _check_free_space(self) -> None:
        """Stop before the disk is full: HDF5 survives a refused write badly (the file stays readable,
        but the library may fail again when the file is closed), while a stop here closes cleanly."""
        pending = sum(x.nbytes for x in self._emg_x) + sum(len(j) for _, _, j in self._frames)
        free = shutil.disk_usage(self.path.parent).free
        if free < self.min_free_bytes + 2 * pending:
            raise OSError(errno.ENOSPC, f"disk almost full ({free / 1e6:.0f} MB free, keeping "
                                        f"{self.min_free_bytes / 1e6:.0f} MB): recording stopped", str(self.path))

    def _write_frames(self, f: h5py.File) -> int:
        frames = self._frames
        n = len(frames)
        f0 = self._n_frames
        sizes = np.fromiter((len(j) for _, _, j in frames), dtype=np.int64, count=n)
        blob = np.frombuffer(b"".join(j for _, _, j in frames), dtype=np.uint8)
        jpeg = f["video/jpeg"]
        off0 = jpeg.shape[0]
        offsets = off0 + np.concatenate(([0], np.cumsum(sizes)[:-1]))
        # Bytes first, then the index that points at them, then times: a crashed file never has an
        # index row whose bytes are missing (and the reader checks anyway).
        _append(jpeg, blob)
        _append(f["video/jpeg_index"], np.stack([offsets, sizes], axis=1))
        _append(f["video/index"], np.fromiter((i for _, i, _ in frames), dtype=np.int64, count=n))
        image = np.full((n, N_LANDMARKS, 3), np.nan, np.float32)
        world = np.full((n, N_LANDMARKS, 3), np.nan, np.float32)
        score = np.full((n,), np.nan, np.float32)
        hand = np.zeros((n,), np.uint8)
        pending = self._lm_pending
        n_lm = 0
        for k, (_, idx, _) in enumerate(frames):
            self._row_of[idx] = f0 + k
            lm = pending.pop(idx, None)
            if lm is not None:
                image[k], world[k], score[k] = lm.image, lm.world_mm, lm.score
                hand[k] = HANDEDNESS_CODES.get(lm.handedness, 0)
                n_lm += 1
        _append(f["landmarks/image"], image)
        _append(f["landmarks/world"], world)
        _append(f["landmarks/score"], score)
        _append(f["landmarks/handedness"], hand)
        _append(f["video/t"], np.fromiter((t for t, _, _ in frames), dtype=np.float64, count=n))
        self._n_frames = f0 + n
        with self._lock:
            self._c["landmarks"] += n_lm
        # Forget rows of old frames: landmarks come within a few frames, never thousands later.
        if len(self._row_of) > 20000:
            cutoff = self._n_frames - 10000
            self._row_of = {i: r for i, r in self._row_of.items() if r >= cutoff}
        return int(blob.nbytes + n * (2 * N_LANDMARKS * 3 * 4 + 4 + 1 + 8 + 8 + 16))

    def _write_late_landmarks(self, f: h5py.File) -> int:
        """Landmarks whose frame row is already on disk: written in place, contiguous rows at once.
        Landmarks whose frame has not arrived yet stay pending."""
        rows = []
        for idx in list(self._lm_pending):
            r = self._row_of.get(idx)
            if r is not None:
                rows.append((r, self._lm_pending.pop(idx)))
        if len(self._lm_pending) > 1000:  # frames that will never come (dropped upstream)
            for idx in sorted(self._lm_pending)[:-100]:
                del self._lm_pending[idx]
                with self._lock:
                    self._c["orphan_landmarks"] += 1
        if not rows:
            return 0
        rows.sort(key=lambda rl: rl[0])
        start = 0
        while start < len(rows):
            end = start + 1
            while end < len(rows) and rows[end][0] == rows[end - 1][0] + 1:
                end += 1
            run = rows[start:end]
            r0, r1 = run[0][0], run[-1][0] + 1
            f["landmarks/image"][r0:r1] = np.stack([lm.image for _, lm in run]).astype(np.float32)
            f["landmarks/world"][r0:r1] = np.stack([lm.world_mm for _, lm in run]).astype(np.float32)
            f["landmarks/score"][r0:r1] = np.array([lm.score for _, lm in run], np.float32)
            f["landmarks/handedness"][r0:r1] = np.array([HANDEDNESS_CODES.get(lm.handedness, 0) for _, lm in run],
                                                        np.uint8)
            start = end
        with self._lock:
            self._c["late_landmarks"] += len(rows)
        return len(rows)

    def _fail(self, e: BaseException) -> None:
        self.error = e
        log.error("%s: writing stopped: %s", self.path, e)
        with self._lock:
            self._room.notify_all()  # a blocked add_frame sees the error and drops its frame
            c = self._c
            c["lost_samples"] += sum(len(t) for t in self._emg_t)
            c["lost_frames"] += len(self._frames)
            c["lost_landmarks"] += len(self._lm_pending)
            c["lost_other"] += len(self._gaps) + len(self._labels) + len(self._markers)
        self._emg_x.clear()
        self._emg_t.clear()
        self._frames.clear()
        self._lm_pending.clear()
        self._gaps.clear()
        self._labels.clear()
        self._markers.clear()
        if self.on_error is not None:
            try:
                self.on_error(e)
            except Exception:  # the callback's bug must not kill the writer thread
                log.exception("%s: on_error callback failed", self.path)

    def _finalise(self) -> None:
        try:
            self._finalise_file()
        finally:
            self._wlock.release()  # only now: the closing attributes below are a write too

    def _finalise_file(self) -> None:
        f, self._f = self._f, None
        if f is None:
            return
        with self._lock:
            self._c["lost_landmarks"] += len(self._lm_pending)  # their frames never came
            self._c["orphan_landmarks"] += len(self._lm_pending)
        self._lm_pending.clear()
        try:
            f.close()
        except Exception as e:
            if self.error is None:
                self._fail(e)
            else:
                log.warning("%s: close after error failed: %s", self.path, e)
            return
        if self.error is not None:
            return
        # SWMR mode cannot add attributes, so the closing facts are written after a normal reopen.
        try:
            with h5py.File(self.path, "r+", libver=self.libver) as f2:
                set_root_attrs(f2, {"complete": True, "closed_utc": _utc_now(),
                                    "writer_stats": json.dumps(self.stats(), default=str)})
        except Exception as e:
            self._fail(e)


# ------------------------------------------------------------------------------------------------
# Reader
# ------------------------------------------------------------------------------------------------

class LazyRows:
    """A read-only view of the first ``n`` rows of an h5py dataset, sliced on demand.

    Supports ``len``, ``shape``, ``dtype``, ``[i]``, ``[a:b]``, ``[a:b, ...]``, integer arrays and
    ``np.asarray(view)`` (reads everything).
    """

    def __init__(self, ds: h5py.Dataset, n: int, path=None):
        self._ds = ds
        self._n = int(n)
        self._path = Path(path if path is not None else ds.file.filename)

    @property
    def shape(self) -> tuple:
        return (self._n,) + tuple(self._ds.shape[1:])

    @property
    def dtype(self):
        return self._ds.dtype

    @property
    def ndim(self) -> int:
        return self._ds.ndim

    def __len__(self) -> int:
        return self._n

    def __array__(self, dtype=None):
        a = _wrap_read(self._path, self._ds.name, lambda: self._ds[: self._n])
        return a if dtype is None else a.astype(dtype)

    def __getitem__(self, key):
        try:
            return self._getitem(key)
        except (IndexError, SessionFormatError):
            raise
        except (OSError, RuntimeError, MemoryError) as e:
            raise SessionFormatError(self._path, f"cannot read {self._ds.name} (damaged? "
                                                 f"{type(e).__name__}: {e})") from e

    def _getitem(self, key):
        rest: tuple = ()
        if isinstance(key, tuple):
            key, rest = (key[0] if key else slice(None)), key[1:]
        if key is Ellipsis:
            key, rest = slice(None), (Ellipsis,) + rest
        if isinstance(key, (int, np.integer)):
            i = int(key) + (self._n if key < 0 else 0)
            if not 0 <= i < self._n:
                raise IndexError(f"row {int(key)} out of range for {self._n} rows")
            return self._ds[(i,) + rest]
        if isinstance(key, slice):
            a, b, step = key.indices(self._n)
            if step == 1:
                return self._ds[(slice(a, max(a, b)),) + rest]
            return self._ds[(slice(0, self._n),) + rest][a:b:step] if step < 0 else \
                self._ds[(slice(a, max(a, b)),) + rest][::step]
        idx = np.asarray(key)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = np.where(idx < 0, idx + self._n, idx).astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self._n):
            raise IndexError(f"row index out of range for {self._n} rows")
        if idx.size == 0:
            return np.empty((0,) + self.shape[1:], self.dtype)[(slice(None),) + rest]
        block = self._ds[(slice(int(idx.min()), int(idx.max()) + 1),) + rest]
        return block[idx - idx.min()]


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _flagged_open_for_write(path: Path) -> bool:
    """True when the superblock's file-consistency flags say a writer has the file open (or died
    with it open). Superblock v2/v3 at offset 0: signature (8 bytes), version, sizes, then the flags
    byte (bit 0: open for write, bit 2: open for SWMR write)."""
    with open(path, "rb") as fh:
        head = fh.read(12)
    return len(head) == 12 and head[:8] == _HDF5_SIGNATURE and head[8] >= 2 and bool(head[11] & 0x05)


#: A SWMR reader retries a metadata read whose checksum fails, doubling the sleep between tries
#: (HDF5's default is 100 tries: on a truncated or damaged file that is hours, which is why
#: `emgrec info` slept "forever" on one). 26 tries wait ~75 ms in all (measured), the last ~40 ms:
#: far longer than a live writer needs to finish writing a metadata entry, short enough for 2 s.
SWMR_METADATA_READ_ATTEMPTS = 26

#: Bounds on what a session file may declare; a crafted file beyond them is refused, not read.
MAX_TABLE_ROWS = 1_000_000  # /labels, /markers, /emg/gaps rows
MAX_CHANNELS = 1024
MAX_FRAME_BYTES = 64 << 20  # one stored JPEG
MAX_RATE_HZ = 1e6
#: HDF5 filters a session may use: emgrec writes Fletcher32 checksums only. Compression would let a
#: few kB of file declare gigabytes of rows (a decompression bomb), so it is refused.
ALLOWED_FILTERS = frozenset({"fletcher32", "shuffle"})


def _hdf5_library():
    """ctypes handle of the HDF5 library h5py itself uses (wheels vendor it), or None."""
    global _H5LIB
    if _H5LIB is not False:
        return _H5LIB
    import ctypes
    import glob
    lib = None
    here = Path(h5py.__file__).parent
    candidates = sorted(glob.glob(str(here.parent / "h5py.libs" / "libhdf5-*.so*"))
                        + glob.glob(str(here / ".dylibs" / "libhdf5*.dylib")))
    try:  # a build linked against a system HDF5: the copy already mapped into this process
        with open("/proc/self/maps") as fh:
            candidates += [ln.split()[-1] for ln in fh if "/libhdf5" in ln and "_hl" not in ln]
    except OSError:
        pass
    for c in candidates:
        if "_hl" in Path(c).name:
            continue
        try:
            cand = ctypes.CDLL(c)
            cand.H5Pset_metadata_read_attempts.argtypes = [ctypes.c_int64, ctypes.c_uint]
            lib = cand
            break
        except (OSError, AttributeError):
            continue
    if lib is None:
        log.debug("HDF5 library not found through ctypes: SWMR reads keep the default retry count")
    _H5LIB = lib
    return lib


_H5LIB = False


def _open_swmr(path: Path) -> h5py.File:
    """Open read-only with SWMR, with few metadata read retries (see SWMR_METADATA_READ_ATTEMPTS)."""
    lib = _hdf5_library()
    if lib is None:
        return h5py.File(path, "r", swmr=True)
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_fclose_degree(h5py.h5f.CLOSE_STRONG)
    if lib.H5Pset_metadata_read_attempts(fapl.id, SWMR_METADATA_READ_ATTEMPTS) < 0:
        return h5py.File(path, "r", swmr=True)
    fid = h5py.h5f.open(os.fsencode(path), h5py.h5f.ACC_RDONLY | h5py.h5f.ACC_SWMR_READ, fapl=fapl)
    return h5py.File(fid)


def _stored_eof(path: Path) -> int | None:
    """End-of-file address the superblock (v2/v3, 8-byte offsets) records, or None."""
    with open(path, "rb") as fh:
        head = fh.read(48)
    if len(head) < 36 or head[:8] != _HDF5_SIGNATURE or head[8] < 2 or head[9] != 8:
        return None
    return int.from_bytes(head[28:36], "little")


def _damage_hint(path: Path) -> str:
    eof = _stored_eof(path)
    size = path.stat().st_size
    if eof is not None and size < eof:
        return f"corrupt or truncated? it holds {size} of the {eof} bytes its superblock records"
    return "corrupt or truncated?"


def _uses_global_heap(t) -> bool:
    """True when values of HDF5 type ``t`` (an h5py TypeID) may point into a global heap:
    variable-length strings and sequences, and references (region references live there)."""
    if isinstance(t, h5py.h5t.TypeStringID):
        return t.is_variable_str()
    if isinstance(t, (h5py.h5t.TypeVlenID, h5py.h5t.TypeReferenceID)):
        return True
    if isinstance(t, h5py.h5t.TypeCompoundID):
        return any(_uses_global_heap(t.get_member_type(i)) for i in range(t.get_nmembers()))
    if isinstance(t, h5py.h5t.TypeArrayID):
        return _uses_global_heap(t.get_super())
    return False


def _heap_attrs(obj) -> list[str]:
    """Names of ``obj``'s attributes whose values may live in a global heap (read from the
    attributes' types only: no value is read)."""
    return [k for k in obj.attrs.keys() if _uses_global_heap(obj.attrs.get_id(k).get_type())]


def _check_global_heaps(path: Path) -> None:
    """Refuse a file whose global heap (where HDF5 keeps variable-length strings: the attributes of
    files written before fixed-length attributes) is damaged such that HDF5 would loop forever
    decoding it: the library walks the heap's objects by their size fields, and a size of 0 never
    advances (H5HG__cache_heap_deserialize, HDF5 2.0).

    Run only for files whose attributes use a global heap (:func:`_heap_attrs`), before any value
    is read. Heaps ("GCOL" collections) can lie anywhere (a later edit puts one at the end of
    the file as it was then), so the whole file is searched; a match counts only if its header is
    valid (version 1, reserved bytes 0, a size that fits the file)."""
    import mmap
    size = path.stat().st_size
    if size < 16:
        return
    sig = b"GCOL\x01\0\0\0"  # signature, version 1, reserved: a longer needle searches faster (~1.5 GB/s)
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
        at = m.find(sig)
        while at >= 0:
            n = int.from_bytes(m[at + 8: at + 16], "little")
            if 4096 <= n <= size - at:
                _walk_global_heap(path, m, at, n)
            at = m.find(sig, at + 4)


def _walk_global_heap(path: Path, m, start: int, n: int) -> None:
    p, end = start + 16, start + n
    while p < end:
        if p + 16 > end:
            return  # a tail too small for an object header: free space, as HDF5 reads it
        idx = int.from_bytes(m[p: p + 2], "little")
        osize = int.from_bytes(m[p + 8: p + 16], "little")
        need = osize if idx == 0 else 16 + ((osize + 7) & ~7)
        if need <= 0 or need > end - p:
            raise SessionFormatError(path, f"damaged HDF5 global heap at byte {start} (object at {p} "
                                           f"claims {osize} bytes); the file's attributes cannot be read")
        p += need


def _open_h5(path: Path) -> tuple[h5py.File, bool]:
    """Open for reading: normally, or with SWMR when the file is being written or its writer died
    (its consistency flags then refuse a normal open). Returns (file, opened_with_swmr)."""
    if not path.exists():
        raise FileNotFoundError(f"session file not found: {path}")
    if path.is_dir():
        raise SessionFormatError(path, "is a folder, not a session file")
    if path.stat().st_size == 0:
        raise SessionFormatError(path, "file is empty")
    if not h5py.is_hdf5(path):
        raise SessionFormatError(path, "not an HDF5 file")
    try:
        return h5py.File(path, "r"), False
    except RuntimeError as e:  # h5py raises RuntimeError for some damaged superblocks
        raise SessionFormatError(path, f"cannot open as HDF5 (corrupt superblock?): {e}") from e
    except OSError as first:
        # Only a file still flagged open by a writer (running, or killed) is retried with SWMR, and
        # with few metadata retries: a SWMR reader retries failed metadata reads, by default for hours.
        if not _flagged_open_for_write(path):
            raise SessionFormatError(path, f"cannot open as HDF5 ({_damage_hint(path)}): {first}") from first
        try:
            return _open_swmr(path), True
        except (OSError, RuntimeError, ValueError):
            raise SessionFormatError(path, f"cannot open as HDF5 ({_damage_hint(path)}): {first}") from first


def _hard_link_only(f: h5py.File, name: str) -> str | None:
    """Why the object at ``name`` may not be followed (an external or soft link on the way), or None."""
    g = f
    for part in name.split("/"):
        link = g.get(part, getlink=True)
        if link is None:
            return None  # missing: reported as such by the caller
        if not isinstance(link, h5py.HardLink):
            kind = "an external link" if isinstance(link, h5py.ExternalLink) else "a soft link"
            return f"/{name} is {kind}; sessions hold their data themselves"
        g = g[part]
    return None


def _stored_rows(path: Path, name: str, ds: h5py.Dataset, file_size: int) -> int:
    """Rows (axis 0) of ``ds`` whose data really lies inside this file: rows past the last chunk
    written, or in chunks beyond the end of a truncated file (which HDF5 reads back as zeros), were
    never written. Raises SessionFormatError for storage a session never uses (external raw files,
    virtual datasets, compression filters) or for a dataset whose bytes lie outside the file."""
    if ds.external:
        raise SessionFormatError(path, f"/{name} keeps its data in external file(s) "
                                       f"{[e[0] for e in ds.external]}; sessions hold their data themselves")
    if ds.is_virtual:
        raise SessionFormatError(path, f"/{name} is a virtual dataset; sessions hold their data themselves")
    bad = set(ds._filters) - ALLOWED_FILTERS
    if bad:
        raise SessionFormatError(path, f"/{name} uses HDF5 filter(s) {sorted(bad)}; sessions are not compressed")
    if ds.ndim == 0:
        raise SessionFormatError(path, f"/{name} is a scalar")
    n = int(ds.shape[0])
    if ds.chunks is None:
        if ds.id.get_create_plist().get_layout() == h5py.h5d.COMPACT:
            return n  # held in the object header (<= 64 kB)
        off = ds.id.get_offset()
        if off is None:
            return 0  # contiguous storage never allocated: only fill values
        if off + ds.id.get_storage_size() > file_size:
            raise SessionFormatError(path, f"/{name} lies beyond the end of the file ({_damage_hint(path)})")
        return n
    rows = int(ds.chunks[0])
    per_block = 1
    for dim, c in zip(ds.shape[1:], ds.chunks[1:]):
        per_block *= -(-int(dim) // int(c))
    blocks: dict[int, int] = {}
    beyond = [False]

    def visit(info) -> None:
        if info.byte_offset is None or info.byte_offset + info.size > file_size:
            beyond[0] = True
            return
        b = int(info.chunk_offset[0]) // rows
        blocks[b] = blocks.get(b, 0) + 1

    if n and per_block:
        ds.id.chunk_iter(visit)
    b = 0
    while blocks.get(b, 0) >= per_block:
        b += 1
    if beyond[0]:
        log.warning("%s: /%s has chunks beyond the end of the file (%s); reading rows before them only",
                    path, name, _damage_hint(path))
    return min(n, b * rows)


def _check_kind(path: Path, name: str, ds: h5py.Dataset, kinds: str, ndim: int, tail: tuple = ()) -> None:
    """Refuse a dataset whose dtype kind (numpy ``dtype.kind``) or shape a session never has."""
    if ds.dtype.kind not in kinds or ds.dtype.names is not None or ds.dtype.subdtype is not None:
        raise SessionFormatError(path, f"/{name} has dtype {ds.dtype}, expected "
                                       + {"f": "float", "iu": "integer", "iuf": "numbers", "u": "uint8"}.get(kinds, kinds))
    if ds.ndim != ndim or (tail and tuple(ds.shape[1:]) != tail):
        raise SessionFormatError(path, f"/{name} has shape {ds.shape}, expected {ndim} dimension(s)"
                                       + (f" ending in {tail}" if tail else ""))


def _check_table(path: Path, name: str, ds: h5py.Dataset, fields: dict[str, str]) -> None:
    names = ds.dtype.names or ()
    for field, kind in fields.items():
        if field not in names or ds.dtype[field].kind != kind:
            raise SessionFormatError(path, f"/{name} has dtype {ds.dtype}, expected fields "
                                           + ", ".join(f"{k} ({'float' if v == 'f' else 'bytes'})"
                                                       for k, v in fields.items()))
    if ds.ndim != 1:
        raise SessionFormatError(path, f"/{name} has shape {ds.shape}, expected one dimension")


def _wrap_read(path: Path, what: str, fn):
    """Run a read of ``what``; HDF5 failures (checksum mismatch, damaged chunk index) and oversized
    allocations become SessionFormatError naming the file."""
    try:
        return fn()
    except SessionFormatError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError, TypeError, MemoryError) as e:
        if isinstance(e, (FileNotFoundError, PermissionError)):
            raise
        raise SessionFormatError(path, f"cannot read {what} (damaged? {type(e).__name__}: {e})") from e


class SessionReader:
    """Reads one session file lazily. Use as a context manager.

    EMG: ``emg_t`` (N,) float64 session seconds (in memory), ``emg_data`` (N, C) raw units (lazy).
    Video: ``video_t`` (F,) float64, ``frame(i)`` -> (H, W, 3) uint8 BGR, ``jpeg(i)`` -> bytes.
    Landmarks (lazy, aligned with video rows): ``landmarks_image`` (F, 21, 3) normalised,
    ``landmarks_world`` (F, 21, 3) mm, ``landmarks_score`` (F,), NaN where no hand / not processed.
    ``labels`` [(start_s, end_s, name)], ``markers`` [(t_s, text)], ``gaps`` (G, 2) seconds.

    A file whose writer was killed opens transparently (``complete`` is then False); datasets are
    trimmed to the rows that are complete in every related dataset.
    """

    def __init__(self, path):
        self.path = Path(path)
        self._f, self.opened_swmr = _open_h5(self.path)
        try:
            self._check_and_measure()
        except SessionFormatError as e:
            self._f.close()
            if self.opened_swmr and "truncated" not in e.problem and _damage_hint(self.path) != "corrupt or truncated?":
                raise SessionFormatError(self.path, f"{e.problem} ({_damage_hint(self.path)})") from e
            raise
        except (KeyError, OSError, ValueError, TypeError, RuntimeError, AttributeError, MemoryError) as e:
            self._f.close()
            raise SessionFormatError(self.path, f"unreadable ({_damage_hint(self.path)}; "
                                                f"{type(e).__name__}: {e})") from e
        self._emg_t: np.ndarray | None = None
        self._video_t: np.ndarray | None = None

    def _check_and_measure(self) -> None:
        f, path = self._f, self.path
        self._heaps_checked = False
        self._guard_heaps(f)
        # Every root attribute is read once, here, and checked against its stamp (set_root_attrs).
        self._raw_attrs = _wrap_read(path, "root attributes", lambda: {k: f.attrs[k] for k in f.attrs.keys()})
        fmt = _attr_plain(self._raw_attrs.get("format"))
        if fmt != FORMAT:
            raise SessionFormatError(path, f"not an emgrec session (format attribute is {fmt!r}, "
                                           f"expected {FORMAT!r})")
        ver = int(self._raw_attrs.get("format_version", -1))
        if ver > FORMAT_VERSION:
            raise SessionFormatError(path, f"format version {ver} is newer than this software reads "
                                           f"({FORMAT_VERSION}); update emgrec")
        if ver < 1:
            raise SessionFormatError(path, f"bad format_version {ver}")
        #: "verified" (root attributes match their checksum) or "none (older file)": no stamp.
        self.attrs_checksum = self._verify_attrs()
        # Links first: looking a dataset up through an external link would open another file.
        for k in REQUIRED_DATASETS:
            why = _hard_link_only(f, k)
            if why:
                raise SessionFormatError(path, why)
        missing = [k for k in REQUIRED_DATASETS if not isinstance(f.get(k), h5py.Dataset)]
        if missing:
            raise SessionFormatError(path, "missing dataset(s) " + ", ".join("/" + k for k in missing))
        for k in ("emg", "video", "landmarks", *REQUIRED_DATASETS):
            self._guard_heaps(f[k])
        d = f["emg/data"]
        try:
            self.sample_rate_hz = float(d.attrs["sample_rate_hz"])
            names = d.attrs["channel_names"]
        except KeyError as e:
            raise SessionFormatError(path, f"/emg/data lacks attribute {e}") from None
        except (TypeError, ValueError) as e:
            raise SessionFormatError(path, f"/emg/data attribute sample_rate_hz is not a number ({e})") from None
        if not (math.isfinite(self.sample_rate_hz) and 0 < self.sample_rate_hz <= MAX_RATE_HZ):
            raise SessionFormatError(path, f"/emg/data sample_rate_hz is {self.sample_rate_hz!r}, "
                                           f"expected a rate in (0, {MAX_RATE_HZ:g}] Hz")
        names = np.atleast_1d(np.asarray(names))
        if names.ndim != 1 or names.dtype.kind not in "SUO" or not 0 < len(names) <= MAX_CHANNELS:
            raise SessionFormatError(path, f"/emg/data channel_names must be 1 to {MAX_CHANNELS} strings, "
                                           f"got {names.dtype} of shape {names.shape}")
        self.channel_names = [c.decode("utf-8", "replace") if isinstance(c, bytes) else str(c) for c in names]
        self.units = str(_attr_plain(d.attrs.get("units", "counts")))
        try:
            self.scale_to_uV = float(d.attrs.get("scale_to_uV", float("nan")))
        except (TypeError, ValueError):
            raise SessionFormatError(path, "/emg/data attribute scale_to_uV is not a number") from None
        _check_kind(path, "emg/data", d, "iuf", 2)
        if d.shape[1] != len(self.channel_names):
            raise SessionFormatError(path, f"/emg/data has shape {d.shape} but {len(self.channel_names)} channel names")
        for name, kinds, ndim, tail in (("emg/t", "f", 1, ()), ("emg/gaps", "f", 2, (2,)), ("video/t", "f", 1, ()),
                                        ("video/index", "iu", 1, ()), ("video/jpeg", "u", 1, ()),
                                        ("video/jpeg_index", "iu", 2, (2,)),
                                        ("landmarks/image", "f", 3, (N_LANDMARKS, 3)),
                                        ("landmarks/world", "f", 3, (N_LANDMARKS, 3)),
                                        ("landmarks/score", "f", 1, ()), ("landmarks/handedness", "iu", 1, ())):
            _check_kind(path, name, f[name], kinds, ndim, tail)
        if f["video/jpeg"].dtype.itemsize != 1:
            raise SessionFormatError(path, f"/video/jpeg has dtype {f['video/jpeg'].dtype}, expected uint8")
        _check_table(path, "labels", f["labels"], {"start_s": "f", "end_s": "f", "name": "S"})
        _check_table(path, "markers", f["markers"], {"t_s": "f", "text": "S"})
        # Rows really stored in this file, per dataset: bounds every read below (a declared extent
        # of 2^40 rows, or chunks past the end of a truncated file, are not data).
        size = path.stat().st_size
        self._rows = {k: _stored_rows(path, k, f[k], size) for k in REQUIRED_DATASETS}
        for k in OPTIONAL_DATASETS:
            why = _hard_link_only(f, k)
            if why:
                raise SessionFormatError(path, why)
            if isinstance(f.get(k), h5py.Dataset):
                self._guard_heaps(f[k])
                if f[k].dtype.kind != "f":
                    raise SessionFormatError(path, f"/{k} has dtype {f[k].dtype}, expected float")
                self._rows[k] = _stored_rows(path, k, f[k], size)
        for k in ("emg/gaps", "labels", "markers"):
            if self._rows[k] > MAX_TABLE_ROWS:
                raise SessionFormatError(path, f"/{k} holds {self._rows[k]} rows (at most {MAX_TABLE_ROWS} "
                                               "are read)")
        # Rows complete in every related dataset (a killed writer may leave them at different lengths).
        n = min(self._rows["emg/data"], self._rows["emg/t"])
        self._n = self._trim_unwritten(f["emg/t"], n)
        self._nf = self._count_frames()

    def _guard_heaps(self, obj) -> None:
        """Before any attribute value of ``obj`` is read: if some of them live in a global heap (a
        file written before fixed-length attributes), check the file's heaps once (see
        :func:`_check_global_heaps`)."""
        if not self._heaps_checked and _heap_attrs(obj):
            _check_global_heaps(self.path)
            self._heaps_checked = True

    def _verify_attrs(self) -> str:
        raw, path = self._raw_attrs, self.path
        if ATTRS_CHECKSUM not in raw:
            return "none (older file)"
        try:
            stamp = json.loads(_attr_plain(raw[ATTRS_CHECKSUM]))
            want, names = stamp["sha256"], stamp["names"]
        except (ValueError, TypeError, KeyError) as e:
            raise SessionFormatError(path, f"root attribute {ATTRS_CHECKSUM} is damaged ({e})") from None
        if not (isinstance(want, str) and isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise SessionFormatError(path, f"root attribute {ATTRS_CHECKSUM} is damaged (unexpected fields)")
        missing = [n for n in names if n not in raw]
        if missing:
            raise SessionFormatError(path, f"root attribute(s) {', '.join(missing)} listed in {ATTRS_CHECKSUM} "
                                           "are missing (damaged?)")
        if _attrs_digest(raw, names) != want:
            # Say how to keep a deliberate outside edit: the checksum cannot tell it from damage.
            raise SessionFormatError(path, "root attributes do not match their checksum (damaged, or changed "
                                           "by a program other than emgrec); if you edited them on purpose, "
                                           f"delete the {ATTRS_CHECKSUM} attribute and run emgrec repair "
                                           "--compat on the file to stamp it again")
        return "verified"

    @staticmethod
    def _trim_unwritten(t: h5py.Dataset, n: int) -> int:
        """Drop trailing rows still holding the NaN fill value (extent flushed, data not)."""
        while n > 0:
            lo = max(0, n - 4096)
            tail = t[lo:n]
            ok = np.flatnonzero(np.isfinite(tail))
            if ok.size:
                return lo + int(ok[-1]) + 1
            n = lo
        return 0

    def _count_frames(self) -> int:
        f = self._f
        names = ("video/t", "video/index", "video/jpeg_index", "landmarks/image", "landmarks/world",
                 "landmarks/score", "landmarks/handedness")
        nf = min(self._rows[k] for k in names)
        nf = self._trim_unwritten(f["video/t"], nf)
        if nf:
            idx = f["video/jpeg_index"][:nf].astype(np.int64)
            off, nb = idx[:, 0], idx[:, 1]
            nbytes = self._rows["video/jpeg"]
            # nbytes 0 = a frame stored without image (landmarks/angles only); -1 = never written.
            # Compared without adding (a crafted offset near 2^63 would overflow off + nb).
            good = (off >= 0) & (nb >= 0) & (nb <= MAX_FRAME_BYTES) & (off <= nbytes) & (nb <= nbytes - off)
            bad = np.flatnonzero(~good)
            if bad.size:
                nf = int(bad[0])
        return nf

    # -- lifecycle ----------------------------------------------------------------------------------
    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"SessionReader({str(self.path)!r}, samples={self._n}, frames={self._nf})"

    # -- metadata -----------------------------------------------------------------------------------
    @property
    def attrs(self) -> dict:
        """Root attributes; ``device`` and ``settings`` decoded from JSON."""
        return _wrap_read(self.path, "root attributes", self._read_attrs)

    def _read_attrs(self) -> dict:
        out = {}
        for k, v in self._raw_attrs.items():
            if k == ATTRS_CHECKSUM:
                continue  # integrity data, verified at open (attrs_checksum says how)
            v = _attr_plain(v)
            if k in ("device", "settings", "writer_stats") and isinstance(v, str):
                try:
                    v = json.loads(v)
                except ValueError:
                    pass
            out[k] = v
        return out

    @property
    def complete(self) -> bool:
        """True when the writer closed the file normally (False after a crash or while recording)."""
        return bool(self._raw_attrs.get("complete", False))

    @property
    def n_samples(self) -> int:
        return self._n

    @property
    def n_frames(self) -> int:
        return self._nf

    # -- EMG ----------------------------------------------------------------------------------------
    @property
    def emg_t(self) -> np.ndarray:
        """(N,) float64 session seconds of each sample (read once, kept in memory)."""
        if self._emg_t is None:
            self._emg_t = _wrap_read(self.path, "/emg/t", lambda: self._f["emg/t"][: self._n])
        return self._emg_t

    @property
    def emg_data(self) -> LazyRows:
        """(N, C) raw device units; multiply by ``scale_to_uV`` for microvolts."""
        return LazyRows(self._f["emg/data"], self._n, self.path)

    def emg_between(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
        """Samples with t0 <= t < t1 (session seconds): ((n,) times, (n, C) raw values)."""
        t = self.emg_t
        a, b = np.searchsorted(t, [t0, t1], side="left")
        return t[a:b], self.emg_data[a:b]

    @property
    def gaps(self) -> np.ndarray:
        """(G, 2) float64 start/end session seconds of detected gaps in the EMG."""
        g = _wrap_read(self.path, "/emg/gaps", lambda: self._f["emg/gaps"][: self._rows["emg/gaps"]])
        return g[np.isfinite(g).all(axis=1)] if len(g) else g.reshape(0, 2)

    # -- video and landmarks ------------------------------------------------------------------------
    @property
    def video_t(self) -> np.ndarray:
        """(F,) float64 session seconds of each frame (capture time)."""
        if self._video_t is None:
            self._video_t = _wrap_read(self.path, "/video/t", lambda: self._f["video/t"][: self._nf])
        return self._video_t

    @property
    def video_index(self) -> np.ndarray:
        """(F,) int64 frame counter of the camera (a jump means frames dropped before recording)."""
        return LazyRows(self._f["video/index"], self._nf, self.path)[:]

    def jpeg(self, i: int) -> bytes:
        """The stored JPEG file of frame i."""
        if not -self._nf <= i < self._nf:
            raise IndexError(f"frame {i} out of range: {self.path} has {self._nf} frames")
        i %= self._nf
        off, nb = (int(v) for v in LazyRows(self._f["video/jpeg_index"], self._nf, self.path)[i])
        return LazyRows(self._f["video/jpeg"], self._rows["video/jpeg"], self.path)[off: off + nb].tobytes()

    def has_image(self) -> np.ndarray:
        """(F,) bool: frames with a stored image (False for landmark-only frames, e.g. imported pose
        or ``--store-video none``)."""
        return LazyRows(self._f["video/jpeg_index"], self._nf, self.path)[:, 1] > 0

    def frame(self, i: int) -> np.ndarray:
        """(H, W, 3) uint8 BGR image of frame i; SessionFormatError for a frame stored without image."""
        import cv2
        jpeg = self.jpeg(i)
        if not jpeg:
            raise SessionFormatError(self.path, f"frame {i} has no stored image (landmarks only)")
        try:
            img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        except cv2.error as e:  # some damaged JPEG headers raise rather than return None
            raise SessionFormatError(self.path, f"frame {i} is not a decodable JPEG ({e})") from e
        if img is None:
            raise SessionFormatError(self.path, f"frame {i} is not a decodable JPEG")
        return img

    @property
    def landmarks_image(self) -> LazyRows:
        return LazyRows(self._f["landmarks/image"], self._nf, self.path)

    @property
    def landmarks_world(self) -> LazyRows:
        return LazyRows(self._f["landmarks/world"], self._nf, self.path)

    @property
    def landmarks_score(self) -> LazyRows:
        return LazyRows(self._f["landmarks/score"], self._nf, self.path)

    @property
    def handedness(self) -> list[str]:
        """Per frame "Left", "Right" or ""."""
        codes = LazyRows(self._f["landmarks/handedness"], self._nf, self.path)[:]
        return [_HANDEDNESS_NAMES.get(int(c), "") for c in codes]

    @property
    def angle_names(self) -> list[str]:
        """Names of the imported joint angles in ``/pose/angles`` ([] when the file has none)."""
        d = self._f.get("pose/angles")
        if not isinstance(d, h5py.Dataset):
            return []
        return [n.decode() if isinstance(n, bytes) else str(n) for n in d.attrs.get("names", [])]

    @property
    def angles(self) -> np.ndarray | None:
        """(F, K) float32 imported joint angles in degrees, aligned with video rows, or None."""
        d = self._f.get("pose/angles")
        if not isinstance(d, h5py.Dataset):
            return None
        if d.ndim != 2 or self._rows.get("pose/angles", 0) < self._nf or d.shape[1] != len(self.angle_names):
            raise SessionFormatError(self.path, f"/pose/angles has shape {d.shape} ({self._rows.get('pose/angles', 0)} "
                                                f"rows stored) for {self._nf} frames and {len(self.angle_names)} names")
        return np.asarray(LazyRows(d, self._nf, self.path), dtype=np.float32)

    def has_hand(self) -> np.ndarray:
        """(F,) bool: frames whose landmarks hold a hand."""
        if self._nf == 0:
            return np.zeros(0, bool)
        return np.isfinite(self.landmarks_world[:, 0, 0])

    # -- annotations --------------------------------------------------------------------------------
    @property
    def labels(self) -> list[tuple[float, float, str]]:
        rows = _wrap_read(self.path, "/labels", lambda: self._f["labels"][: self._rows["labels"]])
        return [(float(r["start_s"]), float(r["end_s"]), r["name"].decode("utf-8", "replace"))
                for r in rows if np.isfinite(r["start_s"])]

    @property
    def markers(self) -> list[tuple[float, str]]:
        rows = _wrap_read(self.path, "/markers", lambda: self._f["markers"][: self._rows["markers"]])
        return [(float(r["t_s"]), r["text"].decode("utf-8", "replace")) for r in rows if np.isfinite(r["t_s"])]

    # -- summary ------------------------------------------------------------------------------------
    @property
    def duration_s(self) -> float:
        """Seconds from the first to the last stored sample or frame (0 when empty)."""
        ends, starts = [], []
        if self._n:
            starts.append(self.emg_t[0])
            ends.append(self.emg_t[-1] + 1.0 / self.sample_rate_hz)
        if self._nf:
            starts.append(self.video_t[0])
            ends.append(self.video_t[-1])
        return float(max(ends) - min(starts)) if ends else 0.0

    def summary(self) -> dict:
        """Plain dict for ``emgrec info`` and the GUI."""
        a = self.attrs
        t = self.emg_t
        vt = self.video_t
        gaps = self.gaps
        dev = a.get("device") if isinstance(a.get("device"), dict) else {}
        # Sample intervals that span a recorded gap (lost samples, file boundaries of an import) are
        # not sampling time: leave them out of the measured rate.
        n_iv, span = len(t) - 1, (t[-1] - t[0]) if len(t) > 1 else 0.0
        if len(gaps) and len(t) > 1:
            i = np.clip(np.searchsorted(t, gaps[:, 1], side="left") - 1, 0, len(t) - 2)
            cover = (t[i] <= gaps[:, 0] + 1e-9) & (t[i + 1] >= gaps[:, 1] - 1e-9)
            iv = np.unique(i[cover])
            n_iv, span = n_iv - len(iv), span - float((t[iv + 1] - t[iv]).sum())
        measured = n_iv / span if n_iv > 0 and span > 0 else float("nan")
        fps = (len(vt) - 1) / (vt[-1] - vt[0]) if len(vt) > 1 and vt[-1] > vt[0] else float("nan")
        return {
            "path": str(self.path),
            "format_version": int(a.get("format_version", 0)),
            "software_version": a.get("software_version", ""),
            "created_utc": a.get("created_utc", ""),
            "complete": self.complete,
            "attrs_checksum": self.attrs_checksum,
            "subject": a.get("subject", ""),
            "hand": a.get("hand", ""),
            "notes": a.get("notes", ""),
            "device": dev.get("kind", ""),
            "duration_s": self.duration_s,
            "sample_rate_hz": self.sample_rate_hz,
            "measured_rate_hz": float(measured),
            "channels": len(self.channel_names),
            "channel_names": list(self.channel_names),
            "units": self.units,
            "scale_to_uV": self.scale_to_uV,
            "emg_dtype": str(self._f["emg/data"].dtype),
            "samples": self._n,
            "frames": self._nf,
            "fps": float(fps),
            "frames_with_hand": int(self.has_hand().sum()),
            # score NaN: no landmark model ever looked at the frame (0 = looked, found no hand)
            "frames_never_processed": int(np.isnan(np.asarray(self.landmarks_score[:], np.float32)).sum())
            if self._nf else 0,
            "frames_with_image": int(self.has_image().sum()),
            "angle_names": self.angle_names,
            "alignment": _json_summary(a.get("alignment"), ("emg_start", "pose_start", "start_difference_s",
                                                             "pose_offset_s", "overlap_s")),
            "emg_resampling": _json_summary(a.get("emg_resampling"), ("rate_hz", "interpolation", "source_rows",
                                                                      "duplicates_dropped")),
            "gaps": int(len(gaps)),
            "gap_total_s": float((gaps[:, 1] - gaps[:, 0]).sum()) if len(gaps) else 0.0,
            "labels": len(self.labels),
            "markers": len(self.markers),
            "file_bytes": self.path.stat().st_size,
        }


# ------------------------------------------------------------------------------------------------
# Editing and recovery
# ------------------------------------------------------------------------------------------------

def _json_summary(text, keys) -> str:
    """'k=v, ...' of a few keys of a JSON attribute (imports' alignment / resampling), '' if absent."""
    try:
        d = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return str(text)
    if not isinstance(d, dict):
        return ""
    return ", ".join(f"{k}={round(d[k], 3) if isinstance(d[k], float) else d[k]}" for k in keys if k in d)


def recover(path) -> Path:
    """Rewrite a session whose writer died into a normally closed file, in place (atomic rename).

    The HDF5 consistency flags of such a file refuse any read-write open, so the readable rows are
    copied into a fresh file next to it, which is verified and then replaces the original (whose
    permissions it keeps). Attribute ``recovered_utc`` records it; ``complete`` stays False.
    Raises :class:`SessionBusyError` when a writer (a recording in progress) holds the file.
    """
    path = Path(path)
    lock = WriteLock(path, "a recovery").acquire("recover it")
    try:
        return _rewrite(path, recovered=True)
    finally:
        lock.release()


def _rewrite(path: Path, *, recovered: bool) -> Path:
    """Copy the readable rows of ``path`` into a fresh file in the :data:`LIBVER` format, check the
    copy against the original, then rename it over the original. The caller holds the write lock."""
    st = path.stat()
    with SessionReader(path) as r:
        f = r._f
        # Not mkstemp: its 0600 would replace the session's mode; the original's mode is set below.
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident() % 10**6}.recover")
        try:
            with h5py.File(tmp, "w", libver=LIBVER) as out:
                # Rewritten as fixed-length, checksummed attributes (an older file's are converted).
                a = {k: v for k, v in r._raw_attrs.items() if k != ATTRS_CHECKSUM}
                a["hdf5_libver"] = ",".join(LIBVER)
                if recovered:
                    a["recovered_utc"] = _utc_now()
                set_root_attrs(out, a)
                d = f["emg/data"]
                _create_layout(out, n_channels=d.shape[1], emg_dtype=d.dtype, sample_rate_hz=r.sample_rate_hz,
                               channel_names=r.channel_names, units=r.units, scale_to_uV=r.scale_to_uV)
                for name, rows in _row_counts(r):
                    for a in range(0, rows, _COPY_ROWS):
                        _append(out[name], f[name][a: min(rows, a + _COPY_ROWS)])
                nbytes = _jpeg_bytes(r)
                for a in range(0, nbytes, 64 << 20):
                    _append(out["video/jpeg"], f["video/jpeg"][a: min(nbytes, a + (64 << 20))])
            _verify_copy(r, tmp)
            os.chmod(tmp, st.st_mode & 0o7777)
            try:
                os.chown(tmp, st.st_uid, st.st_gid)
            except OSError:
                pass  # not root: the copy is ours, as the original was if we could replace it
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return path


_COPY_ROWS = 1 << 20


def _row_counts(r: "SessionReader") -> list[tuple[str, int]]:
    n, nf = r.n_samples, r.n_frames
    return [("emg/data", n), ("emg/t", n), ("video/t", nf), ("video/index", nf), ("video/jpeg_index", nf),
            ("landmarks/image", nf), ("landmarks/world", nf), ("landmarks/score", nf),
            ("landmarks/handedness", nf), ("emg/gaps", r._rows["emg/gaps"]), ("labels", r._rows["labels"]),
            ("markers", r._rows["markers"])]  # rows stored, not a declared extent


def _jpeg_bytes(r: "SessionReader") -> int:
    nf = r.n_frames
    return int(r._f["video/jpeg_index"][nf - 1].sum()) if nf else 0


def _verify_copy(r: "SessionReader", copy: Path) -> None:
    """The copy opens with a plain (non-SWMR) read and holds exactly the original's readable rows."""
    src = r._f
    try:
        with h5py.File(copy, "r") as g:
            for name, rows in _row_counts(r) + [("video/jpeg", _jpeg_bytes(r))]:
                if g[name].shape[0] != rows:
                    raise SessionFormatError(r.path, f"repair copy has {g[name].shape[0]} rows of /{name}, "
                                                     f"expected {rows}; original left as it was")
                step = max(1, _COPY_ROWS // max(1, int(np.prod(g[name].shape[1:], dtype=np.int64))))
                for a in range(0, rows, step):
                    b = min(rows, a + step)
                    x, y = src[name][a:b], g[name][a:b]
                    same = np.array_equal(x, y, equal_nan=True) if x.dtype.kind == "f" else np.array_equal(x, y)
                    if not same:
                        raise SessionFormatError(r.path, f"repair copy differs in /{name} rows {a}-{b}; "
                                                         "original left as it was")
    except OSError as e:
        raise SessionFormatError(r.path, f"repair copy does not open: {e}; original left as it was") from e


def repair(path, compat: bool = False) -> dict:
    """``emgrec repair``: finalise a crashed session in place (a verified copy replaces it, with its
    permissions) so that any HDF5 reader opens it without SWMR; with ``compat``, also rewrite a
    normally closed file that was written in the newest HDF5 format (emgrec before ``hdf5_libver``)
    or whose root attributes carry no checksum (emgrec before ``attrs_checksum``).

    Returns {"path", "action" ("recovered" | "rewritten" | "none"), "crashed", "old_format",
    "unchecked_attrs", "samples", "frames", "duration_s"} (``old_format`` / ``unchecked_attrs``: what
    ``compat`` would still rewrite). Raises :class:`SessionBusyError` while a writer holds it.
    """
    path = Path(path)
    lock = WriteLock(path, "a repair").acquire("repair it")
    try:
        with SessionReader(path) as r:
            crashed = r.opened_swmr
            old_format = _attr_str(r._raw_attrs.get("hdf5_libver", "")) != ",".join(LIBVER)
            unchecked = r.attrs_checksum != "verified"
        action = "none"
        if crashed:
            _rewrite(path, recovered=True)
            action = "recovered"
        elif compat and (old_format or unchecked):
            _rewrite(path, recovered=False)
            action = "rewritten"
        with SessionReader(path) as r:
            out = {"path": str(path), "action": action, "crashed": crashed,
                   "old_format": old_format and action == "none", "unchecked_attrs": unchecked and action == "none",
                   "samples": r.n_samples, "frames": r.n_frames, "duration_s": r.duration_s}
    finally:
        lock.release()
    return out


def _attr_str(v) -> str:
    return str(_attr_plain(v))


def _open_for_update(path: Path, crashed: bool) -> h5py.File:
    """Open an existing session read-write for an in-place edit; the caller holds the write lock.
    A file whose writer died (opened with SWMR by the reader) is first made writable: HDF5 clears
    the flag itself when it can, else it is recovered (its readable rows rewritten into a clean file)."""
    if crashed:
        try:
            h5py.File(path, "r+").close()
        except OSError:
            _rewrite(path, recovered=True)
    try:
        return h5py.File(path, "r+", libver=LIBVER)
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        raise SessionFormatError(path, f"cannot open for writing: {e}") from e


def save_annotations(path, labels: Iterable[tuple[float, float, str]],
                     markers: Iterable[tuple[float, str]]) -> None:
    """Replace /labels and /markers of a session (session seconds); raw data is never touched.

    The two tables are rewritten in SWMR mode, whose ordered writes keep the file valid even if
    the process dies midway. A file whose writer crashed is first :func:`recover`-ed.
    Raises ValueError for bad labels (end before start, non-finite times, names over 64 bytes),
    :class:`SessionBusyError` (touching nothing) while the file is being recorded or saved elsewhere.
    """
    path = Path(path)
    lab = np.array([(float(s), float(e), _encode_text(n, LABEL_NAME_BYTES, "label name", strict=True))
                    for s, e, n in labels], dtype=LABEL_DTYPE)
    mk = np.array([(float(t), _encode_text(x, MARKER_TEXT_BYTES, "marker text", strict=True))
                   for t, x in markers], dtype=MARKER_DTYPE)
    if len(lab) and not (np.isfinite(lab["start_s"]).all() and np.isfinite(lab["end_s"]).all()):
        raise AnnotationError(f"{path}: label times must be finite")
    if len(lab) and (lab["end_s"] < lab["start_s"]).any():
        raise AnnotationError(f"{path}: a label ends before it starts")
    if len(mk) and not np.isfinite(mk["t_s"]).all():
        raise AnnotationError(f"{path}: marker times must be finite")
    # The lock first: a file being recorded is also "flagged open", and recovering it would rename
    # a copy over the live file.
    lock = WriteLock(path, "an annotation save").acquire("save annotations")
    try:
        with SessionReader(path) as r:  # validates the format
            crashed = r.opened_swmr
        f = _open_for_update(path, crashed)
        with f:
            f.swmr_mode = True
            for name, rows in (("labels", lab), ("markers", mk)):
                ds = f[name]
                ds.resize(len(rows), axis=0)
                if len(rows):
                    ds[:] = rows
                f.flush()
    finally:
        lock.release()


def save_landmarks(path, image, world_mm, score, handedness: Sequence[str] | None = None,
                   settings: dict | None = None) -> None:
    """Replace /landmarks/* of a session (e.g. after re-running hand detection on the stored frames);
    EMG, video and labels are never touched.

    image: (F, 21, 3) normalised image coordinates; world_mm: (F, 21, 3) mm; score: (F,);
    handedness: F strings ("Left", "Right", ""), or None to leave that column as it is;
    NaN rows mean "no hand". F must equal the file's frame count. settings (detector options)
    are stored as the JSON root attribute ``landmarks_settings`` with ``landmarks_updated_utc``.
    """
    path = Path(path)
    image = np.asarray(image, dtype=np.float32)
    world_mm = np.asarray(world_mm, dtype=np.float32)
    score = np.asarray(score, dtype=np.float32)
    lock = WriteLock(path, "a landmark save").acquire("save landmarks")
    try:
        _save_landmarks(path, image, world_mm, score, handedness, settings)
    finally:
        lock.release()


def _save_landmarks(path: Path, image, world_mm, score, handedness, settings) -> None:
    with SessionReader(path) as r:  # validates the format
        nf, crashed = r.n_frames, r.opened_swmr
    for name, a, shape in (("image", image, (nf, N_LANDMARKS, 3)), ("world_mm", world_mm, (nf, N_LANDMARKS, 3)),
                           ("score", score, (nf,))):
        if a.shape != shape:
            raise ValueError(f"{path}: {name} has shape {a.shape}, expected {shape} for {nf} frames")
    codes = None
    if handedness is not None:
        if len(handedness) != nf:
            raise ValueError(f"{path}: {len(handedness)} handedness values for {nf} frames")
        try:
            codes = np.array([HANDEDNESS_CODES[h] for h in handedness], dtype=np.uint8)
        except KeyError as e:
            raise ValueError(f"{path}: handedness must be 'Left', 'Right' or '', got {e}") from None
    f = _open_for_update(path, crashed)
    with f:
        set_root_attrs(f, {"landmarks_settings": json.dumps(settings or {}, default=str),
                           "landmarks_updated_utc": _utc_now()})
        f.swmr_mode = True  # ordered writes: a crash midway leaves a file that still opens
        if nf:
            f["landmarks/image"][:nf] = image
            f["landmarks/world"][:nf] = world_mm
            f["landmarks/score"][:nf] = score
            if codes is not None:
                f["landmarks/handedness"][:nf] = codes
        f.flush()
