"""Data records that cross thread boundaries. Shapes and units are part of the contract.

All times are seconds on the one host clock (:func:`recorder.core.clock.now`, i.e. ``time.monotonic``),
unless a field says "session seconds" (seconds since the session's ``t0``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Callable, Literal, Protocol, runtime_checkable

import numpy as np

N_LANDMARKS = 21
#: MediaPipe landmark index ranges per finger (wrist = 0 is the root).
FINGERS: dict[str, tuple[int, ...]] = {
    "thumb": (1, 2, 3, 4),
    "index": (5, 6, 7, 8),
    "middle": (9, 10, 11, 12),
    "ring": (13, 14, 15, 16),
    "pinky": (17, 18, 19, 20),
}
#: MediaPipe HAND_CONNECTIONS as (a, b) landmark index pairs, for drawing skeletons.
HAND_CONNECTIONS: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 4),
    (0, 5), (5, 6), (6, 7), (7, 8),
    (5, 9), (9, 10), (10, 11), (11, 12),
    (9, 13), (13, 14), (14, 15), (15, 16),
    (13, 17), (0, 17), (17, 18), (18, 19), (19, 20),
)
#: Joint names of the seed project's joined CSV (Leap Motion naming), in MediaPipe landmark order:
#: wrist, then per finger the four joints from the hand outwards (MediaPipe CMC/MCP, MCP/PIP,
#: IP/DIP, TIP map to Leap Proximal, Intermediate, Distal, Tip). Shared by the seed CSV export and
#: the joint-table import (``recorder.export.files``, ``recorder.imports.pose``).
SEED_JOINT_NAMES: tuple[str, ...] = ("Wrist",) + tuple(
    f"{finger} {joint}" for finger in ("Thumb", "Index", "Middle", "Ring", "Pinky")
    for joint in ("Proximal", "Intermediate", "Distal", "Tip"))
assert len(SEED_JOINT_NAMES) == N_LANDMARKS


@dataclass(slots=True)
class EmgChunk:
    """A block of consecutive EMG samples from one device.

    x: (n, C) raw device units (int8 counts for Myo raw, uint16 for Myo 50 Hz, int32 counts for
       Cyton); multiply by the source's ``scale_to_uV`` for microvolts.
    t: (n,) float64 host-clock seconds of each sample, from the sample count fitted to arrival
       times (see :class:`recorder.core.clock.SampleClock`).
    first_index: device-continuous sample index of x[0] (counts lost samples, so a gap shows as a
       jump between chunks).
    arrival: host-clock seconds at which the bytes carrying the last sample were read.
    """

    x: np.ndarray
    t: np.ndarray
    first_index: int
    arrival: float

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass(slots=True)
class Frame:
    """One camera frame.

    image: (H, W, 3) uint8 BGR (OpenCV order).
    t: host-clock seconds at capture.
    index: frame counter of the source (0, 1, ...).
    truth_world_mm: (21, 3) float32 exact world landmarks (mm) when the source knows them
        (the synthetic camera); None for real cameras.
    truth_image: (21, 3) float32 exact normalised image landmarks, or None.
    detected: what a MediaPipe-like detector reports for this frame when the source emulates one
        (the synthetic camera of a realistic subject: noisy landmarks, no hand, the wrong hand);
        None when the truth is the answer. Its t and frame_index are the frame's.
    """

    image: np.ndarray
    t: float
    index: int
    truth_world_mm: np.ndarray | None = None
    truth_image: np.ndarray | None = None
    detected: Landmarks | None = None


@dataclass(slots=True)
class Landmarks:
    """Hand landmarks of one frame; NaN everywhere when no hand was found.

    image: (21, 3) float32 MediaPipe normalised image coordinates (x, y in [0, 1], z relative).
    world_mm: (21, 3) float32 MediaPipe world landmarks in millimetres.
    score: hand presence / handedness confidence in [0, 1]; 0 when no hand.
    handedness: "Left", "Right" or "" when no hand.
    t: host-clock seconds of the frame these landmarks belong to.
    frame_index: index of that frame.
    latency_s: time from frame capture to landmarks ready.
    """

    image: np.ndarray
    world_mm: np.ndarray
    score: float
    handedness: str
    t: float
    frame_index: int
    latency_s: float = 0.0

    @property
    def has_hand(self) -> bool:
        return bool(np.isfinite(self.world_mm[0, 0]))

    @staticmethod
    def empty(t: float, frame_index: int, latency_s: float = 0.0) -> "Landmarks":
        nan = np.full((N_LANDMARKS, 3), np.nan, dtype=np.float32)
        return Landmarks(nan, nan.copy(), 0.0, "", t, frame_index, latency_s)


class DeviceState(str, enum.Enum):
    IDLE = "idle"
    CONNECTING = "connecting"
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"
    #: Connected and "streaming", but nothing usable arrives (unknown handles, a repeated sample
    #: number, garbage): the driver records a gap and reconnects.
    STALLED = "stalled"
    STOPPED = "stopped"
    ERROR = "error"


@dataclass(slots=True)
class DeviceStatus:
    """A snapshot of a device's health, cheap to copy and safe to hand to another thread."""

    state: DeviceState = DeviceState.IDLE
    samples_received: int = 0
    samples_lost: int = 0
    bad_packets: int = 0
    reconnects: int = 0
    stalls: int = 0
    measured_rate_hz: float = 0.0
    battery_pct: int | None = None
    last_error: str = ""
    info: dict = field(default_factory=dict)


# -- capture events --------------------------------------------------------------------------------

#: What :meth:`CaptureListener.on_recording` reports: a recording started or resumed, was paused, or ended.
RecordingState = Literal["recording", "paused", "stopped"]


@runtime_checkable
class CaptureListener(Protocol):
    """What :class:`recorder.capture.engine.Capture` calls on each of its listeners (``add_listener``).

    One method per event, called on the thread named below, never on the GUI thread's behalf: a
    listener copies or enqueues and returns (it runs inside acquisition) and must not touch widgets.
    An exception a method raises is logged and dropped. Subclass :class:`CaptureListenerBase` to
    implement only the events wanted.

    on_emg(chunk: EmgChunk): every EMG chunk (x (n, C) device units, t (n,) host seconds), on the
        EMG source's reader thread, whether recording or not.
    on_frame(frame: Frame): every camera frame (image (H, W, 3) uint8 BGR, t host seconds), on
        the camera thread.
    on_landmarks(lm: Landmarks): the hand landmarks of one frame (world_mm (21, 3) mm, NaN when
        no hand), on the landmark worker's thread.
    on_error(message: str): a device error (reader thread) or a recording stopped by a write
        failure (the session writer's thread); also kept in ``Capture.status()["errors"]``.
    on_recording(state: RecordingState): "recording" (started or resumed), "paused" or "stopped",
        on the thread that called ``start_recording``/``pause_recording``/``resume_recording``/
        ``stop_recording`` (the GUI thread or a worker), after the change.
    on_device_state(state: DeviceState): the EMG source's state changed (e.g. STREAMING ->
        RECONNECTING), on its reader thread; reported once per change.
    on_marker(t_host: float, text: str): a marker stored in the recording (host seconds), on the
        thread that called ``Capture.add_marker``.
    on_label(name: str, t_host: float, opened: bool): a gesture label segment opened
        (``opened=True``, hotkey pressed) or stored (``False``, at its end time) while recording,
        on the thread that called ``label_on``/``label_off``/``toggle_label``/``add_label``.
    """

    def on_emg(self, chunk: EmgChunk) -> None: ...

    def on_frame(self, frame: Frame) -> None: ...

    def on_landmarks(self, lm: Landmarks) -> None: ...

    def on_error(self, message: str) -> None: ...

    def on_recording(self, state: RecordingState) -> None: ...

    def on_device_state(self, state: DeviceState) -> None: ...

    def on_marker(self, t_host: float, text: str) -> None: ...

    def on_label(self, name: str, t_host: float, opened: bool) -> None: ...


class CaptureListenerBase:
    """A :class:`CaptureListener` whose methods do nothing: override only the events wanted."""

    def on_emg(self, chunk: EmgChunk) -> None:
        pass

    def on_frame(self, frame: Frame) -> None:
        pass

    def on_landmarks(self, lm: Landmarks) -> None:
        pass

    def on_error(self, message: str) -> None:
        pass

    def on_recording(self, state: RecordingState) -> None:
        pass

    def on_device_state(self, state: DeviceState) -> None:
        pass

    def on_marker(self, t_host: float, text: str) -> None:
        pass

    def on_label(self, name: str, t_host: float, opened: bool) -> None:
        pass


# -- progress of long jobs -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Progress:
    """How far a long job (export, import scan, redetect, a GUI worker) has got.

    done: work done, in the job's own unit (files, frames, or a fraction with total 1.0).
    total: the same unit's total, or None when unknown (a busy indicator).
    text: what is being done now, for a status line ("" when nothing to say).
    """

    done: float
    total: float | None = None
    text: str = ""

    @classmethod
    def of_fraction(cls, fraction: float, text: str = "") -> "Progress":
        """Progress as a fraction of 1, clipped to [0, 1]."""
        return cls(min(1.0, max(0.0, float(fraction))), 1.0, text)

    @property
    def fraction(self) -> float | None:
        """done / total clipped to [0, 1]; None when the total is unknown, 1.0 when it is 0."""
        if self.total is None:
            return None
        if self.total <= 0:
            return 1.0
        return min(1.0, max(0.0, self.done / self.total))


#: A job's progress callback: called on the job's thread with each :class:`Progress`.
ProgressCallback = Callable[[Progress], None]
