"""Training: sessions -> windows -> PyTorch model -> model folder, with progress, cancel, sweeps and DDP.

``train(config, sessions, out_dir, progress=callback, cancel=event)`` is the one entry point; the
same function runs single-process or under ``torchrun`` (DistributedDataParallel: gloo on CPU, NCCL
on GPU; every rank builds the same windows, takes its shard of each epoch's permutation, and only
rank 0 writes). Batches are gathered on the device from the continuous signal, kept in its stored
dtype, by index arithmetic (window end index + offsets) and normalised per batch (no DataLoader,
no window array), so memory grows with the signal, not with the windows, and the loop costs little
more than a bare PyTorch loop.

Command line for GUIs and clusters: ``emgrec train --jsonl-progress`` (recorder/cli/commands/train.py)
prints the progress events (:data:`PROGRESS_EVENTS`) one JSON object per line on stdout::

    python -m recorder train SESSION ... --out DIR --config cfg.json --jsonl-progress
    torchrun --nproc_per_node=2 -m recorder train SESSION ... --out DIR --jsonl-progress
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np
import torch
from torch import nn

from recorder.dataset import windows as ds
from recorder.core.errors import EmgrecError
from recorder.model.metrics import format_metrics_table, gesture_metrics, pose_metrics
from recorder.model.architectures import Predictor, build_model, count_parameters
from recorder.model.catalogue import DEFAULT_ARCHITECTURE
# predict_array lives in predict.py so modelio need not import training (re-exported here).
from recorder.model.predict import EVAL_BATCH_ELEMENTS, _eval_batch, predict_array  # noqa: F401

if TYPE_CHECKING:
    from recorder.model.folder import ModelMeta

log = logging.getLogger(__name__)

ProgressFn = Callable[[dict], None]

def _clean_defaults() -> dict:
    from recorder.dataset.clean import DEFAULTS
    return DEFAULTS


def _session_norm_defaults() -> dict:
    from recorder.dataset.session_norm import DEFAULTS
    return DEFAULTS


#: Every key a config may hold; ``resolve_config`` fills in what is missing and rejects the unknown.
DEFAULT_CONFIG: dict = {
    "task": "pose",  # "pose" (63 mm targets) or "gesture" (class labels)
    "model": {"name": DEFAULT_ARCHITECTURE, "params": {}},  # envelope_lstm (recorder.model.catalogue says why)
    "data": {
        # 400 ms: long enough to average the EMG envelope's noise, short enough to follow a movement
        # (on synthetic sessions 200 ms gave a MPJPE ratio of 0.33, 400 ms 0.30).
        "window_ms": 400.0,
        "anchor": "auto",  # "frames" | "grid" | "auto" (frames when present, else grid)
        "grid_step_ms": 50.0,
        "background_label": "rest",  # gesture class of unlabelled time (null: drop those windows)
        "class_names": None,  # fixed class order; default: sorted names found
        "target_frame": "wrist",  # pose targets: "wrist" (world axes - wrist) or "hand" (palm frame)
        "target": "landmarks",  # pose: "landmarks" (63 mm) or "angles" (joint angles, deg; docs/models.md)
        "clean": dict(_clean_defaults()),  # label cleaning (recorder.dataset.clean.DEFAULTS); off unless enabled
        "transition_guard_ms": None,  # gesture: drop windows within window + guard after a label change
        # EMG-to-video lag (recorder.dataset.lag): "stored" (the session's, else 0), "auto" (stored, else
        # estimated), "none", or ms. The window of a frame stamped s ends at s - lag.
        "lag": "stored",
        # Per-session input normalisation (recorder.dataset.session_norm): each session's EMG divided
        # per channel by a causal robust scale of its own preceding signal, identically offline and live.
        # Off by default: it helped the realistic subject's new session but broke JHU's calibration.
        "session_norm": dict(_session_norm_defaults()),
    },
    "split": {
        # "auto": "time" for one session, "cross" for several (val: the end of every session but the
        # last, i.e. within-session; test: the whole last session, i.e. a new session).
        "mode": "auto",  # "auto" | "time" | "blocks" | "session" | "cross"
        "val_fraction": 0.15, "test_fraction": 0.15, "extra_gap_s": 0.0,
        "n_blocks": 5, "val_block": -1, "test_block": None,
        "val_sessions": None, "test_sessions": None,
    },
    # Per-window-and-channel gain 1 +- scale; additive noise std (z units). A 10 % gain jitter is
    # about the sampling error of a 400 ms EMG envelope and of electrode contact changes; it curbs
    # overfitting the noise of heavily overlapping windows (synthetic ratio 0.29 -> 0.28).
    # rotate: channel-rotation augmentation for armbands whose electrodes ring the forearm: each
    # window's channels are turned by a random fraction of up to this many electrodes (0: off).
    "augment": {"scale": 0.1, "noise": 0.0, "rotate": 0.0},
    "train": {
        "epochs": 40, "batch_size": 128, "lr": 2e-3, "weight_decay": 1e-5,
        "schedule": "plateau",  # "plateau" | "cosine" | "none"
        "clip_grad": 1.0, "patience": 8, "seed": 0, "device": "auto",
        "class_weights": True, "max_time_s": None, "threads": None,
        # Validate, keep and ship an exponential moving average of the weights (decay per step;
        # 0: the raw weights). It smooths the step-to-step noise of Adam, so the best epoch is less
        # a matter of luck (seed-to-seed spread of the synthetic test ratio 0.28-0.31 -> see docs/models.md).
        "ema": 0.99,
        # Data larger than memory: "auto" streams batches from the session files (recorder.model.streaming)
        # when their signals exceed memory_fraction of the available memory; true / false force it.
        "stream": "auto", "memory_fraction": 0.5, "workers": 2,
        "max_steps": None,  # stop after this many optimiser steps in all (e.g. to time a huge epoch)
    },
    # No-skill guard (docs/models.md): a model whose validation MPJPE is above no_skill_ratio of the
    # mean pose (or accuracy not above the majority class), or trained on fewer than
    # min_train_windows windows, is flagged ``no_skill`` in model.json and said so in plain words.
    # blend: shrink predictions toward the training mean pose by the factor (0..1) that validation
    # prefers. baselines: fit the ridge (pose) / LDA (gesture) baseline on the same training windows.
    "guard": {"min_train_windows": 300, "no_skill_ratio": 0.95, "blend": True, "baselines": True},
}

#: Short names for sweep / CLI overrides.
ALIASES = {
    "lr": "train.lr", "batch": "train.batch_size", "batch_size": "train.batch_size", "epochs": "train.epochs",
    "seed": "train.seed", "patience": "train.patience", "weight_decay": "train.weight_decay",
    "schedule": "train.schedule", "clip_grad": "train.clip_grad", "device": "train.device", "ema": "train.ema",
    "model": "model.name", "hidden": "model.params.hidden", "dropout": "model.params.dropout",
    "window_ms": "data.window_ms", "window": "data.window_ms", "frame": "data.target_frame", "target": "data.target", "guard_ms": "data.transition_guard_ms", "split": "split.mode",
    "scale": "augment.scale", "noise": "augment.noise", "rotate": "augment.rotate", "lag": "data.lag",
}


class ConfigError(EmgrecError, ValueError):
    """An unknown or malformed training config key."""


class TrainingError(EmgrecError, RuntimeError):
    """A training that cannot run here (no CUDA device) or whose loss never became finite."""


def _merge(base: dict, over: dict, path: str = "") -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if k not in base:
            raise ConfigError(f"unknown config key {path + k!r}")
        if isinstance(base[k], dict) and k != "params" and isinstance(v, dict):
            out[k] = _merge(base[k], v, path + k + ".")
        else:
            out[k] = copy.deepcopy(v)
    return out


def resolve_config(config: dict | None = None) -> dict:
    """DEFAULT_CONFIG updated with ``config`` (nested dicts merged); unknown keys raise ConfigError."""
    cfg = _merge(DEFAULT_CONFIG, config or {})
    if cfg["task"] not in ("pose", "gesture"):
        raise ConfigError(f"task must be 'pose' or 'gesture', got {cfg['task']!r}")
    if cfg["train"]["schedule"] not in ("plateau", "cosine", "none"):
        raise ConfigError(f"train.schedule must be plateau, cosine or none, got {cfg['train']['schedule']!r}")
    if int(cfg["train"]["epochs"]) < 1 or int(cfg["train"]["batch_size"]) < 2:
        raise ConfigError("train.epochs must be >= 1 and train.batch_size >= 2")
    if cfg["train"]["stream"] not in ("auto", True, False):
        raise ConfigError(f"train.stream must be 'auto', true or false, got {cfg['train']['stream']!r}")
    if not 0.0 <= float(cfg["train"]["ema"] or 0.0) < 1.0:
        raise ConfigError(f"train.ema must be in [0, 1), got {cfg['train']['ema']!r}")
    return cfg


def resolve_split(sp: dict, n_sessions: int) -> dict:
    """config.split with mode "auto" resolved: "time" for one session, "cross" for several."""
    sp = dict(sp)
    if sp["mode"] == "auto":
        sp["mode"] = "cross" if n_sessions > 1 else "time"
    return sp


def parse_value(text: str):
    """'1e-3' -> 0.001, '64' -> 64, 'true' -> True, '[32,32]' -> [32, 32], 'conv_lstm' -> 'conv_lstm'."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def set_path(cfg: dict, key: str, value) -> dict:
    """Set a dotted key (or an alias from :data:`ALIASES`) in a config dict, in place."""
    path = ALIASES.get(key, key).split(".")
    d = cfg
    for p in path[:-1]:
        d = d.setdefault(p, {})
        if not isinstance(d, dict):
            raise ConfigError(f"cannot set {key!r}: {p!r} is not a section")
    d[path[-1]] = value
    return cfg


# -- distributed -------------------------------------------------------------------------------------
@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _setup(device_pref: str) -> _Dist:
    """Pick the device; join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    import torch.distributed as dist

    use_cuda = torch.cuda.is_available() and device_pref in ("auto", "cuda")
    if device_pref == "cuda" and not torch.cuda.is_available():
        raise TrainingError("train.device is 'cuda' but no CUDA device is available")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    d = _Dist()
    if world > 1 or dist.is_initialized():
        if not dist.is_initialized():
            dist.init_process_group("nccl" if use_cuda else "gloo")
            d.owns_group = True
        d.rank, d.world = dist.get_rank(), dist.get_world_size()
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        d.device = torch.device("cuda", local)
    return d


def _all_sum(t: torch.Tensor, d: _Dist) -> torch.Tensor:
    if d.world > 1:
        import torch.distributed as dist
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


# -- results -----------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    """out_dir: the model folder (None when not written); metrics: {"val": ..., "test": ...};
    history: one dict per epoch; predictor: the best model (CPU, eval mode); meta: the model.json
    content (``modelio.ModelMeta``; None on ranks other than 0)."""

    out_dir: Path | None
    metrics: dict
    history: list[dict]
    best_epoch: int
    stopped: str
    predictor: Predictor
    meta: "ModelMeta | None"


def _rotate_channels(xb: torch.Tensor, max_shift: float, gen: torch.Generator) -> torch.Tensor:
    """Turn each window's channels (B, T, C) around the ring by a random shift in
    [-max_shift, max_shift] electrodes, interpolating linearly between neighbours (a band put on a
    little turned: every electrode then sees a mix of what its neighbours saw)."""
    B, _, C = xb.shape
    shift = max_shift * (2.0 * torch.rand(B, generator=gen, device=gen.device) - 1.0)
    k = torch.floor(shift)
    frac = (shift - k).to(xb.device).view(B, 1, 1)
    idx = (torch.arange(C, device=gen.device).view(1, C) + k.long().view(B, 1)) % C
    idx = idx.to(xb.device)
    a = torch.gather(xb, 2, idx.view(B, 1, C).expand(-1, xb.shape[1], -1))
    b = torch.gather(xb, 2, ((idx + 1) % C).view(B, 1, C).expand(-1, xb.shape[1], -1))
    return a * (1 - frac) + b * frac


def _augment(xb: torch.Tensor, scale: float, noise: float, gen: torch.Generator, rotate: float = 0.0) -> torch.Tensor:
    """Training-only augmentation on normalised windows (B, T, C): channel rotation (see
    :func:`_rotate_channels`), per window-and-channel gain in [1 - scale, 1 + scale] (electrode
    contact changes amplitude) and additive Gaussian noise."""
    if rotate > 0:
        xb = _rotate_channels(xb, rotate, gen)
    if scale > 0:
        g = 1.0 + scale * (2.0 * torch.rand(xb.shape[0], 1, xb.shape[2], generator=gen, device=gen.device) - 1.0)
        xb = xb * g.to(xb.device)
    if noise > 0:
        xb = xb + noise * torch.randn(xb.shape, generator=gen, device=gen.device).to(xb.device)
    return xb


class _Ema:
    """Exponential moving average of a module's weights and float buffers (BatchNorm statistics).

    Step k uses decay min(decay, (1 + k) / (10 + k)): the average starts short and grows to
    ``decay``, so a run of a few hundred steps is not dragged back to its first, untrained steps.
    """

    def __init__(self, net: nn.Module, decay: float):
        self.module = copy.deepcopy(net)
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = float(decay)
        self.k = 0
        # state_dict tensors alias the live parameters and buffers, so the pairs stay current.
        pairs = list(zip(self.module.state_dict().values(), net.state_dict().values()))
        self._float = [(a, b) for a, b in pairs if a.is_floating_point()]
        self._other = [(a, b) for a, b in pairs if not a.is_floating_point()]  # e.g. num_batches_tracked

    @torch.no_grad()
    def update(self) -> None:
        """Fold in the module's current weights (call after every optimiser step)."""
        d = min(self.decay, (1.0 + self.k) / (10.0 + self.k))
        self.k += 1
        if self._float:
            torch._foreach_lerp_([a for a, _ in self._float], [b for _, b in self._float], 1.0 - d)
        for a, b in self._other:
            a.copy_(b)


def _data_mode(tc: dict, paths: list[str], d: _Dist) -> tuple[bool, bool]:
    """(stream, shard) for training on session files. stream: batches read from the files
    (train.stream, or "auto": the signals exceed train.memory_fraction of the available memory).
    shard: several ranks and at least as many sessions - each rank may read only its own sessions
    (dealt after the split; see train)."""
    shard = d.world > 1 and len(paths) >= d.world
    st = tc["stream"]
    if st == "auto":
        from recorder.model.streaming import should_stream
        my = paths[d.rank::d.world] if shard else paths
        stream, need, avail = should_stream(my, float(tc["memory_fraction"]))
        if stream:
            log.info("signals of %.2f GB exceed %.0f %% of %.2f GB available: streaming from the files",
                     need / 1e9, 100 * float(tc["memory_fraction"]), avail / 1e9)
    else:
        stream = bool(st)
    return stream, shard


def _fit_norm_sharded(v: ds.FileWindows, d: _Dist) -> tuple[np.ndarray, np.ndarray]:
    """ds.fit_channel_norm over the windows of every rank (each passes its own): the window-sample
    sums of :func:`dataset.norm_sums` are summed over ranks, mean first, then the squared deviations."""
    w, sx = ds.norm_sums(v) if len(v) else (0.0, np.zeros(v.shape[2]))
    t = _all_sum(torch.from_numpy(np.concatenate([[w], sx])).to(d.device), d).cpu()
    w, mean = float(t[0]), t[1:].numpy() / max(float(t[0]), 1.0)
    if w == 0:
        raise ds.DatasetError("no training windows to fit the normalisation on")
    sq = _all_sum(torch.from_numpy(ds.norm_sums(v, mean)[1] if len(v) else np.zeros(v.shape[2])).to(d.device), d)
    sq = sq.cpu().numpy()
    std = np.sqrt(sq / w)
    std[std < 1e-6] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def _software() -> dict:
    from recorder import __version__
    return {"emgrec": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": sys.version.split()[0]}


def _fingerprint(ws: ds.WindowSet, cfg: dict) -> str:
    import hashlib
    h = hashlib.sha256()
    for s in ws.sessions:
        h.update(s["sha256"].encode())
    h.update(json.dumps(cfg["data"], sort_keys=True).encode())
    return h.hexdigest()


#: Stored signal dtypes torch indexes as they are; others (e.g. uint16) become float32.
_TORCH_SIGNAL_DTYPES = {np.dtype(t) for t in ("int8", "uint8", "int16", "int32", "int64", "float16", "float32", "float64")}


class BatchGather:
    """Normalised windows (B, T, C) float32 on ``device`` for window indices b (B,).

    From a WindowView: the signal (N, C) goes to the device once in its stored dtype; a batch is
    an ``index_select`` of rows ``end[b] - T + 1`` from the overlapping strided (N - T + 1, T, C)
    view of it (one contiguous copy per window), cast to float32, then ``(x - mean) / std`` - the
    same float32 operations as normalising the materialised array, so bit-identical to it.
    From an ndarray (``build_windows(materialise=True)``): the whole array normalised once.
    From a FileWindows: the windows are read from the files (sorted, local batches only).
    """

    def __init__(self, X: np.ndarray | ds.WindowView | ds.FileWindows, mean: np.ndarray, std: np.ndarray,
                 device: torch.device):
        self.mean = torch.from_numpy(np.asarray(mean, np.float32)).to(device)
        self.std = torch.from_numpy(np.asarray(std, np.float32)).to(device)
        self.files = X if isinstance(X, ds.FileWindows) else None
        self.device = device
        if self.files is not None:
            self.Xn = None
        elif isinstance(X, ds.WindowView):
            sig = X.signal if X.signal.dtype in _TORCH_SIGNAL_DTYPES else X.signal.astype(np.float32)
            self.signal = torch.from_numpy(np.ascontiguousarray(sig)).to(device)
            n, c, T = self.signal.shape[0], self.signal.shape[1], X.window_n
            self.windows = torch.as_strided(self.signal, (max(0, n - T + 1), T, c), (c, c, 1))
            self.start = torch.from_numpy(X.end - (T - 1)).to(device)
            self.Xn = None
        else:
            self.Xn = (torch.from_numpy(np.asarray(X, np.float32)).to(device) - self.mean) / self.std

    def __call__(self, b: torch.Tensor) -> torch.Tensor:
        if self.files is not None:
            x = torch.from_numpy(self.files.gather(b.cpu().numpy())).to(self.device)
            return x.sub_(self.mean).div_(self.std)
        if self.Xn is not None:
            return self.Xn[b]
        # index_select of whole windows is a few times faster than a (B, T) advanced index.
        x = torch.index_select(self.windows, 0, self.start[b]).to(torch.float32)
        return x.sub_(self.mean).div_(self.std)


def evaluate_windows(predictor: Predictor, ws: ds.WindowSet, idx: np.ndarray, task: str,
                     baseline_pose: np.ndarray | None = None, majority: int | None = None) -> dict:
    """Metrics of ``predictor`` on windows ``idx`` of ``ws`` (with the baseline of the same windows)."""
    out = predict_array(predictor, ws.subset(idx).X)
    if task == "pose" and ws.target == "angles":
        from recorder.dataset.angles import angle_metrics
        return angle_metrics(out, ws.y[idx], baseline_pose, ws.target_names)
    if task == "pose":
        return pose_metrics(out, ws.y[idx], baseline_pose)
    return gesture_metrics(out, ws.label[idx], ws.class_names, majority)


# -- training ----------------------------------------------------------------------------------------
def train(config: dict | None, sessions: Iterable | ds.WindowSet, out_dir: str | Path | None = None,
          progress: ProgressFn | None = None, cancel: threading.Event | None = None,
          split: dict | None = None, init: Predictor | None = None, init_norm: bool = False) -> TrainResult:
    """Train one model.

    config: partial config (see DEFAULT_CONFIG); sessions: session paths, ``SessionArrays`` or a
    prebuilt ``WindowSet`` (must match config.data); out_dir: model folder to write (rank 0 only;
    None: do not write). progress(dict) is called with {"event": "start" | "epoch" | "done", ...};
    epoch events carry epoch, epochs, train_loss, val_loss, val_mpjpe_mm or val_acc, lr, elapsed_s,
    eta_s, samples_per_s, best. cancel: set it to stop after the current batch (the best model so far
    is kept and written, with ``stopped: "cancelled"``). split: a precomputed split (as
    :func:`recorder.dataset.windows.make_split` returns; overrides config.split). init: a trained pose
    Predictor of the same architecture to start from (fine-tuning, see recorder.model.calibrate); the
    normalisation is refitted on this training split, or kept from ``init`` when ``init_norm``.
    """
    cfg = resolve_config(config)
    if isinstance(sessions, ds.WindowSet):  # prebuilt windows: their input scale is what the model gets
        cfg["data"]["session_norm"] = dict(sessions.session_norm or {"enabled": False})
    tc = cfg["train"]
    t_start = time.perf_counter()
    d = _setup(tc["device"])
    if tc["threads"]:
        torch.set_num_threads(int(tc["threads"]))
    emit = progress if (progress is not None and d.is_main) else (lambda _e: None)
    try:
        data = _prepare_data(cfg, sessions, split, d, init, init_norm)
        net, model, n_params = _build_net(cfg, data, d, init)
        history, best, best_state, stopped = _fit(cfg, data, d, net, model, n_params, emit, cancel, t_start)
        predictor = _best_predictor(cfg, data, net, best_state, history, best)
        metrics: dict = {}
        out_path = meta = None
        if d.is_main:
            metrics, extras = _evaluate(cfg, data, predictor)
            out_path, meta = _save(cfg, data, d, predictor, metrics, extras, history, best, stopped, n_params,
                                   t_start, out_dir, emit)
        if d.world > 1:
            import torch.distributed as dist
            dist.barrier()
        return TrainResult(Path(out_path) if out_path else None, metrics, history, best[1], stopped, predictor, meta)
    finally:
        if d.owns_group:
            import torch.distributed as dist
            dist.destroy_process_group()


@dataclass
class _Data:
    """The data step's result (see :func:`_prepare_data`): windows, split, this rank's share, and the
    normalisation fitted on the training part."""

    ws: ds.WindowSet
    split: dict
    parts: dict  # "train" | "val" | "test" -> window indices (n,)
    stream: bool  # batches streamed from the files (recorder.model.streaming)
    shard: bool  # each rank reads only its own sessions
    fw: ds.FileWindows | None  # the windows when file-backed
    load: np.ndarray | None  # training windows per rank (session shards)
    my_sessions: np.ndarray  # session indices this rank reads
    node_sessions: list  # [[session index]] per rank, for model.json
    my_train: np.ndarray  # this rank's training windows (file-backed data)
    my_val_np: np.ndarray  # this rank's validation windows (file-backed data)
    x_mean: np.ndarray  # (C,) raw units
    x_std: np.ndarray  # (C,) raw units
    y_mean: np.ndarray | None  # (n,) pose targets' units; None for gestures
    y_std: np.ndarray | None
    n_out: int
    majority: int | None  # gesture: the training majority class
    counts: np.ndarray | None  # gesture: training windows per class (K,)


def _prepare_data(cfg: dict, sessions, split: dict | None, d: _Dist, init: Predictor | None,
                  init_norm: bool) -> _Data:
    """Step 1 of :func:`train`: windows, split, the sessions and windows of this rank, normalisation."""
    tc, task = cfg["train"], cfg["task"]
    owner = load = counts = None
    stream, shard = False, False
    if isinstance(sessions, ds.WindowSet):
        ws = sessions
    else:
        sessions = list(sessions)
        files = all(isinstance(s, (str, Path)) for s in sessions)
        if files and sessions:
            stream, shard = _data_mode(tc, [str(s) for s in sessions], d)
        elif tc["stream"] is True:
            raise ConfigError("train.stream needs session files, not in-memory sessions")
        dc = cfg["data"]
        ws = ds.build_windows(sessions, task=task, window_ms=dc["window_ms"], anchor=dc["anchor"],
                              grid_step_ms=dc["grid_step_ms"], class_names=dc["class_names"],
                              background_label=dc["background_label"], target_frame=dc["target_frame"],
                              transition_guard_ms=dc["transition_guard_ms"], target=dc["target"],
                              clean=dc["clean"], lag=dc["lag"], session_norm=dc["session_norm"],
                              signal="file" if (stream or shard) else "memory")
    # Non-finite inputs or targets (a damaged or hand-made file) would train a NaN model silently.
    # (the signal, not the windows: a view holds each sample many times)
    ds.check_finite("training windows", X=ws.X.signal if isinstance(ws.X, ds.WindowView) else
                    None if isinstance(ws.X, ds.FileWindows) else ws.X,
                    y=ws.y if task == "pose" else None, t=ws.t)
    if split is None:
        split = ds.make_split(ws, **resolve_split(cfg["split"], len(ws.sessions)))
    parts = {p: ds.split_indices(ws, split, p) for p in ds.PARTS}
    if len(parts["train"]) < 2 or len(parts["val"]) < 1:
        raise ds.DatasetError(f"split leaves {len(parts['train'])} training and {len(parts['val'])} "
                              f"validation windows; record more or change split")
    fw = ws.X if isinstance(ws.X, ds.FileWindows) else None
    # Session shards (several nodes, one rank each: each reads only its sessions' signal): the
    # sessions dealt to ranks by training windows, largest first, to the least loaded rank
    # (a session split leaves some sessions without any); every rank needs some, else no shards.
    n_s = len(ws.sessions)
    if shard:
        tr_count = np.bincount(ws.session[parts["train"]], minlength=n_s)
        owner, load = np.zeros(n_s, np.int64), np.zeros(d.world, np.int64)
        for si in np.argsort(-tr_count, kind="stable"):
            owner[si] = int(np.argmin(load))
            load[owner[si]] += tr_count[si]
        shard = bool((load > 0).all())
    my_sessions = np.flatnonzero(owner == d.rank) if shard else np.arange(n_s)
    mine = np.isin(ws.session, my_sessions)
    node_sessions = [[int(i) for i in my_sessions]]
    if d.world > 1:  # for model.json: which sessions each rank read
        import torch.distributed as dist
        node_sessions = [None] * d.world
        dist.all_gather_object(node_sessions, [int(i) for i in my_sessions])
    my_train, my_val_np = parts["train"][mine[parts["train"]]], parts["val"][mine[parts["val"]]]
    if fw is not None and d.world > 1 and not shard:  # streamed, fewer sessions than ranks: windows
        my_train, my_val_np = parts["train"][d.rank::d.world], parts["val"][d.rank::d.world]
    if fw is None:
        x_mean, x_std = ds.fit_channel_norm(ws.X, parts["train"])
    else:
        x_mean, x_std = _fit_norm_sharded(fw.take(my_train), d)
    K = len(ws.class_names)
    if task == "pose":
        y_mean, y_std = ds.fit_target_norm(ws.y, parts["train"])
        n_out = ws.y.shape[1]
        majority = None
    else:
        if K < 2:
            raise ds.DatasetError(f"gesture task needs >= 2 classes, found {ws.class_names}")
        y_mean = y_std = None
        n_out = K
        counts = np.bincount(ws.label[parts["train"]], minlength=K)
        majority = int(counts.argmax())
    if init is not None and init_norm:
        x_mean, x_std = (init.x_mean.numpy().ravel().copy(), init.x_std.numpy().ravel().copy())
        if task == "pose":
            y_mean, y_std = (init.y_mean.numpy().ravel().copy(), init.y_std.numpy().ravel().copy())
    return _Data(ws=ws, split=split, parts=parts, stream=stream, shard=shard, fw=fw, load=load,
                 my_sessions=my_sessions, node_sessions=node_sessions, my_train=my_train, my_val_np=my_val_np,
                 x_mean=x_mean, x_std=x_std, y_mean=y_mean, y_std=y_std, n_out=n_out, majority=majority,
                 counts=counts)


def _build_net(cfg: dict, data: _Data, d: _Dist, init: Predictor | None) -> tuple[nn.Module, nn.Module, int]:
    """Step 2 of :func:`train`: seed, network (from ``init``'s weights when given), DDP wrapper.
    Returns (network, the module trained (DDP or the network), parameter count)."""
    tc, ws, n_out = cfg["train"], data.ws, data.n_out
    seed = int(tc["seed"])
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    if d.device.type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    net = build_model(cfg["model"], len(ws.channel_names), ws.window_n, n_out)
    if init is not None:
        try:
            net.load_state_dict(init.net.state_dict())
        except RuntimeError as e:
            raise ConfigError(f"the initial model does not fit this architecture and data: {e}") from e
    n_params = count_parameters(net)
    net.to(d.device)
    model: nn.Module = net
    if d.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        model = DDP(net, device_ids=[d.device.index] if d.device.type == "cuda" else None)
    return net, model, n_params


def _fit(cfg: dict, data: _Data, d: _Dist, net: nn.Module, model: nn.Module, n_params: int, emit: ProgressFn,
         cancel: threading.Event | None, t_start: float) -> tuple[list[dict], tuple[float, int], dict, str]:
    """Step 3 of :func:`train`: the epochs (batches, optimiser, EMA, sharded validation, early stop).
    Emits "start" and one "epoch" event per epoch. Returns (history, (best val loss, best epoch),
    the best state dict, why it stopped)."""
    tc, task = cfg["train"], cfg["task"]
    ws, parts, stream, fw = data.ws, data.parts, data.stream, data.fw
    x_mean, x_std, y_mean, y_std = data.x_mean, data.x_std, data.y_mean, data.y_std
    shard, load, my_sessions, my_train, my_val_np = (data.shard, data.load, data.my_sessions, data.my_train,
                                                     data.my_val_np)
    counts, node_sessions, seed = data.counts, data.node_sessions, int(tc["seed"])
    # Batches gathered and normalised on the device (see BatchGather).
    dev = d.device
    EB = _eval_batch(ws.window_n, len(ws.channel_names))
    if fw is None or stream:
        Xn = BatchGather(ws.X, x_mean, x_std, dev)
    else:  # this node's sessions into memory; window index -> row of that smaller view
        view, sel = fw.load(my_sessions)
        pos = torch.full((len(ws),), -1, dtype=torch.int64, device=dev)
        pos[torch.from_numpy(sel).to(dev)] = torch.arange(len(sel), device=dev)
        inner = BatchGather(view, x_mean, x_std, dev)
        Xn = lambda b: inner(pos[b])  # noqa: E731
    if task == "pose":
        Yn = (torch.from_numpy(ws.y).to(dev) - torch.from_numpy(y_mean).to(dev)) / torch.from_numpy(y_std).to(dev)
        loss_fn: nn.Module = nn.MSELoss()
        y_std_t, y_mean_t = torch.from_numpy(y_std).to(dev), torch.from_numpy(y_mean).to(dev)
    else:
        Yn = torch.from_numpy(ws.label).to(dev)
        w = None
        if tc["class_weights"]:
            # Inverse class frequency (mean 1 over present classes) so rare gestures count.
            c = counts.astype(np.float64)
            w = np.where(c > 0, c.sum() / (np.count_nonzero(c) * np.maximum(c, 1)), 0.0)
            w = torch.tensor(w, dtype=torch.float32, device=dev)
        loss_fn = nn.CrossEntropyLoss(weight=w)
    opt = torch.optim.Adam(net.parameters(), lr=float(tc["lr"]), weight_decay=float(tc["weight_decay"]))
    epochs = int(tc["epochs"])
    if tc["schedule"] == "plateau":
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=max(1, int(tc["patience"]) // 3))
    elif tc["schedule"] == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    else:
        sched = None

    train_idx = torch.from_numpy(parts["train"] if fw is None else my_train).to(dev)
    val_idx = parts["val"]
    # Validation is sharded over ranks and summed, so every rank takes the same stop decision.
    my_val = torch.from_numpy(val_idx[d.rank::d.world] if fw is None else my_val_np).to(dev)
    B = int(tc["batch_size"])
    n_fixed = None  # file-backed data: batches per epoch, the same on every rank
    if fw is not None:
        per_rank = ([int(n) for n in load] if shard else
                    [len(parts["train"][r::d.world]) for r in range(d.world)])
        n_fixed = min(per_rank) // B if d.world > 1 else len(my_train) // B + (1 if len(my_train) % B >= 2 else 0)
        if n_fixed < 1:
            raise ds.DatasetError(f"a node has {min(per_rank)} training windows, under one batch of {B}")
    loader = None
    if stream:
        from recorder.model import streaming
        Ynp = (((ws.y - y_mean) / y_std).astype(np.float32) if task == "pose" else ws.label)
        bs = streaming.BlockStream(fw, my_train, Ynp, x_mean, x_std, B, seed=seed + 1000 * d.rank)
        loader = (bs, streaming.loader(bs, workers=int(tc["workers"])))
    steps_left = int(tc["max_steps"]) if tc["max_steps"] else None
    gen = torch.Generator().manual_seed(seed)  # same permutation on every rank
    aug_gen = torch.Generator().manual_seed(seed * 7919 + 1 + d.rank)
    aug = cfg["augment"]
    emit({"event": "start", "task": task, "model": cfg["model"]["name"], "params": n_params,
          "n_train": int(len(parts["train"])), "n_val": int(len(val_idx)), "n_test": int(len(parts["test"])),
          "window_n": ws.window_n, "classes": ws.class_names if task == "gesture" else None,
          "device": str(dev), "world_size": d.world, "epochs": epochs,
          "data": "stream" if stream else "files" if fw is not None else "memory",
          "node_sessions": node_sessions})

    ema = _Ema(net, float(tc["ema"])) if tc["ema"] else None
    eval_net = ema.module if ema is not None else net  # what is validated, kept and saved

    history: list[dict] = []
    best = (math.inf, -1)
    best_state = copy.deepcopy(net.state_dict())
    stale = 0
    stopped = "epochs"
    max_time = tc["max_time_s"]
    for epoch in range(1, epochs + 1):
        t_ep = time.perf_counter()
        if loader is None:
            perm = train_idx[torch.randperm(len(train_idx), generator=gen).to(dev)]
            if d.world > 1 and fw is None:  # DistributedSampler semantics: pad by wrapping, then every world-th
                pad = (-len(perm)) % d.world
                perm = torch.cat([perm, perm[:pad]])[d.rank::d.world]
            n_batches = len(perm) // B + (1 if len(perm) % B >= 2 else 0)  # a batch of 1 breaks BatchNorm
            if n_fixed is not None:
                n_batches = n_fixed
            batches = ((Xn(b), Yn[b]) for b in (perm[bi * B:(bi + 1) * B] for bi in range(n_batches)))
        else:
            loader[0].set_epoch(epoch)
            n_batches = n_fixed
            batches = ((xb.to(dev), yb.to(dev)) for xb, yb in streaming.take(loader[1], n_fixed))
        if steps_left is not None:
            n_batches = min(n_batches, steps_left)
            batches = itertools.islice(batches, n_batches)
        model.train()
        loss_sum = torch.zeros((), device=dev)
        n_seen = 0
        for xb, yb in batches:
            if cancel is not None and cancel.is_set():
                stopped = "cancelled"
                break
            if aug["scale"] or aug["noise"] or aug["rotate"]:
                xb = _augment(xb, float(aug["scale"]), float(aug["noise"]), aug_gen, float(aug["rotate"]))
            loss = loss_fn(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if tc["clip_grad"]:
                nn.utils.clip_grad_norm_(net.parameters(), float(tc["clip_grad"]))
            opt.step()
            if ema is not None:
                ema.update()
            loss_sum += loss.detach() * len(xb)
            n_seen += len(xb)
        if steps_left is not None:
            steps_left -= n_batches
        t_fit = time.perf_counter() - t_ep  # the training part of the epoch, for throughput
        if stopped == "cancelled" and n_seen == 0:
            break
        # -- validation (sharded) -----------------------------------------------------------
        eval_net.eval()
        with torch.no_grad():
            acc = torch.zeros(4, dtype=torch.float64, device=dev)  # val loss sum, metric sum, n, train loss
            for i in range(0, len(my_val), EB):
                vb = my_val[i:i + EB]
                out = eval_net(Xn(vb))
                acc[0] += loss_fn(out, Yn[vb]).double() * len(vb)
                if task == "pose" and ws.target == "angles":  # mean absolute error, degrees
                    acc[1] += ((out - Yn[vb]) * y_std_t).abs().mean(dim=1).double().sum()
                elif task == "pose":
                    p = (out * y_std_t + y_mean_t).view(len(vb), -1, 3)[:, 1:]
                    tr = (Yn[vb] * y_std_t + y_mean_t).view(len(vb), -1, 3)[:, 1:]
                    acc[1] += torch.linalg.vector_norm(p - tr, dim=-1).mean(dim=1).double().sum()
                else:
                    acc[1] += (out.argmax(1) == Yn[vb]).double().sum()
                acc[2] += len(vb)
            acc[3] = loss_sum.double() / max(n_seen, 1) / d.world
            _all_sum(acc, d)
        val_loss = float(acc[0] / acc[2])
        val_metric = float(acc[1] / acc[2])
        lr = opt.param_groups[0]["lr"]
        if sched is not None:
            sched.step(val_loss) if tc["schedule"] == "plateau" else sched.step()
        improved = val_loss < best[0]
        if improved:
            best = (val_loss, epoch)
            best_state = {k: v.detach().clone() for k, v in eval_net.state_dict().items()}
            stale = 0
        else:
            stale += 1
        elapsed = time.perf_counter() - t_start
        dt = time.perf_counter() - t_ep
        rec = {"event": "epoch", "epoch": epoch, "epochs": epochs, "train_loss": float(acc[3]),
               "val_loss": val_loss, ("val_acc" if task != "pose" else "val_mae_deg" if ws.target == "angles"
                                      else "val_mpjpe_mm"): val_metric,
               "lr": lr, "elapsed_s": elapsed, "eta_s": dt * (epochs - epoch),
               "samples": n_seen * d.world, "samples_per_s": n_seen * d.world / t_fit if t_fit > 0 else None,
               "best": improved}
        history.append(rec)
        emit(rec)
        if stopped == "cancelled":
            break
        if stale >= int(tc["patience"]):
            stopped = "early"
            break
        if max_time is not None and elapsed > float(max_time):
            stopped = "time"
            break
        if steps_left is not None and steps_left <= 0:
            stopped = "steps"
            break
    return history, best, best_state, stopped


def _best_predictor(cfg: dict, data: _Data, net: nn.Module, best_state: dict, history: list[dict],
                    best: tuple[float, int]) -> Predictor:
    """Step 4a of :func:`train`: the best epoch's weights with the normalisation, on the CPU."""
    task = cfg["task"]
    x_mean, x_std, y_mean, y_std = data.x_mean, data.x_std, data.y_mean, data.y_std
    if history and best[1] < 0:  # every validation loss NaN: the weights diverged; save nothing
        raise TrainingError(f"training diverged: the validation loss was never finite in {len(history)} "
                           f"epoch(s) (lower the learning rate, or check the data); no model saved")
    net.load_state_dict(best_state)
    net.cpu().eval()
    predictor = Predictor(net, task, torch.from_numpy(x_mean), torch.from_numpy(x_std),
                          None if y_mean is None else torch.from_numpy(y_mean),
                          None if y_std is None else torch.from_numpy(y_std)).eval()
    return predictor


def _evaluate(cfg: dict, data: _Data, predictor: Predictor) -> tuple[dict, dict]:
    """Step 4b of :func:`train` (rank 0): blend toward the mean pose, fitted baseline, metrics on the
    validation and test parts, no-skill verdict. Returns (metrics, {"baseline", "blend", "quality"})."""
    task = cfg["task"]
    ws, parts, y_mean, majority = data.ws, data.parts, data.y_mean, data.majority
    metrics: dict = {}
    from recorder.model.guard import apply_blend, assess, baseline_metrics, choose_blend, fit_baseline
    gc = cfg["guard"]
    blend = choose_blend(predictor, ws, parts["val"]) if (task == "pose" and gc["blend"]) else 1.0
    apply_blend(predictor, blend)
    baseline = fit_baseline(ws, parts["train"], task) if gc["baselines"] else None
    for p in ("val", "test"):
        if len(parts[p]):
            metrics[p] = evaluate_windows(predictor, ws, parts[p], task, y_mean, majority)
            if baseline is not None:
                baseline_metrics(metrics[p], baseline, ws, parts[p], task)
    quality = assess(metrics.get("val"), len(parts["train"]), task, gc)
    return metrics, {"baseline": baseline, "blend": blend, "quality": quality}


def _save(cfg: dict, data: _Data, d: _Dist, predictor: Predictor, metrics: dict, extras: dict,
          history: list[dict], best: tuple[float, int], stopped: str, n_params: int, t_start: float,
          out_dir, emit: ProgressFn):
    """Step 5 of :func:`train` (rank 0): the ModelMeta, the model folder (when out_dir), the "done"
    event. Returns (folder or None, meta)."""
    ws, split, parts, stream, fw = data.ws, data.split, data.parts, data.stream, data.fw
    x_mean, x_std, y_mean, y_std, majority = data.x_mean, data.x_std, data.y_mean, data.y_std, data.majority
    node_sessions = data.node_sessions
    baseline, blend, quality = extras["baseline"], extras["blend"], extras["quality"]
    meta = _model_meta(cfg=cfg, ws=ws, split=split, parts=parts, x_mean=x_mean, x_std=x_std,
                       y_mean=y_mean, y_std=y_std, majority=majority, metrics=metrics, history=history)
    meta.training = {"best_epoch": best[1], "epochs_run": len(history), "stopped": stopped,
                     "seconds": time.perf_counter() - t_start, "device": str(d.device),
                     "world_size": d.world, "params": n_params,
                     "data": {"path": "stream" if stream else "files" if fw is not None else "memory",
                              "sessions_per_rank": node_sessions}}
    meta.baselines = {baseline["kind"]: baseline} if baseline is not None else {}
    meta.blend = {"factor": blend, "note": "predictions = mean pose + factor x (network - mean pose)"}
    meta.quality = quality
    out_path = None
    if out_dir is not None:
        from recorder.model.folder import save_model
        out_path = save_model(out_dir, predictor, meta)
    emit({"event": "done", "out_dir": str(out_path) if out_path else None, "best_epoch": best[1],
          "stopped": stopped, "metrics": metrics, "seconds": time.perf_counter() - t_start,
          "quality": meta.quality})
    return out_path, meta


def _normalisation_meta(cfg: dict, x_mean: np.ndarray, x_std: np.ndarray, y_mean: np.ndarray | None,
                        y_std: np.ndarray | None) -> dict:
    """model.json "normalisation": the fitted (x - x_mean) / x_std inside the network and, when
    config.data.session_norm is on, the per-session scale applied before it ("session")."""
    from recorder.dataset.session_norm import resolve
    sn = resolve(cfg["data"].get("session_norm"), cfg["task"])
    out = {"x_mean": x_mean.tolist(), "x_std": x_std.tolist(),
           "y_mean": None if y_mean is None else y_mean.tolist(),
           "y_std": None if y_std is None else y_std.tolist(),
           "note": "inside the model: it takes raw units and returns mm / probabilities"}
    if sn is not None:
        out["session"] = sn
        out["note"] = ("inside the model: it takes session-scaled EMG (raw units divided per channel by the "
                       "session's causal robust scale, \"session\"; recorder.dataset.session_norm) and returns "
                       "mm / probabilities")
    return out


def _model_meta(*, cfg: dict, ws: ds.WindowSet, split: dict, parts: dict, x_mean: np.ndarray, x_std: np.ndarray,
                y_mean: np.ndarray | None, y_std: np.ndarray | None, majority: int | None, metrics: dict,
                history: list[dict]):
    """The ModelMeta of a finished run: input, normalisation, targets, baseline, split and data
    (``training``, ``baselines``, ``blend`` and ``quality`` are set by :func:`train`)."""
    import datetime as _dt
    from recorder.model.folder import ModelMeta
    task = cfg["task"]
    per_session = []
    for i, s in enumerate(ws.sessions):
        counts = {p: int(np.count_nonzero(ws.session[parts[p]] == i)) for p in ds.PARTS}
        per_session.append({**s, "windows": counts})
    return ModelMeta(
        created_utc=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        task=task,
        architecture={"name": cfg["model"]["name"], "params": cfg["model"].get("params") or {}},
        config=cfg,
        input={"sample_rate_hz": ws.sample_rate_hz, "channel_names": ws.channel_names,
               "n_channels": len(ws.channel_names), "window_n": ws.window_n,
               "window_ms": cfg["data"]["window_ms"], "units": "raw device units",
               "layout": "(B, T, C) float32, oldest sample first; the last sample is the one at or "
                         "before the prediction time", "anchor": ws.anchor},
        normalisation=_normalisation_meta(cfg, x_mean, x_std, y_mean, y_std),
        targets=({"kind": "joint_angles_deg", "n": len(ws.target_names), "names": ws.target_names,
                  "layout": "joint angles in degrees, in names order (docs/models.md: computed from the 21 "
                            "landmarks, or a session's imported /pose/angles as they are)"}
                 if task == "pose" and ws.target == "angles" else
                 {"kind": ("world_landmarks_mm_wrist_relative" if cfg["data"]["target_frame"] == "wrist"
                           else "hand_frame_landmarks_mm"), "frame": cfg["data"]["target_frame"], "n": 63,
                  "layout": "21 MediaPipe landmarks x (x, y, z) mm, flattened row-major, wrist (0) = 0"}
                 if task == "pose" else
                 {"kind": "class_probabilities", "n": len(ws.class_names), "layout": "softmax over class_names"}),
        class_names=ws.class_names,
        baseline=({"kind": "training mean angles", "angles_deg": y_mean.tolist()}
                  if task == "pose" and ws.target == "angles" else
                  {"kind": "training mean pose", "pose_mm": y_mean.tolist()} if task == "pose"
                  else {"kind": "training majority class", "class": majority,
                        "name": ws.class_names[majority]}),
        split=ds.split_to_json(split),
        data={"sessions": per_session, "fingerprint": _fingerprint(ws, cfg),
              "windows": {p: int(len(parts[p])) for p in ds.PARTS}, "dropped": ws.dropped,
              "cleaning": ws.clean_counts},
        metrics=metrics,
        history=history,
        software=_software(),
    )


# -- sweeps ------------------------------------------------------------------------------------------
def expand_grid(grid: dict[str, list]) -> list[dict]:
    """{"lr": [1e-3, 3e-4], "batch": [64, 256]} -> 4 override dicts, in a stable order."""
    keys = list(grid)
    return [dict(zip(keys, vals)) for vals in itertools.product(*(list(grid[k]) for k in keys))]


def _run_name(i: int, over: dict) -> str:
    parts = [f"{k}={v}" for k, v in over.items()]
    name = f"{i:02d}_" + "_".join(parts)
    return "".join(c if c.isalnum() or c in "._=-" else "-" for c in name)[:120]


def sweep(base_config: dict | None, grid: dict[str, list], sessions: Iterable, out_dir: str | Path,
          progress: ProgressFn | None = None, cancel: threading.Event | None = None) -> list[dict]:
    """Train one model per grid point into ``out_dir/<NN_key=value...>/`` and write a comparison
    table ``out_dir/sweep.md`` and ``out_dir/sweep.json`` (overrides, final metrics, curves).
    Sessions are read once; windows are built once per distinct data config. Returns the run rows."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sessions = sessions if isinstance(sessions, ds.WindowSet) else ds.as_sessions(sessions)
    cache: dict[str, ds.WindowSet] = {}
    rows = []
    for i, over in enumerate(expand_grid(grid)):
        if cancel is not None and cancel.is_set():
            break
        cfg = copy.deepcopy(base_config or {})
        for k, v in over.items():
            set_path(cfg, k, v)
        full = resolve_config(cfg)
        key = json.dumps([full["task"], full["data"]], sort_keys=True)
        if isinstance(sessions, ds.WindowSet):
            data = sessions
        else:
            if key not in cache:
                dc = full["data"]
                cache[key] = ds.build_windows(sessions, task=full["task"], window_ms=dc["window_ms"], anchor=dc["anchor"],
                                              grid_step_ms=dc["grid_step_ms"], class_names=dc["class_names"],
                                              background_label=dc["background_label"],
                                              target_frame=dc["target_frame"],
                                              transition_guard_ms=dc["transition_guard_ms"],
                                              target=dc["target"], clean=dc["clean"], lag=dc["lag"],
                                              session_norm=dc["session_norm"])
            data = cache[key]
        name = _run_name(i, over)

        def tagged(e, _name=name, _i=i):
            if progress is not None:
                progress({**e, "run": _name, "run_index": _i})
        res = train(cfg, data, out_dir / name, progress=tagged, cancel=cancel)
        rows.append({"run": name, "overrides": over, "out_dir": str(res.out_dir), "best_epoch": res.best_epoch,
                     "epochs_run": len(res.history), "stopped": res.stopped,
                     "seconds": res.meta.training.get("seconds") if res.meta else None, "metrics": res.metrics,
                     "history": res.history})
    (out_dir / "sweep.json").write_text(json.dumps({"base_config": base_config, "grid": grid, "runs": rows},
                                                   indent=1, default=str))
    (out_dir / "sweep.md").write_text(format_sweep_table(rows))
    return rows


def format_sweep_table(rows: list[dict]) -> str:
    """Markdown comparison: one line per run, held-out (test, else val) metrics beside the baseline."""
    lines = ["| run | epochs | best | s | part | metric | baseline | ratio / bal. acc |", "|---" * 8 + "|"]
    for r in rows:
        part = "test" if "test" in r["metrics"] else "val"
        m = r["metrics"].get(part, {})
        if "mpjpe_mm" in m:
            metric, base, extra = f"MPJPE {m['mpjpe_mm']:.1f} mm", f"{m['baseline_mpjpe_mm']:.1f} mm", f"{m['ratio']:.3f}"
        elif "mae_deg" in m:
            metric, base, extra = f"MAE {m['mae_deg']:.1f} deg", f"{m['baseline_mae_deg']:.1f} deg", f"{m['ratio']:.3f}"
        elif "accuracy" in m:
            metric, base, extra = f"acc {m['accuracy']:.4f}", f"{m.get('baseline_accuracy', float('nan')):.4f}", \
                f"{m['balanced_accuracy']:.4f}"
        else:
            metric = base = extra = "-"
        secs = f"{r['seconds']:.0f}" if r.get("seconds") is not None else "-"
        lines.append(f"| {r['run']} | {r['epochs_run']} | {r['best_epoch']} | {secs} | {part} | {metric} | {base} | {extra} |")
    return "\n".join(lines) + "\n"


# -- progress events ---------------------------------------------------------------------------------
#: The events :func:`train` passes to ``progress`` (rank 0 only) and ``emgrec train --jsonl-progress``
#: prints, one JSON object per line: kind -> the keys every event of that kind holds (docs/models.md,
#: "Progress events"). An epoch event also holds exactly one of :data:`EPOCH_METRICS`; :func:`sweep`
#: adds "run" and "run_index" to each event. "calibration" (``emgrec train --init``: the report of
#: recorder.model.calibrate, after its runs' events) and "error" (exit status 1) come from the command line only.
PROGRESS_EVENTS: dict[str, tuple[str, ...]] = {
    "start": ("event", "task", "model", "params", "n_train", "n_val", "n_test", "window_n", "classes", "device",
              "world_size", "epochs", "data", "node_sessions"),
    "epoch": ("event", "epoch", "epochs", "train_loss", "val_loss", "lr", "elapsed_s", "eta_s", "samples",
              "samples_per_s", "best"),
    "done": ("event", "out_dir", "best_epoch", "stopped", "metrics", "seconds", "quality"),
    "calibration": ("event", "report"),
    "error": ("event", "error"),
}
#: An epoch event's validation metric: MPJPE mm (landmarks), angle MAE deg (joint angles), accuracy (gesture).
EPOCH_METRICS = ("val_mpjpe_mm", "val_mae_deg", "val_acc")


def jsonl_progress(stream=None) -> ProgressFn:
    """A progress callback that writes one JSON object per line (flushed) to ``stream`` (stdout)."""
    def emit(e: dict) -> None:
        s = stream or sys.stdout
        s.write(json.dumps(e, default=float) + "\n")
        s.flush()
    return emit
