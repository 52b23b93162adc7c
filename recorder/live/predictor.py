"""Live prediction: EMG chunks in, the current hand pose (or gesture) out, at display rate.

:class:`LivePredictor` keeps the newest ``window_n`` samples in a preallocated ring (raw device
units; the model folder's normalisation runs inside the model, exactly as offline, so live and
offline predictions of the same window are identical). A model with a per-session input scale
(``ModelMeta.session_norm``) gets the stream divided by the same causal scale as offline
(:class:`recorder.dataset.session_norm.CausalScaler`, from the first sample pushed: the live
"session" starts with the predictor, or at ``reset``), and is not ready before its warm-up. ``push`` is cheap and may be called from the
acquisition thread; ``predict`` runs the network (about a millisecond for the small models on a
CPU) and is meant for one worker polling at ~30 Hz (:class:`recorder.live.runner.LiveRunner`, the
loop the app and ``emgrec lsl`` share). Both are thread-safe.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from recorder.core.clock import now
from recorder.core.errors import EmgrecError
from recorder.model.folder import LoadedModel, load_model
from recorder.core.types import EmgChunk, N_LANDMARKS

log = logging.getLogger(__name__)


class LiveInputError(EmgrecError, ValueError):
    """The stream does not fit the model (channels, rate)."""


@dataclass(slots=True)
class LivePrediction:
    """One prediction.

    pose: (21, 3) float32 mm, wrist-relative (task "pose"), else None.
    probs: (K,) class probabilities (task "gesture"), else None; label: the most probable class.
    t: host seconds of the newest sample in the window; age_s: now - t at the end of inference
    (how stale the prediction is); latency_s: inference time alone.
    """

    pose: np.ndarray | None
    probs: np.ndarray | None
    label: str | None
    t: float
    latency_s: float
    age_s: float


class LivePredictor:
    """model_dir: a model folder (or a loaded model). threads: torch intra-op threads for inference
    (1 keeps a GUI process responsive; None leaves torch's setting alone). traced: run a TorchScript
    trace of the network (see :meth:`_trace`; falls back to the module itself if tracing fails or
    its output differs)."""

    def __init__(self, model: str | Path | LoadedModel, threads: int | None = 1, device: str = "cpu",
                 traced: bool = True):
        self.model = model if isinstance(model, LoadedModel) else load_model(model, device=device)
        self.device = torch.device(device)
        self.model.module.to(self.device).eval()
        self.threads = None if threads is None else int(threads)
        self._thread_cfg = threading.local()
        self._configure_thread()
        self.window_n = self.model.window_n
        self.n_channels = len(self.model.channel_names)
        self.sample_rate_hz = self.model.sample_rate_hz
        self.task = self.model.task
        if self.model.meta.is_angles:
            # The preview draws a 21-landmark hand; an angle model has no positions to draw.
            raise LiveInputError(f"{self.model.path}: a joint-angle model; the live preview shows landmark (63-value) "
                             f"pose models and gesture models")
        self.class_names = self.model.class_names
        self._forward = self._trace(self.model.module) if traced else self.model.module
        self.traced = self._forward is not self.model.module
        # Ring of 2 * window: the newest window is always one contiguous slice (no wrap copy).
        self._ring = np.zeros((2 * self.window_n, self.n_channels), np.float32)
        self._pos = 0  # next write slot in [0, window_n)
        self._filled = 0  # samples since start or since the last gap
        self._t_last = float("nan")
        self._next_index: int | None = None
        self._lock = threading.Lock()
        self._scaler = None
        self._warmup = 0
        sn = self.model.meta.session_norm
        if sn is not None:
            from recorder.dataset.session_norm import CausalScaler, warmup_samples
            self._scaler = CausalScaler(self.n_channels, self.sample_rate_hz, sn)
            self._warmup = warmup_samples(sn, self.sample_rate_hz, self.window_n)
        self.gaps = 0
        self._latencies: list[float] = []

    def _configure_thread(self) -> None:
        """Apply the thread count in the calling thread. OpenMP keeps it per thread: a thread that
        never set it runs oneDNN's LSTM with one OpenMP worker per core, whose barrier spins stall
        for hundreds of ms when the cores are busy (the GUI, MediaPipe); so each predicting thread
        sets it once, not just the thread that loaded the model."""
        if self.threads is not None and not getattr(self._thread_cfg, "done", False):
            torch.set_num_threads(self.threads)
            self._thread_cfg.done = True

    @torch.no_grad()
    def _trace(self, module: torch.nn.Module):
        """A TorchScript trace of module for one (1, window_n, C) window, or module itself.

        Why: eager PyTorch takes the GIL back between every operator, and in the GUI process the GUI
        thread can hold it for up to the switch interval (5 ms) each time, which stretches the tail
        of a 1-2 ms inference. A traced module runs its whole graph in C++ without the GIL (in
        bench/live_overlay_ab.py, default model: inference p95 4.1-4.4 -> 3.2-3.4 ms, EMG arrival to
        overlay painted p95 7.7 -> 6.7 ms in the quick gui bench; alone it is as fast as eager).
        The trace is checked against the module on fixed random windows (atol 1e-4, the tolerance
        live and offline predictions are held to) and warmed up (the profiling executor optimises
        on its first calls), so the first live prediction is not the slow one.
        """
        g = torch.Generator().manual_seed(0)
        xs = [(torch.randn(1, self.window_n, self.n_channels, generator=g) * 20.0).to(self.device)
              for _ in range(2)]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # TracerWarnings: shapes are fixed here by design
                traced = torch.jit.trace(module, xs[0], check_trace=False)
                for _ in range(3):
                    traced(xs[0])
            for x in xs:
                if not torch.allclose(traced(x), module(x), rtol=1e-4, atol=1e-4):
                    log.warning("%s: traced network differs from the module; running it eagerly", self.model.path)
                    return module
        except Exception as e:  # an architecture the tracer cannot follow still predicts, eagerly
            log.warning("%s: could not trace the network (%s); running it eagerly", self.model.path, e)
            return module
        return traced

    def check_source(self, sample_rate_hz: float, n_channels: int) -> None:
        """Raise LiveInputError if a stream's rate or channel count differs from the model's."""
        if n_channels != self.n_channels or abs(sample_rate_hz - self.sample_rate_hz) > 1e-3 * self.sample_rate_hz:
            raise LiveInputError(f"{self.model.path}: model expects {self.sample_rate_hz:g} Hz x {self.n_channels} channels, "
                                 f"stream gives {sample_rate_hz:g} Hz x {n_channels}")

    def reset(self) -> None:
        """Forget the window (and the per-session scale: the next sample starts a new session)."""
        with self._lock:
            self._filled = 0
            self._pos = 0
            self._next_index = None
            if self._scaler is not None:
                self._scaler.reset()

    def _ready(self) -> bool:
        return self._filled >= self.window_n and (self._scaler is None or self._scaler.seen >= self._warmup)

    @property
    def ready(self) -> bool:
        """True once a full window of continuous samples has arrived (and, with a per-session
        scale, its warm-up: recorder.dataset.session_norm.warmup_samples)."""
        return self._ready()

    def push(self, chunk: EmgChunk) -> None:
        """Append a chunk: x (n, C) raw units, t (n,) host seconds. A jump in ``first_index`` (lost
        samples) restarts the window, because a window across a gap is not what the model saw."""
        x = np.asarray(chunk.x, np.float32)
        n = len(x)
        if n == 0:
            return
        if x.ndim != 2 or x.shape[1] != self.n_channels:
            raise LiveInputError(f"chunk of shape {x.shape}; model expects (n, {self.n_channels})")
        W = self.window_n
        with self._lock:
            if self._next_index is not None and chunk.first_index != self._next_index:
                self._filled = 0
                self.gaps += 1
            self._next_index = chunk.first_index + n
            if self._scaler is not None:  # every sample, as the session file would hold it
                x = self._scaler.process(x)
            if n >= W:
                self._ring[W:] = x[-W:]
                self._ring[:W] = x[-W:]
                self._pos = 0
            else:
                # Circular buffer of W slots stored twice ([0, W) and [W, 2W)), so the newest window,
                # oldest first, is always the contiguous slice ring[p : p + W].
                p = self._pos
                first = min(n, W - p)
                self._ring[p:p + first] = x[:first]
                self._ring[p + W:p + W + first] = x[:first]
                rest = n - first
                if rest:
                    self._ring[:rest] = x[first:]
                    self._ring[W:W + rest] = x[first:]
                self._pos = (p + n) % W
            self._filled += n
            self._t_last = float(chunk.t[-1])

    def window(self) -> np.ndarray:
        """(T, C) copy of the newest window, oldest sample first (raw units; session-scaled when
        the model has a per-session scale)."""
        with self._lock:
            p = self._pos
            return self._ring[p:p + self.window_n].copy()

    @torch.no_grad()
    def predict(self) -> LivePrediction | None:
        """Predict from the newest window; None until a full window of continuous samples exists."""
        with self._lock:
            if not self._ready():
                return None
            p = self._pos
            x = torch.from_numpy(self._ring[p:p + self.window_n].copy()).unsqueeze(0)
            t_last = self._t_last
        self._configure_thread()
        t0 = time.perf_counter()
        out = self._forward(x.to(self.device)).cpu().numpy()[0]
        lat = time.perf_counter() - t0
        self._latencies.append(lat)
        if len(self._latencies) > 1000:
            del self._latencies[:500]
        age = now() - t_last
        if self.task == "pose":
            return LivePrediction(out.reshape(N_LANDMARKS, 3).astype(np.float32), None, None, t_last, lat, age)
        k = int(out.argmax())
        return LivePrediction(None, out.astype(np.float32), self.class_names[k], t_last, lat, age)

    def latency_stats(self) -> dict:
        """Inference latency over recent predictions: n, mean_ms, p50_ms, p95_ms, max_ms."""
        a = np.asarray(self._latencies) * 1e3
        if a.size == 0:
            return {"n": 0}
        return {"n": int(a.size), "mean_ms": float(a.mean()), "p50_ms": float(np.percentile(a, 50)),
                "p95_ms": float(np.percentile(a, 95)), "max_ms": float(a.max())}
