"""Lab Streaming Layer (LSL) outlets and an EMG inlet.

Outlets publish what a :class:`~recorder.capture.engine.Capture` sees so other LSL tools (LabRecorder,
BCI pipelines, OpenViBE, ...) can record or use it:

- EMG: type ``"EMG"``, the device's nominal rate, raw device units in the device's own sample format
  (int8 for the Myo, int32 for the Cyton, float32 otherwise); channel labels, unit and type in the
  XML ``desc/channels`` (XDF meta-data convention), plus ``desc/emgrec/scale_to_uV`` so a receiver can
  convert to microvolts.
- Landmarks: type ``"MoCap"``, 63 float32 channels (``WRIST_X, WRIST_Y, WRIST_Z, THUMB_CMC_X, ...``),
  MediaPipe world landmarks in millimetres, one sample per camera frame (NaN when no hand).
- Predictions: the same 63-channel layout, type ``"MoCap"``, for a live model's output.
- Markers: type ``"Markers"``, one string channel, irregular rate (session markers, state changes).

:class:`LslEmgSource` is the other direction: an LSL EMG stream used as the armband (``lsl:NAME``).

Clocks. Our host clock is ``time.monotonic`` (:func:`recorder.core.clock.now`); LSL's is
``pylsl.local_clock()`` (C++ ``steady_clock``). Both are monotonic and tick at the same rate on one
host (on Linux they are the same CLOCK_MONOTONIC, offset ~0), so ``host = lsl + offset`` with one
constant offset, measured once per outlet/inlet object by :func:`lsl_to_host_offset`. Timestamps
from another machine are first mapped to this machine's LSL clock with the inlet's
``time_correction()``, which LSL keeps up to date in the background.
"""

from __future__ import annotations

import logging
import threading
from typing import Iterable

import numpy as np

from recorder.core.clock import now
from recorder.sources.base import DeviceLost, DeviceNotFound, EmgSource, SourceConfigError
from recorder.core.types import CaptureListenerBase, DeviceState, EmgChunk, Landmarks, N_LANDMARKS, RecordingState

log = logging.getLogger(__name__)

#: MediaPipe hand landmark names, in landmark index order (0 = wrist).
LANDMARK_NAMES: tuple[str, ...] = (
    "WRIST",
    "THUMB_CMC", "THUMB_MCP", "THUMB_IP", "THUMB_TIP",
    "INDEX_FINGER_MCP", "INDEX_FINGER_PIP", "INDEX_FINGER_DIP", "INDEX_FINGER_TIP",
    "MIDDLE_FINGER_MCP", "MIDDLE_FINGER_PIP", "MIDDLE_FINGER_DIP", "MIDDLE_FINGER_TIP",
    "RING_FINGER_MCP", "RING_FINGER_PIP", "RING_FINGER_DIP", "RING_FINGER_TIP",
    "PINKY_MCP", "PINKY_PIP", "PINKY_DIP", "PINKY_TIP",
)
assert len(LANDMARK_NAMES) == N_LANDMARKS
#: The 63 landmark channel labels (x, y, z per landmark), as used by the MoCap outlets.
LANDMARK_CHANNELS: tuple[str, ...] = tuple(f"{n}_{a}" for n in LANDMARK_NAMES for a in "XYZ")


def _pylsl():
    """Import pylsl lazily: it loads liblsl, which logs to stderr on first use."""
    import pylsl
    return pylsl


def lsl_to_host_offset(n: int = 15) -> float:
    """Seconds to add to a ``pylsl.local_clock()`` time to get host seconds (:func:`recorder.core.clock.now`).

    Reads both clocks n times, bracketing each LSL read between two host reads, and keeps the
    tightest bracket (least disturbed by preemption). Accurate to about a microsecond.
    """
    pylsl = _pylsl()
    best_width, best = float("inf"), 0.0
    for _ in range(n):
        a = now()
        l = pylsl.local_clock()
        b = now()
        if b - a < best_width:
            best_width, best = b - a, (a + b) / 2.0 - l
    return best


def _channel_format(dtype) -> tuple[object, np.dtype]:
    """LSL channel format and the numpy dtype that matches it for a source's raw sample dtype."""
    pylsl = _pylsl()
    dt = np.dtype(dtype)
    table = {np.dtype(np.int8): pylsl.cf_int8, np.dtype(np.int16): pylsl.cf_int16,
             np.dtype(np.int32): pylsl.cf_int32, np.dtype(np.float64): pylsl.cf_double64}
    if dt in table:
        return table[dt], dt
    if dt.kind in "iu":  # uint8/uint16 (Myo 50 Hz mode) fit losslessly in int32
        return pylsl.cf_int32, np.dtype(np.int32)
    return pylsl.cf_float32, np.dtype(np.float32)


def _add_channels(info, labels: Iterable[str], unit: str, ch_type: str | Iterable[str],
                  extra: dict[str, Iterable[str]] | None = None) -> None:
    chans = info.desc().append_child("channels")
    labels = list(labels)
    types = [ch_type] * len(labels) if isinstance(ch_type, str) else list(ch_type)
    extra = {k: list(v) for k, v in (extra or {}).items()}
    for i, label in enumerate(labels):
        ch = chans.append_child("channel")
        ch.append_child_value("label", label)
        ch.append_child_value("unit", unit)
        ch.append_child_value("type", types[i])
        for k, v in extra.items():
            ch.append_child_value(k, v[i])


def _add_acquisition(info, **fields) -> None:
    acq = info.desc().append_child("acquisition")
    acq.append_child_value("manufacturer", "emgrec")
    for k, v in fields.items():
        acq.append_child_value(k, str(v))


class _Outlet:
    """One LSL outlet; converts host times to LSL times with a fixed offset."""

    def __init__(self, info, offset: float, dtype=np.float32, chunk_size: int = 0, max_buffered: int = 60):
        pylsl = _pylsl()
        self.info = info
        self.offset = offset
        self.dtype = np.dtype(dtype)
        self.n_channels = info.channel_count()
        self.outlet = pylsl.StreamOutlet(info, chunk_size=chunk_size, max_buffered=max_buffered)
        self.samples_pushed = 0
        self._lock = threading.Lock()  # pushes come from several worker threads

    @property
    def name(self) -> str:
        return self.info.name()

    def push(self, x: np.ndarray, t_host: np.ndarray) -> None:
        """Push (n, C) samples with their (n,) host-clock times (seconds)."""
        x = np.ascontiguousarray(np.asarray(x).reshape(-1, self.n_channels), dtype=self.dtype)
        ts = np.asarray(t_host, dtype=np.float64).reshape(-1) - self.offset
        if len(ts) != len(x):
            raise ValueError(f"{len(x)} samples but {len(ts)} timestamps for LSL outlet {self.name!r}")
        if not len(x):
            return
        with self._lock:
            self.outlet.push_chunk(x, ts.tolist())
            self.samples_pushed += len(x)

    def have_consumers(self) -> bool:
        return self.outlet.have_consumers()

    def wait_for_consumers(self, timeout: float) -> bool:
        return self.outlet.wait_for_consumers(timeout)


class EmgOutlet(_Outlet):
    """EMG outlet: type "EMG", nominal rate, raw device units in the source's sample format."""

    def __init__(self, name: str, sample_rate_hz: float, channel_names: list[str], units: str = "counts",
                 scale_to_uV: float = float("nan"), dtype=np.float32, source_id: str = "",
                 device: str = "", offset: float | None = None):
        pylsl = _pylsl()
        fmt, np_dtype = _channel_format(dtype)
        info = pylsl.StreamInfo(name, "EMG", len(channel_names), float(sample_rate_hz), fmt,
                                source_id or f"emgrec-emg-{name}")
        _add_channels(info, channel_names, units, "EMG")
        _add_acquisition(info, model=device or "unknown")
        meta = info.desc().append_child("emgrec")
        meta.append_child_value("scale_to_uV", repr(float(scale_to_uV)))
        meta.append_child_value("raw_units", units)
        meta.append_child_value("raw_dtype", np.dtype(dtype).name)
        super().__init__(info, lsl_to_host_offset() if offset is None else offset, np_dtype)

    def push_chunk(self, chunk: EmgChunk) -> None:
        self.push(chunk.x, chunk.t)


class LandmarkOutlet(_Outlet):
    """63-channel MoCap outlet (x, y, z in mm per MediaPipe landmark), one sample per frame."""

    def __init__(self, name: str, rate_hz: float = 0.0, stream_type: str = "MoCap", source_id: str = "",
                 offset: float | None = None, description: str = "MediaPipe world landmarks"):
        pylsl = _pylsl()
        info = pylsl.StreamInfo(name, stream_type, len(LANDMARK_CHANNELS), float(rate_hz or pylsl.IRREGULAR_RATE),
                                pylsl.cf_float32, source_id or f"emgrec-mocap-{name}")
        _add_channels(info, LANDMARK_CHANNELS, "millimeters",
                      [f"Position{c[-1]}" for c in LANDMARK_CHANNELS],
                      extra={"marker": [n for n in LANDMARK_NAMES for _ in "XYZ"]})
        _add_acquisition(info, model=description, coordinates="relative to the hand, MediaPipe world axes")
        super().__init__(info, lsl_to_host_offset() if offset is None else offset, np.float32)

    def push_pose(self, world_mm: np.ndarray, t_host: float | np.ndarray) -> None:
        """world_mm: (21, 3) or (n, 21, 3) or (n, 63) millimetres; t_host: host seconds (scalar or (n,))."""
        x = np.asarray(world_mm, dtype=np.float32).reshape(-1, len(LANDMARK_CHANNELS))
        self.push(x, np.broadcast_to(np.asarray(t_host, dtype=np.float64), (len(x),)))

    def push_landmarks(self, lm: Landmarks) -> None:
        self.push_pose(lm.world_mm, lm.t)


class MarkerOutlet(_Outlet):
    """String markers, irregular rate (type "Markers")."""

    def __init__(self, name: str, source_id: str = "", offset: float | None = None):
        pylsl = _pylsl()
        info = pylsl.StreamInfo(name, "Markers", 1, pylsl.IRREGULAR_RATE, pylsl.cf_string,
                                source_id or f"emgrec-markers-{name}")
        _add_channels(info, ["marker"], "", "Marker")
        super().__init__(info, lsl_to_host_offset() if offset is None else offset, object)

    def push_marker(self, text: str, t_host: float | None = None) -> None:
        t = now() if t_host is None else float(t_host)
        with self._lock:
            self.outlet.push_sample([str(text)], t - self.offset)
            self.samples_pushed += 1


class LslOutlets(CaptureListenerBase):
    """Publishes a capture's EMG, landmarks and state on LSL, as one of its listeners.

    capture: anything with ``emg`` (an :class:`EmgSource`: rate, channel names, units, scale, dtype),
    optional ``camera`` (``fps``) and ``add_listener``/``remove_listener`` taking a
    :class:`~recorder.core.types.CaptureListener` (a :class:`~recorder.capture.engine.Capture`). Events used:
    ``on_emg``, ``on_landmarks``, and as markers ``on_recording`` (``state:recording``),
    ``on_device_state`` (``state:emg:streaming``), ``on_error`` (``error:MESSAGE``), ``on_marker``
    (``marker:TEXT``) and ``on_label`` (``label:NAME:on`` when a segment opens, ``label:NAME:off`` at
    its end), each stamped with the event's host time.
    name: stream name prefix; streams are NAME-EMG, NAME-Hand, NAME-Predictions, NAME-Markers.
    Predictions are pushed by whoever makes them (:meth:`push_prediction`), e.g. ``recorder.live.predictor``.
    """

    def __init__(self, capture, name: str = "emgrec", emg: bool = True, landmarks: bool = True,
                 predictions: bool = False, markers: bool = True):
        self.capture = capture
        self.name = name
        self.offset = lsl_to_host_offset()
        src = capture.emg
        fps = float(getattr(getattr(capture, "camera", None), "fps", 0.0) or 0.0)
        self.emg = self.hand = self.predictions = self.markers = None
        if emg:
            self.emg = EmgOutlet(f"{name}-EMG", src.sample_rate_hz, list(src.channel_names), src.units,
                                 src.scale_to_uV, src.dtype, source_id=f"{name}-emg-{src.kind}",
                                 device=src.kind, offset=self.offset)
        if landmarks and getattr(capture, "landmarks", None) is not None:
            self.hand = LandmarkOutlet(f"{name}-Hand", fps, source_id=f"{name}-hand", offset=self.offset)
        if predictions:
            self.predictions = LandmarkOutlet(f"{name}-Predictions", 0.0, source_id=f"{name}-pred",
                                              offset=self.offset, description="model prediction")
        if markers:
            self.markers = MarkerOutlet(f"{name}-Markers", source_id=f"{name}-markers", offset=self.offset)
        self._attached = False

    def outlets(self) -> list[_Outlet]:
        return [o for o in (self.emg, self.hand, self.predictions, self.markers) if o is not None]

    def attach(self) -> "LslOutlets":
        if not self._attached:
            self.capture.add_listener(self)
            self._attached = True
        return self

    def detach(self) -> None:
        if self._attached:
            remove = getattr(self.capture, "remove_listener", None)
            if remove is not None:
                remove(self)
            self._attached = False

    def close(self) -> None:
        """Stop listening and destroy the outlets (receivers see the streams end)."""
        self.detach()
        self.emg = self.hand = self.predictions = self.markers = None

    def __enter__(self) -> "LslOutlets":
        return self.attach()

    def __exit__(self, *exc) -> None:
        self.close()

    def push_prediction(self, y: np.ndarray, t_host: float | np.ndarray) -> None:
        """y: (63,), (21, 3) or (n, 63) predicted wrist-relative mm; t_host: host seconds."""
        if self.predictions is not None:
            self.predictions.push_pose(y, t_host)

    def push_marker(self, text: str, t_host: float | None = None) -> None:
        if self.markers is not None:
            self.markers.push_marker(text, t_host)

    def push_live(self, pred) -> None:
        """Publish a :class:`recorder.live.predictor.LivePrediction`: a pose to the predictions outlet (at the
        time of the window's newest sample), a gesture as a marker ``prediction:NAME``."""
        if pred is None:
            return
        if pred.pose is not None:
            self.push_prediction(pred.pose, pred.t)
        elif pred.label is not None:
            self.push_marker(f"prediction:{pred.label}", pred.t)

    # -- capture events: run on acquisition threads; push only (liblsl copies into its own queue)
    def on_emg(self, chunk: EmgChunk) -> None:
        if self.emg is not None:
            self.emg.push_chunk(chunk)

    def on_landmarks(self, lm: Landmarks) -> None:
        if self.hand is not None:
            self.hand.push_landmarks(lm)

    def on_recording(self, state: RecordingState) -> None:
        self.push_marker(f"state:{state}")

    def on_device_state(self, state: DeviceState) -> None:
        self.push_marker(f"state:emg:{state.value}")

    def on_error(self, message: str) -> None:
        self.push_marker(f"error:{message}")

    def on_marker(self, t_host: float, text: str) -> None:
        self.push_marker(f"marker:{text}", t_host)

    def on_label(self, name: str, t_host: float, opened: bool) -> None:
        self.push_marker(f"label:{name}:{'on' if opened else 'off'}", t_host)


# ------------------------------------------------------------------------------------------------
# Inlet
# ------------------------------------------------------------------------------------------------

def list_streams(wait_s: float = 1.0) -> list[dict]:
    """Streams visible on the network: dicts of name, type, channels, rate_hz, format, source_id, host."""
    pylsl = _pylsl()
    fmt_names = {pylsl.cf_float32: "float32", pylsl.cf_double64: "double64", pylsl.cf_string: "string",
                 pylsl.cf_int32: "int32", pylsl.cf_int16: "int16", pylsl.cf_int8: "int8",
                 pylsl.cf_int64: "int64"}
    out = []
    for info in pylsl.resolve_streams(wait_time=wait_s):
        out.append({"name": info.name(), "type": info.type(), "channels": info.channel_count(),
                    "rate_hz": info.nominal_srate(), "format": fmt_names.get(info.channel_format(), "?"),
                    "source_id": info.source_id(), "host": info.hostname()})
    return out


def _xpath_literal(text: str) -> str:
    """``text`` as an XPath 1.0 string literal (quotes included), whatever quotes it holds."""
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    return "concat(" + ", \"'\", ".join(f"'{part}'" for part in text.split("'")) + ")"


def _resolve(name: str | None, stream_type: str | None, timeout: float, warn_duplicates: bool = False):
    """First stream whose name and/or type equal the given ones, or None after ``timeout`` seconds.

    liblsl matches with an XPath predicate; the values are quoted as XPath literals here (pylsl's
    resolve_byprop pastes them in unquoted, so a name such as ``x' or type='EMG`` selected another
    stream), and the answers are checked again in Python. warn_duplicates: also log a warning when
    several streams carry the name (e.g. two copies of one acquisition program); the first is used."""
    pylsl = _pylsl()
    conds = []
    if name:
        conds.append(f"name={_xpath_literal(name)}")
    if stream_type or not name:
        conds.append(f"type={_xpath_literal(stream_type or 'EMG')}")
    pred = " and ".join(conds)

    def matches(i) -> bool:
        return (not name or i.name() == name) and (not stream_type or i.type() == stream_type)

    found = [i for i in pylsl.resolve_bypred(pred, 1, timeout) if matches(i)]
    if found and name and warn_duplicates:
        # A second outlet with the name answers the query as fast as the first did.
        seen = {i.uid(): i for i in found + [i for i in pylsl.resolve_bypred(pred, 2, 0.5) if matches(i)]}
        if len(seen) > 1:
            log.warning("%d LSL streams are named %r (%s); using %s on %s. Give the outlets distinct "
                        "names to choose.", len(seen), name,
                        ", ".join(f"{i.source_id() or '-'} on {i.hostname()}" for i in seen.values()),
                        found[0].source_id() or "-", found[0].hostname())
    return found[0] if found else None


def _desc_text(info, *path: str) -> str:
    el = info.desc()
    for p in path:
        el = el.child(p)
        if el.empty():
            return ""
    return el.first_child().value() if not el.first_child().empty() else ""


class LslEmgSource(EmgSource):
    """An LSL EMG stream as the armband (spec ``lsl:NAME``).

    The stream is resolved in the constructor (so its rate and channels are known before
    :meth:`start`); no match within ``resolve_timeout_s`` raises :class:`DeviceNotFound`.

    Sample times (``timestamps``):
    - "stream": the stream's own timestamps + ``time_correction()`` (remote LSL clock -> our LSL
      clock) + the LSL->host offset. Best when the sender stamps samples well (LSL outlets of other
      acquisition programs, our own EMG outlet which pushes fitted sample times).
    - "fit": ignore them and fit the sample count to our arrival times (:class:`SampleClock`), as the
      serial drivers do.
    - "auto" (default): "stream" while the timestamps are trustworthy -- increasing, with a median
      spacing within 20 % of the nominal period -- and "fit" for good after the first chunk that is not
      (e.g. a sender that stamps whole chunks with one time). Irregular-rate streams always use "stream".

    A stream that disappears (LostError) or falls silent for ``lost_after_s`` counts as lost: the state
    goes to "reconnecting" and the stream is resolved again (same name/type) until it returns or
    :meth:`stop` is called. A jump in the stream timestamps larger than 1.5 sample periods is counted
    as lost samples (so the session records a gap).
    """

    kind = "lsl"

    def __init__(self, name: str | None = None, stream_type: str | None = None, resolve_timeout_s: float = 5.0,
                 timestamps: str = "auto", reconnect: bool = True, pull_timeout_s: float = 0.1,
                 lost_after_s: float = 2.0, max_chunk: int = 1024):
        if timestamps not in ("auto", "stream", "fit"):
            raise SourceConfigError(f"timestamps must be 'auto', 'stream' or 'fit', got {timestamps!r}")
        pylsl = _pylsl()
        self.stream_name = name or None
        self.stream_type = stream_type or (None if name else "EMG")
        self.resolve_timeout_s = resolve_timeout_s
        self.reconnect = reconnect
        self.pull_timeout_s = pull_timeout_s
        self.lost_after_s = lost_after_s
        self.max_chunk = max_chunk
        self.timestamps = timestamps
        info = _resolve(self.stream_name, self.stream_type, resolve_timeout_s, warn_duplicates=True)
        if info is None:
            what = " and ".join(f"{k} {v!r}" for k, v in (("name", self.stream_name), ("type", self.stream_type)) if v)
            raise DeviceNotFound(f"no LSL stream with {what} found within {resolve_timeout_s:g} s; "
                                 f"is the outlet running and reachable? (`emgrec lsl list` shows visible streams)")
        if info.channel_format() == pylsl.cf_string:
            raise DeviceNotFound(f"LSL stream {info.name()!r} carries strings, not EMG samples")
        try:
            # A resolved info holds only the header; the XML desc (channel labels, scale) needs an inlet.
            # (Open later inlets from the resolved info: the full one lacks the connection details.)
            probe = pylsl.StreamInlet(info, recover=False)
            full = probe.info(timeout=resolve_timeout_s)
            del probe
        except (pylsl.util.TimeoutError, pylsl.util.LostError) as e:
            raise DeviceNotFound(f"LSL stream {info.name()!r} was found but did not answer: {e}") from e
        self._info = info
        info = full
        rate = info.nominal_srate()
        self.irregular = rate <= 0
        # An irregular stream has no nominal rate; 1 kHz only sizes buffers and the unused fit.
        self.sample_rate_hz = float(rate) if rate > 0 else 1000.0
        labels = info.get_channel_labels() or []
        n = info.channel_count()
        self.channel_names = [lab or f"ch{i + 1}" for i, lab in enumerate(labels)] if len(labels) == n \
            else [f"ch{i + 1}" for i in range(n)]
        raw_units = _desc_text(info, "emgrec", "raw_units")
        units = info.get_channel_units() or []
        self.units = raw_units or (units[0] if units and units[0] else "counts")
        scale = _desc_text(info, "emgrec", "scale_to_uV")
        if scale:
            self.scale_to_uV = float(scale)
        elif self.units.lower() in ("microvolts", "uv", "µv"):
            self.scale_to_uV = 1.0
        else:
            self.scale_to_uV = float("nan")
        self.dtype = _numpy_dtype(info.channel_format())
        super().__init__()  # makes self.clock from sample_rate_hz, so after the attributes above
        self._offset = lsl_to_host_offset()
        self.time_source = "fit" if timestamps == "fit" and not self.irregular else "stream"
        self._last_t: float | None = None
        self._resync = False
        self._status.info.update(self._stream_info(info))

    def _stream_info(self, info) -> dict:
        return {"stream_name": info.name(), "stream_type": info.type(), "source_id": info.source_id(),
                "hostname": info.hostname(), "time_source": self.time_source}

    def _run(self) -> None:
        self._set_state(DeviceState.CONNECTING)
        info = self._info
        while not self._stop.is_set():
            try:
                self._stream(info)
                return
            except DeviceLost as e:
                if not self.reconnect:
                    raise
                log.warning("LSL stream %s lost: %s", self.stream_name or self.stream_type, e)
                self._set_state(DeviceState.RECONNECTING, str(e))
            info = None
            # resolve blocks up to its timeout (no polling); short so stop() is honoured promptly.
            while info is None and not self._stop.is_set():
                info = _resolve(self.stream_name, self.stream_type, 0.5)
            if info is not None and info.channel_count() != self.n_channels:
                raise DeviceLost(f"LSL stream {info.name()!r} came back with {info.channel_count()} channels "
                                 f"instead of {self.n_channels}")
            if info is not None:
                with self._status_lock:
                    self._status.info.update(self._stream_info(info))
            self._resync = True

    def _stream(self, info) -> None:
        """Open an inlet on ``info`` and pull until stop (returns) or loss (raises DeviceLost)."""
        pylsl = _pylsl()
        name = info.name()
        # recover=False: a vanished outlet raises LostError, so we can report it and re-resolve.
        inlet = pylsl.StreamInlet(info, max_buflen=30, recover=False, processing_flags=pylsl.proc_none)
        try:
            try:
                inlet.open_stream(timeout=self.resolve_timeout_s)
                tc = inlet.time_correction(timeout=self.resolve_timeout_s)
            except (pylsl.util.TimeoutError, pylsl.util.LostError) as e:
                raise DeviceLost(f"could not open LSL stream {name!r}: {e}") from e
            tc_at = last_data = now()
            streaming = False
            while not self._stop.is_set():
                try:
                    # min_samples=1: block up to the timeout for the first sample, then take what is there.
                    x, ts = inlet.pull_chunk(timeout=self.pull_timeout_s, max_samples=self.max_chunk,
                                             min_samples=1, as_numpy=True)
                except pylsl.util.LostError as e:
                    raise DeviceLost(f"LSL stream {name!r} disappeared") from e
                arrival = now()
                if not len(ts):
                    if streaming and not self.irregular and arrival - last_data > self.lost_after_s:
                        # Outlet still there but silent: report it; data resuming flips back to streaming.
                        streaming = False
                        self._set_state(DeviceState.RECONNECTING,
                                        f"no data from LSL stream {name!r} for {arrival - last_data:.1f} s")
                    continue
                last_data = arrival
                if not streaming:
                    streaming = True
                    self._set_state(DeviceState.STREAMING)
                if arrival - tc_at > 1.0:  # instantaneous after the first call; LSL updates it in the background
                    try:
                        tc = inlet.time_correction(timeout=0.5)
                    except pylsl.util.TimeoutError:
                        pass  # keep the previous estimate; it changes by microseconds
                    tc_at = arrival
                self._handle(np.array(x, dtype=self.dtype), np.asarray(ts, dtype=np.float64), tc, arrival)
        finally:
            inlet.close_stream()
            del inlet

    def _trustworthy(self, t: np.ndarray) -> bool:
        if self._last_t is not None and not self._resync and t[0] <= self._last_t:
            return False
        d = np.diff(t)
        if len(d) and (d <= 0).any():
            return False
        if len(d) >= 2:
            period = 1.0 / self.sample_rate_hz
            return abs(float(np.median(d)) - period) < 0.2 * period
        return True

    def _handle(self, x: np.ndarray, ts: np.ndarray, tc: float, arrival: float) -> None:
        """x: (n, C) raw samples; ts: (n,) sender LSL seconds; tc: time correction (s)."""
        t = ts + tc + self._offset  # sender clock -> our LSL clock -> host clock
        if self.time_source == "stream" and self.timestamps == "auto" and not self.irregular \
                and not self._trustworthy(t):
            log.warning("LSL stream %s: timestamps not usable (not increasing or off-rate); "
                        "fitting sample times to arrival instead", self.stream_name or self.stream_type)
            self.time_source = "fit"
            with self._status_lock:
                self._status.info["time_source"] = "fit"
        n = len(x)
        if self.time_source == "fit":
            first = None
            if self._resync:  # a new outlet restarts its count; place it by time (a gap if one was lost)
                first = self.clock.expected_index(arrival, n)
                first = None if first is None else max(first, self._next_index)
            self._emit(x, arrival, first)
        else:
            first = self._next_index
            if self._last_t is not None and not self.irregular:
                period = 1.0 / self.sample_rate_hz
                jump = float(t[0]) - self._last_t
                if jump > 1.5 * period:
                    first += int(round(jump / period)) - 1
            self._emit(x, arrival, first, t=t)
        self._last_t = float(t[-1])
        self._resync = False


def _numpy_dtype(channel_format) -> np.dtype:
    pylsl = _pylsl()
    table = {pylsl.cf_float32: np.float32, pylsl.cf_double64: np.float64, pylsl.cf_int8: np.int8,
             pylsl.cf_int16: np.int16, pylsl.cf_int32: np.int32, pylsl.cf_int64: np.int64}
    if channel_format not in table:
        raise DeviceNotFound(f"unsupported LSL channel format {channel_format}")
    return np.dtype(table[channel_format])
