"""Data records that cross thread boundaries. Shapes and units are part of the contract.

All times are seconds on the one host clock (:func:`recorder.clock.now`, i.e. ``time.monotonic``),
unless a field says "session seconds" (seconds since the session's ``t0``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

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
#: the joint-table import (``recorder.export``, ``recorder.pose_import``).
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
       times (see :class:`recorder.clock.SampleClock`).
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
    """

    image: np.ndarray
    t: float
    index: int
    truth_world_mm: np.ndarray | None = None
    truth_image: np.ndarray | None = None


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
