"""The capture engine: one EMG source, an optional camera and landmark worker, on one clock.

Data flows from the acquisition threads (device reader, camera, landmark worker) into:
- ring buffers the GUI pulls at display rate (:attr:`Capture.emg_buffer`, latest frame/landmarks),
- the session writer while recording (its own queue and thread; never blocks acquisition),
- listeners (:class:`~recorder.core.types.CaptureListener`: one method per event, listed there with
  its thread and argument types), e.g. the LSL outlets or the live model predictor.

Nothing here blocks an acquisition thread for long: the sinks copy into buffers or enqueue.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from pathlib import Path
import numpy as np

from recorder.core.clock import now
from recorder.sources.base import EmgSource
from recorder.core.errors import UsageError
from recorder.sources.factory import open_emg
from recorder.capture.ringbuffer import RingBuffer
from recorder.core.types import (CaptureListener, CaptureListenerBase, DeviceState, DeviceStatus, EmgChunk, Frame,
                                 Landmarks, RecordingState)

log = logging.getLogger(__name__)

__all__ = ["Capture", "CaptureListener", "CaptureListenerBase", "RecordingState"]


class Capture:
    """Runs the parts, fans data out, and records sessions. See the module docstring.

    emg: the EMG source (not yet started). camera / landmarks: optional camera source and
    landmark worker. buffer_s: seconds of EMG kept for display and live prediction.
    subject: the synthetic subject shared by synthetic sources (kept for ground truth), or None.
    """

    #: EMG silent for longer than this when a recording stops is recorded as a gap up to the stop.
    end_silence_s = 0.5

    def __init__(self, emg: EmgSource, camera=None, landmarks=None, buffer_s: float = 30.0,
                 subject=None):
        self.emg = emg
        self.camera = camera
        self.landmarks = landmarks
        self.subject = subject
        self.emg_buffer = RingBuffer(max(1, int(buffer_s * emg.sample_rate_hz)), emg.n_channels)
        self._lock = threading.RLock()
        self._listeners: list[CaptureListener] = []
        self._writer = None
        self._path: Path | None = None
        self._t0: float | None = None
        self._paused_at: float | None = None
        self._paused_total = 0.0
        self._written_frames: deque[int] = deque(maxlen=512)
        self._open_labels: dict[str, float] = {}
        self.labels: list[tuple[float, float, str]] = []   # this recording's segments, host seconds
        self.markers: list[tuple[float, str]] = []
        self._latest_frame: Frame | None = None
        self._latest_lm: Landmarks | None = None
        self._next_index: int | None = None
        self._last_t: float | None = None
        self._last_state: DeviceState | None = None
        self._errors: deque[str] = deque(maxlen=50)
        self._started = False

    # -- construction from user-facing specs ------------------------------------------------------
    @classmethod
    def from_specs(cls, emg: str = "synthetic", camera: str | None = "synthetic",
                   landmarks: str | None = "auto", seed: int = 0, realism: str | dict | None = None,
                   **kwargs) -> "Capture":
        """Build a capture from spec strings (see :func:`recorder.sources.factory.open_emg` and
        :func:`recorder.capture.camera.open_camera`). A synthetic EMG source and a synthetic camera share one
        synthetic subject, so the hand on screen is the hand that makes the EMG. realism: that
        subject's effects (None / "none": ideal, exact; "realistic": every effect, see
        :data:`recorder.sources.synthetic.REALISTIC`; or a dict of switches). The CLI and the app
        default to "realistic" (:data:`recorder.sources.factory.DEMO_REALISM`)."""
        subject = None
        camera = None if camera in (None, "", "none") else str(camera)
        if emg.startswith("synthetic") or camera == "synthetic":
            from recorder.sources.synthetic import SyntheticSubject
            subject = SyntheticSubject(seed=seed, realism=realism)
        src = open_emg(emg, subject=subject, seed=seed)
        cam = lm = None
        try:
            if camera is not None:
                from recorder.capture.camera import open_camera
                cam = open_camera(camera, subject=subject)
                if landmarks not in (None, "", "none", "off"):
                    from recorder.capture.landmarks import LandmarkWorker
                    lm = LandmarkWorker(mode=landmarks)
        except BaseException:
            src.close()
            raise
        return cls(src, cam, lm, subject=subject, **kwargs)

    # -- lifecycle -----------------------------------------------------------------------------------
    def add_listener(self, listener: CaptureListener) -> None:
        """Call ``listener``'s ``on_*`` methods on each event, from worker threads (see
        :class:`~recorder.core.types.CaptureListener`; subclass :class:`CaptureListenerBase`).
        TypeError when it lacks one of the methods (e.g. an old ``fn(kind, payload)`` callable)."""
        if not isinstance(listener, CaptureListener):
            raise TypeError(f"capture listener {listener!r} is not a CaptureListener "
                            "(subclass recorder.capture.engine.CaptureListenerBase)")
        self._listeners.append(listener)

    def remove_listener(self, listener: CaptureListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def start(self, camera: bool = True) -> None:
        """Start every part. camera=False holds the camera back until :meth:`start_camera` (a video
        file or image folder: started after :meth:`start_recording`, its first frame is the
        recording's first instead of being consumed before the recording clock runs)."""
        if self._started:
            return
        self._started = True
        if self.landmarks is not None:
            # The model loads before the camera's first frame (only the synthetic camera's frames
            # carry exact landmarks and need none).
            truth = self.camera is not None and getattr(self.camera, "kind", "") == "synthetic"
            self.landmarks.start(self._on_landmarks, frames_have_truth=truth)
        if self.camera is not None and camera:
            self.camera.start(self._on_frame)
        self.emg.start(self._on_emg, self._on_status)

    def start_camera(self) -> None:
        """Start a camera that :meth:`start` held back (no-op when it runs or ran already)."""
        cam = self.camera
        if cam is not None and getattr(cam, "_thread", None) is None:
            cam.start(self._on_frame)

    def stop(self) -> None:
        """Finish any recording, stop every thread and release devices. Safe to call twice."""
        try:
            self.stop_recording()
        finally:
            for part in (self.emg, self.camera, self.landmarks):
                if part is None:
                    continue
                try:
                    part.stop()
                except Exception as e:  # one part failing to stop must not keep the others running
                    log.exception("stopping %s", part)
                    self._errors.append(f"stopping {type(part).__name__}: {e}")
            close = getattr(self.emg, "close", None)
            if close is not None:
                close()
            self._started = False

    def __enter__(self) -> "Capture":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- recording -----------------------------------------------------------------------------------
    @property
    def recording(self) -> bool:
        return self._writer is not None

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    @property
    def t0(self) -> float | None:
        """Host seconds at which the current recording started (session time zero)."""
        return self._t0

    @property
    def elapsed_s(self) -> float:
        """Recorded seconds, pauses excluded."""
        if self._t0 is None:
            return 0.0
        end = self._paused_at if self._paused_at is not None else now()
        return end - self._t0 - self._paused_total

    @property
    def path(self) -> Path | None:
        return self._path

    def start_recording(self, path, metadata: dict | None = None, overwrite: bool = True,
                        store_video: str = "jpeg") -> None:
        """Start writing a session file at ``path`` (parent folders are created); with ``overwrite``
        False an existing file is refused (FileExistsError).

        store_video: "jpeg" stores every frame's image; "none" keeps frame times and landmarks only."""
        if store_video not in ("jpeg", "none"):
            raise UsageError(f"store_video must be 'jpeg' or 'none', got {store_video!r}")
        from recorder.session.format import SessionWriter
        if self._writer is not None:
            raise RuntimeError(f"already recording to {self._path}")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = dict(metadata or {})
        settings = dict(meta.pop("settings", {}) or {})
        settings.setdefault("emg", self.emg.describe())
        if self.camera is not None:
            settings.setdefault("camera", self.camera.describe())
        if self.landmarks is not None:
            settings.setdefault("landmarks", self.landmarks.stats() | {"mode": getattr(self.landmarks, "mode", "")})
        if self.subject is not None:  # as make_synthetic_session writes it: the truth a test can check against
            settings.setdefault("realism", dict(self.subject.realism))
            settings.setdefault("truth_lag_s", self.subject.true_lag_s)
            settings.setdefault("camera_latency_s", self.subject.camera_latency_s)
        meta["settings"] = settings
        meta.setdefault("device", self.emg.describe())
        t0 = now()
        writer = SessionWriter(path, sample_rate_hz=self.emg.sample_rate_hz,
                               channel_names=list(self.emg.channel_names), units=self.emg.units,
                               scale_to_uV=self.emg.scale_to_uV, emg_dtype=self.emg.dtype, t0=t0,
                               metadata=meta, video=self.camera is not None, overwrite=overwrite,
                               store_images=store_video == "jpeg")
        writer.on_error = self._on_writer_error
        writer.start()
        with self._lock:
            self.labels, self.markers = [], []
            self._written_frames.clear()
            self._paused_at, self._paused_total = None, 0.0
            self._t0, self._path, self._writer = t0, path, writer
        self._recording_state("recording")

    def pause_recording(self) -> None:
        with self._lock:
            if self._writer is not None and self._paused_at is None:
                self._paused_at = now()
        self._recording_state("paused")

    def resume_recording(self) -> None:
        with self._lock:
            if self._writer is None or self._paused_at is None:
                return
            t = now()
            # A pause is a hole in the data: record it as a gap so no training window spans it.
            self._writer.add_gap(self._paused_at, t)
            self._paused_total += t - self._paused_at
            self._paused_at = None
        self._recording_state("recording")

    def stop_recording(self) -> Path | None:
        """Close open labels, finish the file and return its path (None if not recording)."""
        with self._lock:
            writer = self._writer
            if writer is None:
                return None
            t = now()
            closed = [name for name in list(self._open_labels) if self._close_label(name, t)]
            if self._paused_at is not None:
                writer.add_gap(self._paused_at, t)
            elif self._last_t is None or t - self._last_t > self.end_silence_s:
                # The source is down at the end (unplugged, reconnecting, stalled): no later data
                # will mark the hole, so the time since its last sample is a gap now.
                writer.add_gap(self._t0 if self._last_t is None else max(self._last_t, self._t0), t)
            self._writer = None
            self._paused_at = None
        for name in closed:
            self._label_closed(name, t)
        path = writer.close()
        self._recording_state("stopped")
        return path

    def writer_stats(self) -> dict | None:
        w = self._writer
        return None if w is None else w.stats()

    # -- labels and markers --------------------------------------------------------------------------
    def label_on(self, name: str, t_host: float | None = None) -> None:
        """Open a label segment named ``name`` (e.g. on hotkey press)."""
        with self._lock:
            opened = name not in self._open_labels
            t = self._open_labels.setdefault(name, now() if t_host is None else t_host)
        if opened:
            self._label_opened(name, t)

    def label_off(self, name: str, t_host: float | None = None) -> None:
        """Close the open segment ``name`` (e.g. on hotkey release) and store it."""
        with self._lock:
            t = now() if t_host is None else t_host
            closed = self._close_label(name, t)
        if closed:
            self._label_closed(name, t)

    def toggle_label(self, name: str) -> bool:
        """Open ``name`` if closed, close it if open; returns whether it is now open."""
        with self._lock:
            t = now()
            opening = name not in self._open_labels
            if opening:
                self._open_labels[name] = t
            else:
                closed = self._close_label(name, t)
        if opening:
            self._label_opened(name, t)
        elif closed:
            self._label_closed(name, t)
        return opening

    def _label_opened(self, name: str, t: float) -> None:
        if self._writer is not None:   # listeners hear of labels only while recording, like markers
            self._notify(lambda listener: listener.on_label(name, t, True))

    def _label_closed(self, name: str, t_end: float) -> None:
        self._notify(lambda listener: listener.on_label(name, t_end, False))

    @property
    def active_labels(self) -> list[str]:
        return list(self._open_labels)

    # Listeners are called after the lock is released (a listener may wait on a thread that calls
    # back into the capture): the helpers below run under it and say what to announce.
    def _close_label(self, name: str, t_end: float) -> bool:
        """Under the lock: close the open segment ``name`` at ``t_end`` and store it; True if stored."""
        start = self._open_labels.pop(name, None)
        return start is not None and self._store_label(start, t_end, name)

    def _store_label(self, start_host: float, end_host: float, name: str) -> bool:
        """Under the lock: store a finished segment, clipped to the recording; True if stored."""
        if self._writer is None or end_host <= self._t0:
            return False
        start_host = max(start_host, self._t0)
        if end_host <= start_host:
            return False
        self.labels.append((start_host, end_host, name))
        self._writer.add_label(start_host, end_host, name)
        return True

    def add_label(self, start_host: float, end_host: float, name: str) -> None:
        """Store a finished segment (host seconds); clipped to the recording; ignored when not recording."""
        with self._lock:
            stored = self._store_label(start_host, end_host, name)
        if stored:
            self._label_closed(name, end_host)

    def add_marker(self, text: str, t_host: float | None = None) -> None:
        with self._lock:
            t = now() if t_host is None else t_host
            if self._writer is None:
                return
            self.markers.append((t, text))
            self._writer.add_marker(t, text)
        self._notify(lambda listener: listener.on_marker(t, text))

    # -- live data for the GUI -------------------------------------------------------------------
    def latest_frame(self) -> Frame | None:
        return self._latest_frame

    def latest_landmarks(self) -> Landmarks | None:
        return self._latest_lm

    def status(self) -> dict:
        cam = lm = None
        if self.camera is not None:
            cam = self.camera.status()
        if self.landmarks is not None:
            lm = self.landmarks.stats()
        rec = None
        w = self._writer
        if w is not None:
            rec = dict(w.stats(), path=str(self._path), elapsed_s=self.elapsed_s, paused=self.paused)
        return {"emg": self.emg.status(), "camera": cam, "landmarks": lm, "recording": rec,
                "errors": list(self._errors)}

    # -- sinks (acquisition threads) --------------------------------------------------------------
    def _notify(self, call) -> None:
        """call(listener) for each listener, e.g. ``lambda l: l.on_emg(chunk)``."""
        for listener in list(self._listeners):
            try:
                call(listener)
            except Exception:  # a broken listener must not stop acquisition
                log.exception("capture listener %r failed", listener)

    def _recording_state(self, state: RecordingState) -> None:
        self._notify(lambda listener: listener.on_recording(state))

    def _error(self, message: str) -> None:
        self._errors.append(message)
        self._notify(lambda listener: listener.on_error(message))

    def _on_emg(self, chunk: EmgChunk) -> None:
        self.emg_buffer.push(chunk.t, chunk.x.astype(np.float32, copy=False))
        gap = None
        if self._next_index is not None and chunk.first_index > self._next_index:
            gap = (self._last_t, float(chunk.t[0]))
        self._next_index = chunk.first_index + len(chunk)
        self._last_t = float(chunk.t[-1])
        w = self._writer
        if w is not None and self._paused_at is None:
            if chunk.t[0] < self._t0:  # samples taken before the recording started
                keep = chunk.t >= self._t0
                if not keep.any():
                    return self._notify(lambda listener: listener.on_emg(chunk))
                k = int(np.argmax(keep))
                chunk_w = EmgChunk(chunk.x[k:], chunk.t[k:], chunk.first_index + k, chunk.arrival)
            else:
                chunk_w = chunk
            w.add_emg(chunk_w)
            if gap is not None and gap[1] > self._t0:
                w.add_gap(max(gap[0], self._t0), gap[1])
        self._notify(lambda listener: listener.on_emg(chunk))

    def _on_status(self, st: DeviceStatus) -> None:
        if st.state != self._last_state:
            self._last_state = st.state
            state = st.state
            self._notify(lambda listener: listener.on_device_state(state))
            if st.state in (DeviceState.ERROR, DeviceState.RECONNECTING) and st.last_error:
                self._error(f"{self.emg.kind}: {st.last_error}")

    def _on_frame(self, frame: Frame) -> None:
        self._latest_frame = frame
        if self.landmarks is not None:
            self.landmarks.submit(frame)
        w = self._writer
        if w is not None and self._paused_at is None and frame.t >= self._t0:
            self._written_frames.append(frame.index)
            w.add_frame(frame)
        self._notify(lambda listener: listener.on_frame(frame))

    def _on_landmarks(self, frame: Frame, lm: Landmarks) -> None:
        self._latest_lm = lm
        w = self._writer
        if w is not None and lm.frame_index in self._written_frames:
            w.add_landmarks(lm)
        self._notify(lambda listener: listener.on_landmarks(lm))

    def _on_writer_error(self, exc: BaseException) -> None:
        # Disk full or similar: the writer stopped and kept the file valid; devices keep streaming.
        self._error(f"recording stopped: could not write {self._path}: {exc}")
