"""A synthetic subject: a kinematic right hand that moves, and the forearm EMG its muscles would make.

It is the embedded default source of the project (demo, tests, benchmarks run without hardware), so
it must be learnable: the EMG really carries the pose.

Model, in three layers, all pure functions of host time ``t`` (seconds) given the seed:

1. **Pose parameters** ``q(t)`` (7 values: flexion of thumb, index, middle, ring, pinky in [0, 1]
   (0 straight, 1 fully curled), finger spread in [0, 1], thumb opposition in [0, 1]) follow a looping,
   seeded schedule of segments (rest, open/close, single-finger flexions, gestures), each a
   minimum-jerk transition into a target pose followed by a hold of ~1-3 s, plus slow smooth jitter.
2. **Kinematics**: 21 MediaPipe landmarks in mm from adult bone lengths (scaled per subject), wrist at
   the origin, axes as MediaPipe's (x right, y down, z away from the camera); the palm faces the
   camera with the fingers up, and the whole hand turns slowly about the wrist.
3. **Muscles and EMG**: 10 activations (flexor and extensor of each finger) from the flexion level
   and velocity; each channel's EMG is band-limited noise (20-90 Hz at 200 Hz sampling, up to
   450 Hz at higher rates) whose standard deviation is ``gain * (M @ a) + baseline`` with a fixed,
   seeded, positive mixing ``M`` (n_channels x 10), plus broadband baseline noise, in Myo int8 counts.

The noise is a sum of sinusoids with seeded frequencies and phases, not a stateful filter, so
``emg(t)`` is stateless: any t array (uneven, drifting, overlapping or out of order) gives the same
values for the same times, and consecutive calls are continuous by construction.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from recorder.core.clock import now
from recorder.sources.base import EmgSource, SourceConfigError
from recorder.core.types import N_LANDMARKS

FINGER_NAMES = ("thumb", "index", "middle", "ring", "pinky")
#: Pose parameter names, the columns of :meth:`SyntheticSubject.pose_params`.
POSE_PARAMS = ("flex_thumb", "flex_index", "flex_middle", "flex_ring", "flex_pinky", "spread", "opposition")
#: Muscle names, the columns of :meth:`SyntheticSubject.activations`.
FINGER_MUSCLES = tuple(f"{f}_{kind}" for f in FINGER_NAMES for kind in ("flexor", "extensor"))
#: Wrist muscles as (agonist, antagonist) of the three wrist angles of :meth:`wrist_rotation`
#: (flexion/extension about x, supination/pronation about y, radial/ulnar deviation about z).
#: The hand's orientation must show in the EMG, as it does in a real forearm: otherwise a model
#: could never predict wrist-relative landmarks that turn with the hand.
WRIST_MUSCLES = ("wrist_flexor", "wrist_extensor", "supinator", "pronator", "radial_deviator", "ulnar_deviator")
MUSCLES = FINGER_MUSCLES + WRIST_MUSCLES
#: Muscles on the volar (palm) side of the forearm; the others lie on the dorsal side.
_VOLAR = frozenset(m for m in MUSCLES if m.endswith("_flexor") or m in ("pronator", "ulnar_deviator"))

# Target poses: (thumb, index, middle, ring, pinky flexion, spread, thumb opposition).
POSES: dict[str, tuple[float, ...]] = {
    "rest": (0.25, 0.22, 0.25, 0.28, 0.30, 0.35, 0.25),
    "open": (0.0, -0.04, -0.04, -0.04, -0.04, 1.0, 0.0),
    "close": (0.75, 0.88, 0.9, 0.9, 0.9, 0.2, 0.6),
    "flex_thumb": (0.95, 0.22, 0.25, 0.28, 0.30, 0.35, 0.9),
    "flex_index": (0.25, 0.95, 0.25, 0.28, 0.30, 0.35, 0.25),
    "flex_middle": (0.25, 0.3, 0.95, 0.35, 0.30, 0.35, 0.25),
    "flex_ring": (0.25, 0.25, 0.4, 0.95, 0.45, 0.35, 0.25),
    "flex_pinky": (0.25, 0.22, 0.25, 0.4, 0.95, 0.35, 0.25),
    "fist": (0.85, 1.0, 1.0, 1.0, 1.0, 0.1, 0.7),
    "point": (0.8, 0.0, 1.0, 1.0, 1.0, 0.2, 0.7),
    "peace": (0.8, 0.0, 0.0, 1.0, 1.0, 1.0, 0.7),
    "thumb_up": (0.0, 1.0, 1.0, 1.0, 1.0, 0.1, 0.0),
    "pinch": (0.35, 0.5, 0.1, 0.1, 0.1, 0.5, 0.6),
    "palm": (0.0, 0.0, 0.0, 0.0, 0.0, 0.15, 0.1),
}
SINGLE_FINGERS = tuple(f"flex_{f}" for f in FINGER_NAMES)
GESTURES = ("fist", "point", "peace", "thumb_up", "pinch", "palm")

# Adult right hand, mm (before the per-subject scale). Finger MCP positions relative to the wrist,
# with the thumb on +x (a right hand seen palm-on by an unmirrored camera).
_MCP = {"index": (27.0, -85.0, 0.0), "middle": (7.0, -88.0, -1.0),
        "ring": (-12.0, -82.0, 1.0), "pinky": (-29.0, -72.0, 4.0)}
_PHALANGES = {"index": (39.0, 23.0, 19.0), "middle": (44.0, 27.0, 20.0),
              "ring": (41.0, 26.0, 20.0), "pinky": (32.0, 19.0, 18.0)}
_THUMB_CMC = (22.0, -28.0, -8.0)
_THUMB_BONES = (42.0, 31.0, 27.0)  # metacarpal, proximal, distal (to the tip)
# In-plane direction of each finger (degrees toward +x) at spread 0 and its change at spread 1.
_FINGER_ANGLE = {"index": (3.0, 9.0), "middle": (0.0, 1.0), "ring": (-3.0, -8.0), "pinky": (-7.0, -17.0)}
# Joint flexion at full flexion (degrees): MCP, PIP, DIP.
_FLEX_DEG = (85.0, 100.0, 65.0)

#: Realism switches (see :func:`realism_options`); every effect is off in the default subject so the
#: existing figures and tests stay as they were; the preset "realistic" turns all of them on.
REALISM_OFF: dict = {
    "rotation": False,        # band turned around the forearm per session (up to one electrode)
    "placement": False,       # band moved along the forearm per session (muscle weights change)
    "gain_drift": False,      # per-channel gain wander and one contact change within the session
    "fatigue": False,         # median frequency falls, amplitude rises over the session
    "hum_counts": 0.0,        # 50 Hz powerline hum amplitude (counts)
    "artefacts": False,       # motion artefacts: brief low-frequency swings on all channels
    "emd_s": 0.0,             # electromechanical delay: EMG leads the movement by this (s)
    "camera_latency": False,  # frames stamped 30-120 ms (per session) + jitter after what they show
    "landmark_noise_mm": 0.0,  # independent Gaussian landmark noise (std, mm, every coordinate)
    "landmark_jitter": 0.0,   # MediaPipe's measured jitter (MEDIAPIPE_JITTER_*) times this; 1 = a 300 px hand
    "dropouts": 0.0,          # fraction of frames without a hand (in short runs)
    "wrong_hand": 0.0,        # fraction of frames reported as the other (mirrored) hand
}
REALISTIC: dict = {**REALISM_OFF, "rotation": True, "placement": True, "gain_drift": True, "fatigue": True,
                   "hum_counts": 2.0, "artefacts": True, "emd_s": 0.05, "camera_latency": True,
                   "landmark_jitter": 1.0, "dropouts": 0.03, "wrong_hand": 0.005}

#: MediaPipe Hands' own jitter, std (mm) per axis x / y / z of the wrist-relative world landmarks 1-20,
#: measured by bench/landmark_jitter.py on the 44 one-hand HaGRID photos (docs/landmark_jitter.md):
#: a 300 px hand in a 640 x 480 frame that moves up to +-8 px and +-4 % in scale between frames, video
#: mode. Most of it is common to the frame (every finger landmark shifted together relative to the
#: wrist; z, the depth, is worst); frame-to-frame it is uncorrelated (lag-1 -0.17), so fresh draws per
#: frame. A still hand gives about a third of this; a 180 px moving hand 1.17 x (landmark_jitter 1.2).
MEDIAPIPE_JITTER_COMMON_MM = np.array([0.96, 1.17, 3.14], np.float32)
MEDIAPIPE_JITTER_LANDMARK_MM = np.array([0.82, 0.80, 1.43], np.float32)


def realism_options(realism: str | dict | None) -> dict:
    """None / "none" -> every effect off; "realistic" -> all on; a dict -> REALISM_OFF updated with it
    (a dict may start from the preset with {"preset": "realistic", ...})."""
    if realism is None or realism == "none":
        return dict(REALISM_OFF)
    if realism == "realistic":
        return dict(REALISTIC)
    if isinstance(realism, dict):
        r = dict(realism)
        base = realism_options(r.pop("preset", None))
        unknown = set(r) - set(REALISM_OFF)
        if unknown:
            raise SourceConfigError(f"unknown realism option(s) {sorted(unknown)}; known: {sorted(REALISM_OFF)}")
        return {**base, **r}
    raise SourceConfigError(f"realism must be None, 'none', 'realistic' or a dict, got {realism!r}")


_TRANSITION_S = 0.5
_VEL_SCALE = 2.0  # flexion units per second that count as a full-speed movement


def _min_jerk(tau: np.ndarray) -> np.ndarray:
    tau = np.clip(tau, 0.0, 1.0)
    return tau ** 3 * (10.0 - 15.0 * tau + 6.0 * tau ** 2)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _bend(d: np.ndarray, b: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate unit directions d (n, 3) toward reference directions b (n, 3) by angle (n,) radians."""
    perp = _unit(b - np.sum(b * d, axis=-1, keepdims=True) * d)
    a = angle[:, None]
    return np.cos(a) * d + np.sin(a) * perp


class SyntheticSubject:
    """A seeded synthetic person wearing an armband in front of a camera.

    seed: selects the schedule order and hold times, hand size, mixing matrix and noise.
    n_channels: EMG channels (8 for a Myo).
    t_origin: host-clock seconds at which the subject's motion starts (subject time 0); default now.
    sample_rate_hz: sampling rate :meth:`emg` assumes when no ``sample_rate_hz`` is given; sets the noise band.
    realism: None (an ideal armband and camera), "realistic" or a dict of :data:`REALISM_OFF` switches.
    session: which session of this subject (band placement, drifts, camera latency are drawn per
    session from (seed, session); the person, i.e. muscles, hand and schedule, stays the same).
    """

    n_muscles = len(MUSCLES)

    def __init__(self, seed: int = 0, n_channels: int = 8, t_origin: float | None = None,
                 sample_rate_hz: float = 200.0, realism: str | dict | None = None, session: int = 0):
        if n_channels < 1:
            raise SourceConfigError(f"n_channels must be >= 1, got {n_channels}")
        self.seed = int(seed)
        self.n_channels = int(n_channels)
        self.t_origin = now() if t_origin is None else float(t_origin)
        self.sample_rate_hz = float(sample_rate_hz)
        rng = np.random.default_rng([self.seed, 0x5EED])
        self.hand_scale = float(rng.uniform(0.92, 1.08))
        self._build_schedule(rng)
        # Slow smooth jitter: per pose parameter and per wrist angle, three sinusoids each.
        self._jit_f = rng.uniform(0.05, 0.5, size=(10, 3))
        self._jit_p = rng.uniform(0, 2 * np.pi, size=(10, 3))
        # Spread and thumb opposition come from intrinsic hand muscles that a forearm band barely
        # sees, so their (EMG-invisible) wobble stays small.
        self._jit_amp = np.array([0.03] * 5 + [0.02, 0.02]
                                 + [math.radians(a) for a in (5.0, 7.0, 4.0)])
        # Armband: electrodes evenly around the forearm; each muscle lies under some angle.
        # Flexors on the volar side, extensors on the dorsal side, so the mixing is positive,
        # smooth around the band, and different for every muscle.
        theta = np.arange(self.n_channels) * 2 * np.pi / self.n_channels
        phi = np.empty(self.n_muscles)
        # Stratified angles (shuffled per subject) so no two muscles sit on the same spot.
        volar = np.array([m in _VOLAR for m in MUSCLES])
        for side, offset in ((volar, 0.0), (~volar, np.pi)):
            k = int(side.sum())
            phi[side] = offset + np.pi * (rng.permutation(k) + rng.uniform(0.25, 0.75, k)) / k
        kappa = rng.uniform(4.0, 7.0, self.n_muscles)
        weight = rng.uniform(0.6, 1.0, self.n_muscles)
        self.realism = realism_options(realism)
        self.session = int(session)
        srng = np.random.default_rng([self.seed, self.session, 0xBA4D])  # this session's band and drifts
        # Every per-session draw is made whatever the switches, so turning one effect off leaves the
        # others' values as they were.
        rot = float(srng.uniform(-1.0, 1.0)) * 2 * np.pi / self.n_channels
        w_place, k_place = np.exp(srng.normal(0.0, 0.2, self.n_muscles)), np.exp(srng.normal(0.0, 0.1, self.n_muscles))
        self.band_rotation_rad = rot if self.realism["rotation"] else 0.0
        theta = theta + self.band_rotation_rad
        if self.realism["placement"]:
            # Further along the forearm some muscles lie deeper, others nearer the skin.
            weight, kappa = weight * w_place, kappa * k_place
        m = np.exp(kappa * (np.cos(theta[:, None] - phi[None, :]) - 1.0)) * weight + 0.05
        self.mixing = m  # (C, M), positive
        # Scale so that every muscle fully active gives std ~36 counts on the loudest channel
        # (peaks ~3.5 std stay inside int8), and rest a few counts.
        self.emg_gain = 36.0 / float(m.sum(axis=1).max())
        self.emg_baseline_std = 2.5
        # Carrier/baseline sinusoid parameters as fractions of the band, so they scale with the rate.
        k = 32
        self._car_u = rng.uniform(0, 1, size=(self.n_channels, k))
        self._car_p = rng.uniform(0, 2 * np.pi, size=(self.n_channels, k))
        self._base_u = rng.uniform(0, 1, size=(self.n_channels, 16))
        self._base_p = rng.uniform(0, 2 * np.pi, size=(self.n_channels, 16))
        # Gain drift: three slow sinusoids per channel (periods 1-5 min), +-15 %; one contact change
        # (a channel's gain steps by x0.6-0.8 within the first 10 min, then recovers slowly).
        self._drift_f = srng.uniform(1 / 300, 1 / 60, size=(self.n_channels, 3))
        self._drift_p = srng.uniform(0, 2 * np.pi, size=(self.n_channels, 3))
        self._contact = (int(srng.integers(self.n_channels)), float(srng.uniform(60, 540)), float(srng.uniform(0.6, 0.8)))
        # Motion artefacts: 20 events per 10 min loop (start s, channel gains, sign).
        self._art_t = np.sort(srng.uniform(0, 600, 20))
        self._art_g = srng.uniform(0.5, 1.0, size=(20, self.n_channels)) * srng.choice([-1, 1], size=(20, 1))
        self._hum_p = float(srng.uniform(0, 2 * np.pi))
        #: Camera latency of this session (s): frames are stamped this long (+- 10 ms jitter) after
        #: the moment they show. With the EMD it makes the EMG-to-video lag of the session.
        latency = float(srng.uniform(0.03, 0.12))
        self.camera_latency_s = latency if self.realism["camera_latency"] else 0.0
        # Where the hand sits in the image (wanders slowly).
        self._img_f = rng.uniform(0.03, 0.12, size=2)
        self._img_p = rng.uniform(0, 2 * np.pi, size=2)
        # Demo commands (perform): ((host time, pose name or None = back to the schedule), ...).
        # Replaced whole, never mutated: the EMG and camera threads read it without a lock.
        self._commands: tuple[tuple[float, str | None], ...] = ()

    # -- demo ----------------------------------------------------------------------------------------
    def perform(self, name: str | None, t: float | None = None) -> bool:
        """Demo hook: from host time ``t`` (default now) the subject moves to pose ``name`` (a
        :data:`POSES` key) and holds it, EMG and hand alike, until ``perform(None)`` returns it to
        its schedule. Returns False (and changes nothing) for a name with no pose."""
        if name is not None and name not in POSES:
            return False
        t = now() if t is None else float(t)
        cmds = [c for c in self._commands if c[0] <= t][-7:]
        self._commands = tuple(cmds + [(t, name)])
        return True

    def _commanded(self, t: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Pose parameters (n, 7) with the demo commands applied over the scheduled ``q``."""
        cmds = self._commands
        if not cmds:
            return q
        times = np.array([c[0] for c in cmds])
        k = np.searchsorted(times, t, side="right") - 1   # the command in force at each t (-1: none)
        out = q.copy()
        jit = self._jitter(t)[:, :7]

        def regime(j: int, rows: np.ndarray) -> np.ndarray:
            name = cmds[j][1] if j >= 0 else None
            return q[rows] if name is None else np.asarray(POSES[name]) + jit[rows]

        for j in np.unique(k[k >= 0]):
            rows = np.nonzero(k == j)[0]
            s = _min_jerk((t[rows] - times[j]) / _TRANSITION_S)[:, None]
            a, b = regime(j, rows), regime(j - 1, rows)
            out[rows] = b + (a - b) * s
        return out

    # -- schedule ----------------------------------------------------------------------------------
    def _build_schedule(self, rng: np.random.Generator) -> None:
        names: list[str] = ["rest"]
        blocks = []
        oc = []
        for _ in range(3):
            oc += ["open", "close"]
        blocks.append(oc + ["rest"])
        fingers = list(SINGLE_FINGERS)
        rng.shuffle(fingers)
        blocks.append([x for f in fingers for x in (f, "rest")])
        gestures = list(GESTURES)
        rng.shuffle(gestures)
        blocks.append([x for g in gestures for x in (g, "rest")])
        order = rng.permutation(len(blocks))
        for i in order:
            names += blocks[i]
        starts, targets, t = [], [], 0.0
        for name in names:
            hold = float(rng.uniform(1.0, 3.0)) if name not in ("open", "close") else float(rng.uniform(0.8, 1.5))
            target = np.array(POSES[name], dtype=np.float64)
            target[:5] += rng.normal(0.0, 0.03, 5)  # the same gesture is never quite the same pose
            starts.append(t)
            targets.append(target)
            t += _TRANSITION_S + hold
        self.period_s = t
        self._names = names
        self._starts = np.asarray(starts)
        self._targets = np.asarray(targets)  # (S, 7)
        #: One loop of the schedule: (start_s, end_s, name) in subject seconds; a segment starts
        #: with its 0.5 s transition into the pose and ends when the next transition starts.
        self.schedule: list[tuple[float, float, str]] = [
            (float(s), float(e), n) for s, e, n in zip(self._starts, list(self._starts[1:]) + [t], names)]

    def segments_between(self, t0: float, t1: float) -> list[tuple[float, float, str]]:
        """Schedule segments overlapping host-time [t0, t1], as (start, end, name) in host seconds
        (clipped to the interval); used to write gesture labels into a session."""
        out = []
        if t1 <= t0:
            return out
        k = math.floor((t0 - self.t_origin) / self.period_s)
        while True:
            base = self.t_origin + k * self.period_s
            if base >= t1:
                break
            for s, e, name in self.schedule:
                a, b = base + s, base + e
                if b > t0 and a < t1:
                    out.append((max(a, t0), min(b, t1), name))
            k += 1
        return out

    def _segment_index(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        u = np.mod(np.asarray(t, dtype=np.float64) - self.t_origin, self.period_s)
        idx = np.searchsorted(self._starts, u, side="right") - 1
        return idx, u

    def gesture(self, t) -> list[str]:
        """Schedule segment name at each host time t (n,)."""
        idx, _ = self._segment_index(np.atleast_1d(t))
        return [self._names[i] for i in idx]

    # -- pose --------------------------------------------------------------------------------------
    def _jitter(self, t: np.ndarray) -> np.ndarray:
        s = t[:, None, None] - self.t_origin
        return np.sum(np.sin(2 * np.pi * self._jit_f * s + self._jit_p), axis=-1) / 3.0 * self._jit_amp

    def pose_params(self, t) -> np.ndarray:
        """(n, 7) pose parameters (see ``POSE_PARAMS``) at host times t (n,) seconds."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        idx, u = self._segment_index(t)
        cur = self._targets[idx]
        prev = self._targets[idx - 1]  # idx 0 wraps to the last segment of the loop
        s = _min_jerk((u - self._starts[idx]) / _TRANSITION_S)[:, None]
        q = prev + (cur - prev) * s + self._jitter(t)[:, :7]
        q = self._commanded(t, q)
        q[:, :5] = np.clip(q[:, :5], -0.08, 1.05)
        q[:, 5:] = np.clip(q[:, 5:], 0.0, 1.0)
        return q

    def wrist_rotation(self, t) -> np.ndarray:
        """(n, 3, 3) rotation of the hand about the wrist at host times t."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        ang = self._jitter(t)[:, 7:]
        rx, ry, rz = ang[:, 0], ang[:, 1], ang[:, 2]
        cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
        one, zero = np.ones_like(rx), np.zeros_like(rx)
        Rx = np.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], -1).reshape(-1, 3, 3)
        Ry = np.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(-1, 3, 3)
        Rz = np.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], -1).reshape(-1, 3, 3)
        return Rz @ Ry @ Rx

    def pose_world_mm(self, t) -> np.ndarray:
        """(n, 21, 3) float32 landmarks in mm, MediaPipe order and axes, wrist at the origin."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        q = self.pose_params(t)
        n = len(t)
        sc = self.hand_scale
        out = np.zeros((n, N_LANDMARKS, 3))
        normal = np.broadcast_to(np.array([0.0, 0.0, -1.0]), (n, 3))  # palm side faces the camera
        # Fingers: planar chains in the plane of the finger direction and the palm normal.
        for fi, name in enumerate(FINGER_NAMES[1:], start=1):
            f = q[:, fi]
            base_deg, spread_deg = _FINGER_ANGLE[name]
            ang = np.radians(base_deg + spread_deg * q[:, 5])
            d0 = np.stack([np.sin(ang), -np.cos(ang), np.zeros(n)], -1)
            p = np.broadcast_to(np.array(_MCP[name]) * sc, (n, 3)).copy()
            j0 = 4 * fi + 1
            out[:, j0] = p
            total = np.zeros(n)
            for k, (bone, deg) in enumerate(zip(_PHALANGES[name], _FLEX_DEG)):
                total = total + np.radians(deg) * f
                d = np.cos(total)[:, None] * d0 + np.sin(total)[:, None] * normal
                p = p + d * bone * sc
                out[:, j0 + k + 1] = p
        # Thumb: the metacarpal swings from abducted (in the palm plane) to opposed (toward the camera
        # and across the palm); MCP and IP flex toward the palm centre.
        ft, opp = q[:, 0], q[:, 6]
        cmc = np.array(_THUMB_CMC) * sc
        out[:, 1] = cmc
        alpha = np.radians(38.0 - 12.0 * opp - 10.0 * np.clip(ft, 0, None))
        d = np.stack([np.sin(alpha), -np.cos(alpha), np.zeros(n)], -1)
        d = _bend(d, normal, np.radians(10.0 + 45.0 * opp))
        across = np.broadcast_to(_unit(np.array([-0.8, -0.2, -0.6])), (n, 3))
        p = np.broadcast_to(cmc, (n, 3)).copy()
        for k, (bone, deg) in enumerate(zip(_THUMB_BONES, (0.0, 50.0, 75.0))):
            if deg:
                d = _bend(d, across, np.radians(deg) * ft)
            p = p + d * bone * sc
            out[:, 2 + k] = p
        R = self.wrist_rotation(t)
        return np.einsum("nij,nkj->nki", R, out).astype(np.float32)

    def image_landmarks(self, t, width: int = 640, height: int = 480,
                        world: np.ndarray | None = None) -> np.ndarray:
        """(n, 21, 3) float32 MediaPipe-style normalised image landmarks at host times t.

        A pinhole camera (focal length 0.95 x width px) looks at the hand from ~450 mm; x, y are in
        [0, 1] of the image, z is depth relative to the wrist on roughly the same scale as x
        (MediaPipe's convention). ``world`` reuses landmarks already computed for these times.
        """
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        w = self.pose_world_mm(t).astype(np.float64) if world is None else np.asarray(world, np.float64)
        focal = 0.95 * width
        dist = 450.0 / (0.5 + 0.5 * min(1.0, 1.33 * height / width))  # keep the hand in frame
        s = t - self.t_origin
        wob = np.sin(2 * np.pi * self._img_f * s[:, None] + self._img_p)  # (n, 2)
        cx = 0.5 * width + 0.06 * width * wob[:, 0]
        cy = 0.80 * height + 0.04 * height * wob[:, 1]
        z = dist + w[..., 2]
        x = cx[:, None] + focal * w[..., 0] / z
        y = cy[:, None] + focal * w[..., 1] / z
        out = np.stack([x / width, y / height, w[..., 2] * focal / dist / width], -1)
        return out.astype(np.float32)

    # -- muscles and EMG ---------------------------------------------------------------------------
    def activations(self, t) -> np.ndarray:
        """(n, 16) muscle activations in [0, 1] (columns ``MUSCLES``) at host times t.

        Holding a finger flexed beyond its relaxed position needs its flexor, holding it extended
        needs its extensor, and moving it needs a burst of the agonist; a little tone always stays.
        """
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        h = 0.005
        f = self.pose_params(t)[:, :5]
        v = (self.pose_params(t + h)[:, :5] - self.pose_params(t - h)[:, :5]) / (2 * h)
        relaxed = np.array(POSES["rest"][:5])
        flex_hold = np.clip(f - relaxed, 0, None) / (1.0 - relaxed)
        ext_hold = np.clip(relaxed - f, 0, None) / relaxed
        a = np.empty((len(t), self.n_muscles))
        nf = len(FINGER_MUSCLES)
        a[:, 0:nf:2] = 0.04 + 0.8 * flex_hold + 0.3 * np.clip(v, 0, None) / _VEL_SCALE
        a[:, 1:nf:2] = 0.04 + 0.8 * ext_hold + 0.3 * np.clip(-v, 0, None) / _VEL_SCALE + 0.1 * flex_hold
        # Wrist: holding an angle away from neutral needs its agonist, in proportion to the angle.
        w = self._jitter(t)[:, 7:] / (0.6 * self._jit_amp[7:])
        a[:, nf::2] = 0.04 + 0.3 * np.clip(w, 0, None)
        a[:, nf + 1::2] = 0.04 + 0.3 * np.clip(-w, 0, None)
        return np.clip(a, 0.0, 1.0)

    @property
    def true_lag_s(self) -> float:
        """EMG-to-video lag of this session (s): electromechanical delay + mean camera latency."""
        return float(self.realism["emd_s"]) + self.camera_latency_s

    def channel_gain(self, t) -> np.ndarray:
        """(n, C) multiplicative gain of each electrode at host times t (1 without gain drift/fatigue)."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        g = np.ones((len(t), self.n_channels))
        s = t - self.t_origin
        if self.realism["gain_drift"]:
            w = np.sin(2 * np.pi * self._drift_f[None] * s[:, None, None] + self._drift_p[None]).sum(-1) / 3.0
            g *= np.exp(0.15 * w)
            ch, t_step, f = self._contact
            after = np.clip(s - t_step, 0, None)
            g[:, ch] *= np.where(s >= t_step, 1.0 - (1.0 - f) * np.exp(-after / 120.0), 1.0)
        if self.realism["fatigue"]:
            g *= (1.0 + 0.1 * np.clip(s / 600.0, 0, 1.5))[:, None]
        return g

    def emg_envelope(self, t) -> np.ndarray:
        """(n, C) standard deviation of the EMG (counts) at host times t, without the baseline.
        With an electromechanical delay the EMG at t carries the activation of the movement at t + emd."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        env = self.emg_gain * self.activations(t + float(self.realism["emd_s"])) @ self.mixing.T
        if self.realism["gain_drift"] or self.realism["fatigue"]:
            env = env * self.channel_gain(t)
        return env

    @staticmethod
    def _band(sample_rate_hz: float) -> tuple[float, float]:
        """EMG band (Hz) for a sampling rate: 20-90 Hz at 200 Hz, up to 20-450 Hz."""
        return 20.0, min(450.0, 0.45 * sample_rate_hz)

    def _noise(self, s: np.ndarray, u: np.ndarray, ph: np.ndarray, lo: float, hi: float) -> np.ndarray:
        """Unit-variance band-limited noise (n, C) as a sum of sinusoids at subject seconds s."""
        freq = lo + u * (hi - lo)  # (C, K)
        k = freq.shape[1]
        out = np.empty((len(s), freq.shape[0]))
        step = max(1, 200_000 // freq.size)  # bound the (n, C, K) temporary
        for i in range(0, len(s), step):
            arg = 2 * np.pi * freq[None] * s[i:i + step, None, None] + ph[None]
            out[i:i + step] = np.sin(arg).sum(-1)
        return out * math.sqrt(2.0 / k)

    def emg(self, t, sample_rate_hz: float | None = None) -> np.ndarray:
        """(n, C) float64 EMG in Myo int8 counts (clipped to +-127) at host times t (n,) seconds.

        sample_rate_hz: the sampling rate of t (sets the noise band, so nothing aliases); default
        ``sample_rate_hz``. Stateless: the value at a time never depends on earlier calls.
        """
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        rate = self.sample_rate_hz if sample_rate_hz is None else float(sample_rate_hz)
        lo, hi = self._band(rate)
        s = t - self.t_origin
        env = self.emg_envelope(t)
        if self.realism["fatigue"]:
            # Falling median frequency: the carrier band narrows toward its low edge over the session
            # (to 80 % by 10 min); a time-warp of the carrier phase, so the signal stays continuous.
            k = 0.2 / 600.0
            s_c = np.where(s > 0, np.log1p(k * np.clip(s, 0, None)) / k, s)
            x = env * self._noise(s_c, self._car_u, self._car_p, lo, hi)
        else:
            x = env * self._noise(s, self._car_u, self._car_p, lo, hi)
        x += self.emg_baseline_std * self._noise(s, self._base_u, self._base_p, 2.0, 0.45 * rate)
        if self.realism["hum_counts"]:
            x += float(self.realism["hum_counts"]) * np.sin(2 * np.pi * 50.0 * s + self._hum_p)[:, None]
        if self.realism["artefacts"]:
            # 300 ms half-sine swings of up to 25 counts (cable tug, electrode lift).
            u = np.mod(s, 600.0)
            for t_a, g in zip(self._art_t, self._art_g):
                d = u - t_a
                on = (d >= 0) & (d < 0.3)
                if on.any():
                    x[on] += 25.0 * np.sin(np.pi * d[on] / 0.3)[:, None] * g[None]
        return np.clip(x, -127.0, 127.0)

    __call__ = emg  # an emulator's ``generator(t)``


class CameraObservation(NamedTuple):
    """What the synthetic camera and a MediaPipe-like detector give for n frames (see :class:`CameraEffects`)."""

    shown_t: np.ndarray       # (n,) host seconds of the hand each frame shows (its stamp - latency - jitter)
    world_mm: np.ndarray      # (n, 21, 3) float32 exact landmarks (mm) of the hand shown: the frame's truth
    image: np.ndarray         # (n, 21, 3) float32 exact normalised image landmarks of the hand shown
    det_world_mm: np.ndarray  # (n, 21, 3) float32 what the detector reports: noisy, mirrored on wrong-hand frames
    det_image: np.ndarray     # (n, 21, 3) float32 the same in normalised image coordinates
    hand: np.ndarray          # (n,) bool: the detector found a hand (False: a dropout)
    wrong: np.ndarray         # (n,) bool: reported as the other hand (handedness "Left")


class CameraEffects:
    """The camera and landmark-detector effects of a subject's realism switches, in one place: the
    live :class:`~recorder.capture.camera.SyntheticCamera` and the offline
    :func:`~recorder.imports.synthetic_sessions.make_synthetic_session` both call :meth:`observe`.

    - ``camera_latency``: a frame stamped t shows the hand at ``t - subject.camera_latency_s`` +- 10 ms
      (uniform jitter per frame); this is the camera (image and truth both show that moment).
    - ``landmark_noise_mm``: Gaussian noise (std, mm, per coordinate; the wrist stays at the origin) on
      the reported world landmarks, the image landmarks projected from them.
    - ``landmark_jitter``: MediaPipe's measured jitter times this factor, on the same landmarks: per
      frame one shift of landmarks 1-20 relative to the wrist (std MEDIAPIPE_JITTER_COMMON_MM per
      axis) plus a draw per landmark (MEDIAPIPE_JITTER_LANDMARK_MM).
    - ``dropouts``: that fraction of frames has no hand, in runs of 5 frames (~150 ms at 30 fps).
    - ``wrong_hand``: that fraction of frames is reported as the other hand: mirrored across the
      image's vertical axis (x -> -x in mm, x -> 1 - x in the image), handedness "Left".
    - ``hand_dropout`` (not a realism switch; make_synthetic_session's): single frames without a hand.

    rng: the draws, made in a fixed order per call (latency jitter, noise, landmark jitter, hand_dropout,
    dropouts, wrong hand)
    and only for the effects that are on (hand_dropout always draws). runs_across_calls: a dropout run
    that starts near the end of one call continues into the next (a live camera observes one frame at
    a time); False cuts runs at each call's end, as make_synthetic_session always did, so the sessions
    it writes stay the same.
    """

    def __init__(self, subject: "SyntheticSubject", rng: np.random.Generator, hand_dropout: float = 0.0,
                 runs_across_calls: bool = True):
        self.subject = subject
        self.rng = rng
        self.hand_dropout = float(hand_dropout)
        self.runs_across_calls = bool(runs_across_calls)
        self._run_starts = np.zeros(0, bool)  # dropout run starts of the last 4 frames observed

    @property
    def detector_effects(self) -> bool:
        """True when what the detector reports can differ from the exact landmarks of the frame."""
        r = self.subject.realism
        return bool(r["landmark_noise_mm"] or r["landmark_jitter"] or r["dropouts"] or r["wrong_hand"]
                    or self.hand_dropout)

    def observe(self, t, width: int, height: int) -> CameraObservation:
        """Frames stamped at host times t (n,) by a width x height camera: see :class:`CameraObservation`."""
        subject, real, rng = self.subject, self.subject.realism, self.rng
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        n = len(t)
        shown = t
        if real["camera_latency"]:
            shown = t - subject.camera_latency_s - rng.uniform(-0.01, 0.01, n)
        world = subject.pose_world_mm(shown)
        det_world = world
        if real["landmark_noise_mm"]:
            det_world = world + rng.normal(0.0, float(real["landmark_noise_mm"]), world.shape).astype(np.float32)
            det_world[:, 0] = 0.0
        if real["landmark_jitter"]:
            k = float(real["landmark_jitter"])
            common = rng.normal(0.0, 1.0, (n, 1, 3)) * (k * MEDIAPIPE_JITTER_COMMON_MM)
            own = rng.normal(0.0, 1.0, (n, 20, 3)) * (k * MEDIAPIPE_JITTER_LANDMARK_MM)
            det_world = det_world.copy() if det_world is world else det_world
            det_world[:, 1:] += (common + own).astype(np.float32)
        image = subject.image_landmarks(shown, width, height, world=world)
        det_image = subject.image_landmarks(shown, width, height, world=det_world) if det_world is not world else image
        drop = rng.random(n) < self.hand_dropout
        if real["dropouts"]:  # runs of 5 frames (a hand lost for ~150 ms at 30 fps)
            starts = rng.random(n) < real["dropouts"] / 5
            m = len(self._run_starts)
            drop |= np.convolve(np.concatenate([self._run_starts, starts]), np.ones(5))[m:m + n] > 0
            if self.runs_across_calls:
                self._run_starts = np.concatenate([self._run_starts, starts])[-4:]
        wrong = (rng.random(n) < float(real["wrong_hand"])) if real["wrong_hand"] else np.zeros(n, bool)
        if wrong.any():
            det_world = det_world.copy() if det_world is world else det_world
            det_image = det_image.copy() if det_image is image else det_image
            det_world[wrong, :, 0] *= -1
            det_image[wrong, :, 0] = 1.0 - det_image[wrong, :, 0]
        return CameraObservation(shown, world, image, det_world, det_image, ~drop, wrong)


class SyntheticEmgSource(EmgSource):
    """An in-process synthetic armband (no serial port) at any rate and channel count.

    Emits a chunk every ``chunk_s`` seconds (default 10 ms) from its own thread; sample k of the
    stream is taken at host time ``t_start + k / sample_rate_hz`` (see :meth:`truth_times`), and its
    value is ``subject.emg(t)``. Values are nominally microvolts (``scale_to_uV`` = 1); with
    ``dtype=np.int16`` they are rounded to integer counts of 1 uV.
    """

    kind = "synthetic"

    def __init__(self, subject: SyntheticSubject | None = None, sample_rate_hz: float = 2000.0,
                 n_channels: int = 16, dtype=np.float32, chunk_s: float = 0.01, seed: int = 0):
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.int16)):
            raise SourceConfigError(f"synthetic source dtype must be float32 or int16, got {self.dtype}")
        self.sample_rate_hz = float(sample_rate_hz)
        if subject is None:
            subject = SyntheticSubject(seed=seed, n_channels=n_channels, sample_rate_hz=self.sample_rate_hz)
        elif subject.n_channels != n_channels:
            raise SourceConfigError(f"subject has {subject.n_channels} channels, source asked for {n_channels}")
        self.subject = subject
        self.channel_names = [f"ch{i + 1}" for i in range(n_channels)]
        self.units = "uV" if self.dtype.kind == "f" else "counts"
        self.scale_to_uV = 1.0
        self.chunk_s = float(chunk_s)
        self.t_start: float | None = None
        super().__init__()
        self._status.info = {"seed": subject.seed, "dtype": self.dtype.name}

    def truth_times(self, first_index: int, n: int) -> np.ndarray:
        """(n,) float64 host seconds at which samples first_index .. first_index + n - 1 were taken."""
        if self.t_start is None:
            raise RuntimeError("truth_times() before the source started")
        return self.t_start + (first_index + np.arange(n, dtype=np.float64)) / self.sample_rate_hz

    def _run(self) -> None:
        from recorder.core.types import DeviceState
        self._set_state(DeviceState.STREAMING)
        self.t_start = t_start = now()
        sent = 0
        deadline = t_start
        while True:
            deadline += self.chunk_s
            if self._sleep(max(0.0, deadline - now())):
                return
            arrival = now()
            # Every sample taken at or before now (index k is taken at t_start + k / rate).
            due = int((arrival - t_start) * self.sample_rate_hz) + 1 - sent
            if due <= 0:
                continue
            t = self.truth_times(sent, due)
            x = self.subject.emg(t, sample_rate_hz=self.sample_rate_hz)
            if self.dtype.kind == "i":
                x = np.round(x)
            self._emit(x.astype(self.dtype), arrival, first_index=sent)
            sent += due
            if arrival > deadline + 1.0:  # fell far behind (suspended host): do not spin to catch up
                deadline = arrival
