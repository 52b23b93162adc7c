"""Model folders: save, load (validated, never pickle), evaluate, ensemble, predict, export.

A model is a folder::

    model.json          architecture + hyper-parameters, input (rate, channels, window), normalisation,
                        targets, class names, split, data fingerprint, metrics, curves, versions
    weights.safetensors the Predictor's state dict (network + normalisation buffers)

The loaded module (:class:`recorder.model.architectures.Predictor`) takes raw EMG windows (B, T, C) in device
units and returns (B, 63) mm wrist-relative poses or (B, K) class probabilities.

Reading model.json (:func:`read_meta`, :class:`ModelMeta`) does not import torch (the GUI lists model
folders at start-up); torch and the architectures are imported by the functions that build networks.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from recorder.dataset import windows as ds
from recorder.core.errors import EmgrecError, UsageError
from recorder.model.metrics import gesture_metrics, pose_metrics

if TYPE_CHECKING:
    from recorder.model.architectures import Predictor

log = logging.getLogger(__name__)

FORMAT = "emgrec-model"
FORMAT_VERSION = 1
META_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"
_REQUIRED = ("format", "format_version", "task", "architecture", "input", "normalisation", "targets",
             "class_names", "baseline", "split")
#: Bounds on what a model folder may ask for; beyond them the folder is refused before anything is built.
MAX_META_BYTES = 32 << 20  # model.json (curves and metrics included; real ones are well under 1 MB)
MAX_WEIGHTS_BYTES = 2 << 30
MAX_PARAMETERS = 50_000_000  # the network model.json describes (the largest preset is far below)
MAX_CHANNELS = 1024
MAX_WINDOW_N = 100_000
MAX_OUTPUTS = 10_000


class ModelFormatError(EmgrecError, ValueError):
    """A folder that is not a readable emgrec model (missing, corrupt, foreign or mismatched files)."""

    def __init__(self, path, problem: str):
        self.path = Path(path)
        super().__init__(f"{self.path}: {problem}")


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-able: {type(o).__name__}")


def _clean(o):
    """NaN/inf -> None, so model.json is strict JSON that any tool reads."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


#: Top-level keys of model.json that are optional (absent in a file: None here, and not written back).
_OPTIONAL = ("created_utc", "config", "baselines", "blend", "quality", "calibration")


@dataclass(kw_only=True)
class ModelMeta:
    """The one definition of ``model.json`` (format ``emgrec-model``, version 1): what a model folder
    says about its network, input, targets, data and results. :func:`read_meta` returns one,
    :func:`save_model` writes one (:meth:`to_json`); training builds it by keywords.

    Fields, in the order the file holds them (the nested sections are plain JSON objects)::

        format          str   "emgrec-model"
        format_version  int   1 (every version written so far; :meth:`from_json` reads up to FORMAT_VERSION)
        created_utc     str   ISO 8601 time of training, UTC, seconds (optional)
        task            str   "pose" (regression) | "gesture" (classification)
        architecture    {"name": str (recorder.model.architectures.REGISTRY), "params": {...}}
        config          the resolved training config (recorder.model.training.DEFAULT_CONFIG's keys; optional)
        input           {"sample_rate_hz": Hz, "channel_names": [C str], "n_channels": C,
                         "window_n": T samples, "window_ms": ms, "units": "raw device units",
                         "layout": "(B, T, C) float32 ...", "anchor": "frames" | "grid"}
        normalisation   {"x_mean": [C] raw units, "x_std": [C] raw units, "y_mean": [n] | null,
                         "y_std": [n] | null (pose targets' units), "note": str}; applied inside the network;
                         "session": {"enabled": true, "kind", "block_ms", "window_s", "warmup_s"} (optional):
                         the per-session scale (recorder.dataset.session_norm) applied to the EMG before the
                         network, so x_mean / x_std are then in session-scaled units; absent: raw units
        targets         {"kind": "world_landmarks_mm_wrist_relative" | "hand_frame_landmarks_mm" |
                         "joint_angles_deg" | "class_probabilities", "n": outputs, "layout": str,
                         "frame": "wrist" | "hand" (landmarks), "names": [n str] (angles)}
        class_names     [K str] gesture classes in output order ([] for pose)
        baseline        pose: {"kind", "pose_mm": [63] mm} or {"kind", "angles_deg": [n] deg};
                        gesture: {"kind", "class": majority index, "name": str}
        split           recorder.dataset.windows.split_to_json: {"mode", "sessions": [{"train"|"val"|"test": [[t0, t1] s]}]}
        data            {"sessions": [{name, path, sha256, ..., "windows": {part: count}}], "fingerprint": sha256 hex,
                         "windows": {part: count}, "dropped": {...}, "cleaning": {...} | null}
        metrics         {"val" | "test": pose metrics (mm) / angle metrics (deg) / gesture metrics}
        history         [one training "epoch" event per epoch (docs/models.md, progress events)]
        training        {"best_epoch", "epochs_run", "stopped", "seconds" s, "device", "world_size", "params",
                         "data": {"path": "memory" | "files" | "stream", "sessions_per_rank": [[int]]}}
        software        {"emgrec", "torch", "numpy", "python": version strings}
        baselines       {"ridge" | "lda": the fitted baseline (recorder.model.guard.fit_baseline)} (optional)
        blend           {"factor": 0..1, "note": str}: predictions shrunk toward the mean pose (optional)
        quality         {"no_skill": bool, "reasons": [str], "message": str} (recorder.model.guard.assess; optional)
        calibration     {"init": model folder, "calibration_s": s, "chosen": str, "val_error": {...}} (optional)
        extra           keys this software does not know, kept as they are and written back last

    NaN and infinities are written as null (strict JSON).
    """

    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    created_utc: str | None = None
    task: str
    architecture: dict
    config: dict | None = None
    input: dict
    normalisation: dict
    targets: dict
    class_names: list[str]
    baseline: dict
    split: dict
    data: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    training: dict = field(default_factory=dict)
    software: dict = field(default_factory=dict)
    baselines: dict | None = None
    blend: dict | None = None
    quality: dict | None = None
    calibration: dict | None = None
    extra: dict = field(default_factory=dict)

    # -- convenience views of nested values (read-only) --------------------------------------------
    @property
    def architecture_name(self) -> str:
        return str(self.architecture.get("name", "?"))

    @property
    def window_ms(self) -> float:
        """Input window, ms."""
        return float(self.input["window_ms"])

    @property
    def window_n(self) -> int:
        """Input window, samples."""
        return int(self.input["window_n"])

    @property
    def sample_rate_hz(self) -> float:
        return float(self.input["sample_rate_hz"])

    @property
    def channel_names(self) -> list[str]:
        return list(self.input["channel_names"])

    @property
    def n_outputs(self) -> int:
        return int(self.targets["n"])

    @property
    def target_kind(self) -> str:
        return str(self.targets.get("kind", ""))

    @property
    def is_angles(self) -> bool:
        """A pose model predicting joint angles (degrees), not 63 landmark values (mm)."""
        return self.task == "pose" and self.target_kind == "joint_angles_deg"

    @property
    def no_skill(self) -> bool:
        """Flagged by the no-skill guard (recorder.model.guard)."""
        return bool((self.quality or {}).get("no_skill"))

    @property
    def session_norm(self) -> dict | None:
        """The per-session input scale (recorder.dataset.session_norm settings) the model's input
        went through, or None (raw units; every model trained before the option existed)."""
        from recorder.dataset.session_norm import resolve
        return resolve(self.normalisation.get("session"))

    @property
    def data_config(self) -> dict:
        """config.data ({} for a model without a stored config)."""
        return dict((self.config or {}).get("data") or {})

    @property
    def session_names(self) -> list[str]:
        return [str(s.get("name", "?")) for s in self.data.get("sessions", [])]

    # -- JSON --------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """model.json as a JSON-able dict (numpy values and paths converted; NaN/inf -> None)."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            v = getattr(self, f.name)
            if v is None and f.name in _OPTIONAL:
                continue
            out[f.name] = v
        out.update({k: v for k, v in self.extra.items() if k not in out})
        return _clean(json.loads(json.dumps(out, default=_json_default)))

    def to_json(self) -> str:
        """The text of model.json (indent 1, strict JSON)."""
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)

    @classmethod
    def from_dict(cls, meta: Any, path: str | Path | None = None) -> "ModelMeta":
        """Validate a parsed model.json (every key :func:`load_model` uses is checked before anything is
        built). ModelFormatError, naming ``path``, otherwise."""
        d = Path(path) if path is not None else Path(META_FILE)
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
            raise ModelFormatError(d, f"{META_FILE} is not an emgrec model (format {got!r}, expected {FORMAT!r})")
        if not isinstance(meta.get("format_version"), int) or meta["format_version"] > FORMAT_VERSION:
            raise ModelFormatError(d, f"model format version {meta.get('format_version')!r} is not readable by this "
                                      f"software (reads up to {FORMAT_VERSION})")
        missing = [k for k in _REQUIRED if k not in meta]
        if missing:
            raise ModelFormatError(d, f"{META_FILE} lacks {', '.join(missing)}")
        _validate_meta(d, meta)
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kw = {k: v for k, v in meta.items() if k in known}
        for k, typ in (("data", dict), ("metrics", dict), ("training", dict), ("software", dict), ("history", list)):
            if k in kw and not isinstance(kw[k], typ):
                _need(d, kw[k] is None, f"{k} must be {'a list' if typ is list else 'an object'}")
                kw[k] = typ()
        for k in _OPTIONAL:
            _need(d, kw.get(k) is None or isinstance(kw[k], str if k == "created_utc" else dict),
                  f"{k} must be {'a string' if k == 'created_utc' else 'an object'} or absent")
        return cls(**kw, extra={k: v for k, v in meta.items() if k not in known})

    @classmethod
    def from_json(cls, text: str | bytes, path: str | Path | None = None) -> "ModelMeta":
        """Parse and validate the text of a model.json (see :meth:`from_dict`)."""
        d = Path(path) if path is not None else Path(META_FILE)
        try:
            meta = json.loads(text)
        except RecursionError:
            raise ModelFormatError(d, f"{META_FILE} is nested too deeply") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise ModelFormatError(d, f"{META_FILE} is not valid JSON ({e})") from None
        return cls.from_dict(meta, d)


def save_model(out_dir: str | Path, predictor: Predictor, meta: "ModelMeta") -> Path:
    """Write ``model.json`` (``meta.to_json()``) and ``weights.safetensors`` into out_dir (created).
    Returns the folder. Raises ValueError, writing nothing, when a weight or buffer is NaN or
    infinite (training diverged)."""
    import torch
    from safetensors.torch import save_file

    out = Path(out_dir)
    state = {k: v.detach().cpu().contiguous() for k, v in predictor.state_dict().items()}
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ModelFormatError(out, f"not saved: {len(bad)} of {len(state)} weight tensors hold NaN or inf "
                         f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}); training diverged "
                         f"(lower the learning rate, or check the data)")
    text = meta.to_json()
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (WEIGHTS_FILE + ".tmp")
    save_file(state, str(tmp), metadata={"format": FORMAT, "task": str(meta.task)})
    tmp.replace(out / WEIGHTS_FILE)
    (out / (META_FILE + ".tmp")).write_text(text)
    (out / (META_FILE + ".tmp")).replace(out / META_FILE)
    return out


def _inside(d: Path, name: str) -> Path:
    """d/name, refused when it is a link (or a link on the way) that leads outside the folder d."""
    f = d / name
    try:
        real, root = f.resolve(strict=False), d.resolve(strict=True)
    except (OSError, RuntimeError) as e:  # a symlink loop
        raise ModelFormatError(d, f"cannot resolve {name} ({e})") from None
    if real.parent != root:
        raise ModelFormatError(d, f"{name} is a link to {real}, outside the model folder; refused")
    return f


def _need(d: Path, ok: bool, what: str) -> None:
    if not ok:
        raise ModelFormatError(d, f"{META_FILE}: {what}")


def _is_int(v, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_num_list(v, n: int | None = None) -> bool:
    return isinstance(v, list) and (n is None or len(v) == n) and all(_is_num(x) for x in v)


def _validate_meta(d: Path, meta: dict) -> None:
    """Everything :func:`load_model` and :class:`LoadedModel` use, checked before anything is built."""
    task = meta["task"]
    _need(d, task in ("pose", "gesture"), f"task must be 'pose' or 'gesture', got {task!r}")
    arch = meta["architecture"]
    _need(d, isinstance(arch, dict) and isinstance(arch.get("name"), str)
          and isinstance(arch.get("params", {}) or {}, dict),
          "architecture must be {\"name\": str, \"params\": {...}}")
    inp = meta["input"]
    _need(d, isinstance(inp, dict), "input must be an object")
    for k in ("n_channels", "window_n", "sample_rate_hz", "channel_names", "window_ms"):
        _need(d, k in inp, f"input lacks {k}")
    C = inp["n_channels"]
    _need(d, _is_int(C, 1, MAX_CHANNELS), f"input.n_channels must be an integer in 1..{MAX_CHANNELS}, got {C!r}")
    _need(d, _is_int(inp["window_n"], 2, MAX_WINDOW_N),
          f"input.window_n must be an integer in 2..{MAX_WINDOW_N}, got {inp['window_n']!r}")
    _need(d, _is_num(inp["sample_rate_hz"]) and inp["sample_rate_hz"] > 0, "input.sample_rate_hz must be a positive number")
    _need(d, _is_num(inp["window_ms"]), "input.window_ms must be a number")
    names = inp["channel_names"]
    _need(d, isinstance(names, list) and len(names) == C and all(isinstance(c, str) for c in names),
          f"input.channel_names must be {C} strings")
    t = meta["targets"]
    _need(d, isinstance(t, dict) and _is_int(t.get("n"), 1, MAX_OUTPUTS),
          f"targets.n must be an integer in 1..{MAX_OUTPUTS}")
    cn = meta["class_names"]
    _need(d, isinstance(cn, list) and all(isinstance(c, str) for c in cn), "class_names must be a list of strings")
    if task == "gesture":
        _need(d, len(cn) == t["n"], f"{len(cn)} class_names for {t['n']} outputs")
    norm = meta["normalisation"]
    _need(d, isinstance(norm, dict), "normalisation must be an object")
    if norm.get("session") is not None:
        from recorder.dataset.session_norm import SessionNormError, resolve
        sn = norm["session"]
        _need(d, isinstance(sn, dict), "normalisation.session must be an object or absent")
        try:
            resolve(sn)
        except (SessionNormError, TypeError, ValueError) as e:
            raise ModelFormatError(d, f"{META_FILE}: normalisation.session is malformed ({e})") from None
    b = meta["baseline"]
    _need(d, isinstance(b, dict), "baseline must be an object")
    if task == "pose":
        key = "angles_deg" if "angles_deg" in b else "pose_mm"  # joint-angle models keep mean angles
        _need(d, _is_num_list(b.get(key), t["n"]), f"baseline.{key} must be {t['n']} numbers")
    else:
        _need(d, b.get("class") is None or _is_int(b.get("class"), 0, t["n"] - 1),
              "baseline.class must be a class index or null")
    sp = meta["split"]
    _need(d, isinstance(sp, dict) and isinstance(sp.get("sessions"), list)
          and all(isinstance(e, dict) and all(isinstance(e.get(p), list) for p in ds.PARTS) for e in sp["sessions"]),
          "split must hold sessions with " + "/".join(ds.PARTS) + " interval lists")
    try:
        ds.split_from_json(sp)
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFormatError(d, f"{META_FILE}: split is malformed ({type(e).__name__}: {e})") from None


def _check_size(d: Path, meta: ModelMeta) -> None:
    """Count the parameters of the network model.json describes without allocating them (meta device)."""
    import torch

    from recorder.model.architectures import ModelConfigError, build_model

    inp, n_out = meta.input, meta.targets["n"]
    try:
        with torch.device("meta"):
            net = build_model(meta.architecture, inp["n_channels"], inp["window_n"], n_out)
    except ModelConfigError as e:
        raise ModelFormatError(d, f"model.json describes an architecture this software cannot build ({e})") from None
    except (KeyError, TypeError, ValueError, RuntimeError, OverflowError) as e:
        raise ModelFormatError(d, f"model.json architecture parameters are invalid ({type(e).__name__}: {e})") from None
    n = sum(p.numel() for p in net.parameters())
    if n > MAX_PARAMETERS:
        raise ModelFormatError(d, f"model.json describes a network of {n:,} parameters (at most "
                                  f"{MAX_PARAMETERS:,} are built)")


def read_meta(model_dir: str | Path) -> ModelMeta:
    """model.json of a folder, validated (:meth:`ModelMeta.from_json`); ModelFormatError otherwise.
    Refuses a model.json that is a link out of the folder or larger than MAX_META_BYTES."""
    d = Path(model_dir)
    if not d.is_dir():
        raise ModelFormatError(d, "not a folder (a model is a folder with model.json and weights.safetensors)")
    f = _inside(d, META_FILE)
    if not f.is_file():
        raise ModelFormatError(d, f"no {META_FILE}; not an emgrec model folder")
    size = f.stat().st_size
    if size > MAX_META_BYTES:
        raise ModelFormatError(d, f"{META_FILE} is {size:,} bytes (at most {MAX_META_BYTES:,} are read)")
    try:
        text = f.read_text()
    except UnicodeDecodeError as e:
        raise ModelFormatError(d, f"{META_FILE} is not valid JSON ({e})") from None
    return ModelMeta.from_json(text, d)


class LoadedModel:
    """A model folder in memory.

    module: the :class:`Predictor` (CPU, eval mode); meta: its :class:`ModelMeta` (model.json); task:
    "pose" | "gesture"; window_n: T samples; sample_rate_hz; channel_names; class_names; baseline_pose (63,)
    mm (pose task).
    """

    def __init__(self, path: Path, meta: ModelMeta, module: Predictor):
        self.path = Path(path)
        self.meta = meta
        self.module = module
        self.task: str = meta.task
        self.window_n = meta.window_n
        self.sample_rate_hz = meta.sample_rate_hz
        self.channel_names = meta.channel_names
        self.class_names = list(meta.class_names)
        self.split = ds.split_from_json(meta.split)
        b = meta.baseline
        # Joint-angle models keep their training mean angles under "angles_deg".
        self.baseline_pose = (np.asarray(b["angles_deg"] if "angles_deg" in b else b["pose_mm"], np.float32)
                              if self.task == "pose" else None)
        self.majority_class = b.get("class") if self.task == "gesture" else None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def window_ms(self) -> float:
        return self.meta.window_ms

    def predict(self, X: np.ndarray, batch: int = 4096) -> np.ndarray:
        """X: (N, T', C) raw units with T' >= window_n (the last window_n samples are used); for a
        model with a per-session scale (``meta.session_norm``), windows of the session-scaled signal
        (:func:`model_windows` builds them; a raw window alone cannot be scaled, the scale comes
        from the session before it). Returns (N, 63) float32 mm, or (N, K) class probabilities. A ``dataset.WindowView`` is
        gathered a batch at a time (no window array)."""
        from recorder.model.predict import predict_array
        if isinstance(X, ds.LAZY_WINDOWS):
            if X.shape[2] != len(self.channel_names) or X.shape[1] < self.window_n:
                raise ValueError(f"{self.path}: expected windows (N, >={self.window_n}, {len(self.channel_names)}), "
                                 f"got {X.shape}")
            return predict_array(self.module, X.tail(self.window_n), batch)
        X = np.asarray(X, np.float32)
        if X.ndim != 3 or X.shape[2] != len(self.channel_names) or X.shape[1] < self.window_n:
            raise ValueError(f"{self.path}: expected windows (N, >={self.window_n}, {len(self.channel_names)}), "
                             f"got {X.shape}")
        return predict_array(self.module, X[:, X.shape[1] - self.window_n:], batch)


def load_model(model_dir: str | Path, device: str = "cpu") -> LoadedModel:
    """Load and validate a model folder. Raises ModelFormatError (naming the folder) when the folder
    is missing files, holds invalid JSON, a foreign format, a corrupt weights file, or weights that
    do not fit the described architecture."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from recorder.model.architectures import ModelConfigError, Predictor, build_model

    d = Path(model_dir)
    meta = read_meta(d)
    _check_size(d, meta)
    w = _inside(d, WEIGHTS_FILE)
    if not w.is_file():
        pickles = sorted(p.name for p in d.glob("*.pt*")) + sorted(p.name for p in d.glob("*.pkl"))
        hint = f" (found {', '.join(pickles)}: pickled weights are never loaded)" if pickles else ""
        raise ModelFormatError(d, f"no {WEIGHTS_FILE}{hint}")
    if w.stat().st_size > MAX_WEIGHTS_BYTES:
        raise ModelFormatError(d, f"{WEIGHTS_FILE} is {w.stat().st_size / 1e9:.1f} GB; refused")
    try:
        state = load_file(str(w), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise ModelFormatError(d, f"{WEIGHTS_FILE} is corrupt or not safetensors ({e})") from None
    try:
        inp = meta.input
        n_out = meta.n_outputs
        net = build_model(meta.architecture, int(inp["n_channels"]), int(inp["window_n"]), n_out)
        pose = meta.task == "pose"
        pred = Predictor(net, meta.task, torch.zeros(int(inp["n_channels"])), torch.ones(int(inp["n_channels"])),
                         torch.zeros(n_out) if pose else None, torch.ones(n_out) if pose else None)
        pred.load_state_dict(state, strict=True)
    except ModelConfigError as e:
        raise ModelFormatError(d, f"model.json describes an architecture this software cannot build ({e})") from None
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFormatError(d, f"model.json is incomplete ({type(e).__name__}: {e})") from None
    except RuntimeError as e:  # load_state_dict: missing/unexpected keys or shape mismatch
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelFormatError(d, f"weights do not match the architecture in model.json: {first}") from None
    pred.to(device).eval()
    return LoadedModel(d, meta, pred)


def is_model_dir(path: str | Path) -> bool:
    return (Path(path) / META_FILE).is_file()


# -- ensembles ---------------------------------------------------------------------------------------
class Ensemble:
    """Several models with the same task, rate, channels (and classes) used as one: poses are averaged
    in mm, class probabilities averaged. Members may use different window lengths; windows are built
    with the longest and each member takes its trailing ``window_n`` samples."""

    def __init__(self, models: Sequence[str | Path | LoadedModel]):
        self.members = [m if isinstance(m, LoadedModel) else load_model(m) for m in models]
        if not self.members:
            raise UsageError("an ensemble needs at least one model")
        a = self.members[0]
        for m in self.members[1:]:
            if m.task != a.task or abs(m.sample_rate_hz - a.sample_rate_hz) > 1e-6 or len(m.channel_names) != len(a.channel_names):
                raise UsageError(f"{m.path} ({m.task}, {m.sample_rate_hz} Hz, {len(m.channel_names)} ch) cannot join "
                                 f"{a.path} ({a.task}, {a.sample_rate_hz} Hz, {len(a.channel_names)} ch)")
            if m.meta.session_norm != a.meta.session_norm:
                raise UsageError(f"{m.path} and {a.path} scale their input differently (normalisation.session "
                                 f"{m.meta.session_norm} vs {a.meta.session_norm}); they cannot share windows")
            if a.task == "gesture" and m.class_names != a.class_names:
                raise UsageError(f"{m.path}: classes {m.class_names} differ from {a.path}: {a.class_names}")
        self.task, self.sample_rate_hz, self.channel_names = a.task, a.sample_rate_hz, a.channel_names
        self.class_names = a.class_names
        self.window_n = max(m.window_n for m in self.members)
        self.split = a.split
        self.meta = dataclasses.replace(a.meta, input={**a.meta.input, "window_n": self.window_n,
                                                       "window_ms": self.window_n / self.sample_rate_hz * 1e3})
        self.baseline_pose = a.baseline_pose
        self.majority_class = a.majority_class
        self.path = Path("+".join(m.name for m in self.members))

    @property
    def name(self) -> str:
        return "ensemble(" + ", ".join(m.name for m in self.members) + ")"

    @property
    def window_ms(self) -> float:
        return self.window_n / self.sample_rate_hz * 1e3

    def predict(self, X: np.ndarray, batch: int = 4096) -> np.ndarray:
        """X: (N, T', C) with T' >= the longest member window. Mean of the members' outputs."""
        return np.mean([m.predict(X, batch) for m in self.members], axis=0).astype(np.float32)


Model = LoadedModel | Ensemble


def as_model(paths: Sequence[str | Path], ensemble: bool) -> list[Model]:
    """Load model folders; with ensemble=True, one Ensemble of them all."""
    ms = [load_model(p) for p in paths]
    return [Ensemble(ms)] if ensemble and len(ms) > 1 else ms


# -- evaluation and prediction on sessions -----------------------------------------------------------
def model_windows(model: Model, sessions: Iterable, anchor: str | None = None) -> ds.WindowSet:
    """Windows for ``model`` from sessions, with the model's window, classes and anchoring."""
    dc = model.meta.data_config
    return ds.build_windows(sessions, task=model.task, window_ms=model.window_n / model.sample_rate_hz * 1e3,
                            anchor=anchor or dc.get("anchor", "auto"), grid_step_ms=dc.get("grid_step_ms", 50.0),
                            class_names=model.class_names if model.task == "gesture" else None,
                            background_label=dc.get("background_label", "rest"),
                            target_frame=dc.get("target_frame", "wrist"),
                            transition_guard_ms=dc.get("transition_guard_ms"), target=dc.get("target", "landmarks"),
                            clean=dc.get("clean"), lag=dc.get("lag"), session_norm=model.meta.session_norm)


def _check_compatible(model: Model, ws: ds.WindowSet) -> None:
    if abs(ws.sample_rate_hz - model.sample_rate_hz) > 1e-6 or len(ws.channel_names) != len(model.channel_names):
        raise ds.DatasetError(f"{model.path}: model expects {model.sample_rate_hz} Hz x {len(model.channel_names)} channels, "
                         f"sessions have {ws.sample_rate_hz} Hz x {len(ws.channel_names)}")


def held_out_indices(model: Model, ws: ds.WindowSet, part: str = "auto") -> tuple[np.ndarray, str]:
    """Which windows to score. part "all": every window; "train" | "val" | "test": that part of the
    model's stored split (sessions it never saw count entirely); "auto": the model's test part (val
    when it has no test part) for sessions it was trained on, every window of other sessions."""
    if part == "all":
        return np.arange(len(ws)), "all"
    if part == "auto":
        has_test = any(e["test"] for e in model.split["sessions"])
        part = "test" if has_test else "val"
    return ds.split_indices(ws, model.split, part, strict=False), part


def evaluate(model: Model, sessions: Iterable, part: str = "auto") -> dict:
    """Score a model or ensemble on sessions. Returns {"model", "part", "n_windows", "metrics"}
    with pose metrics (MPJPE, per finger, R^2, mean-pose baseline = the model's training mean pose,
    ratio) or gesture metrics (accuracy, confusion, recall, majority baseline)."""
    ws = model_windows(model, sessions)
    _check_compatible(model, ws)
    idx, used = held_out_indices(model, ws, part)
    if len(idx) == 0:
        raise ds.DatasetError(f"no windows to evaluate in the {used!r} part of these sessions")
    out = model.predict(ws.subset(idx).X)
    if model.task == "pose" and ws.target == "angles":
        from recorder.dataset.angles import angle_metrics
        m = angle_metrics(out, ws.y[idx], model.baseline_pose, ws.target_names)
    elif model.task == "pose":
        m = pose_metrics(out, ws.y[idx], model.baseline_pose)
    else:
        m = gesture_metrics(out, ws.label[idx], model.class_names, model.majority_class)
    # The ridge / LDA baseline stored with the model (fitted on its training windows), on the same windows.
    fitted = model.meta.baselines or {}
    b = fitted.get("ridge" if model.task == "pose" else "lda")
    if b is not None:
        from recorder.model.guard import baseline_metrics
        baseline_metrics(m, b, ws, idx, model.task)
    from recorder.model.guard import model_flag
    return {"model": model.name, "part": used, "n_windows": int(len(idx)), "metrics": m,
            "flag": model_flag(model.meta)}


def predict_session(model: Model, session, anchor: str | None = None) -> dict:
    """Per-anchor predictions for one session: {"t" (M,) s, "frame" (M,) (-1 for grid anchors),
    "pred" (M, 63) mm or (M, K) probabilities, "true" (M, 63) or labels (M,), "class_names"}."""
    ws = model_windows(model, [session], anchor)
    _check_compatible(model, ws)
    pred = model.predict(ws.X)
    return {"t": ws.t, "frame": ws.frame, "pred": pred,
            "true": ws.y if model.task == "pose" else ws.label, "class_names": model.class_names,
            "task": model.task}


# -- export ------------------------------------------------------------------------------------------
def export_model(model_dir: str | Path, fmt: str, out: str | Path) -> tuple[Path, Path]:
    """Export a model folder for use without emgrec: "torchscript" (torch.jit, .pt), "pt2"
    (torch.export program), or "onnx" (extra ``[onnx]``; checked against PyTorch with onnxruntime on
    100 windows, see :mod:`recorder.model.onnx_export`). The exported
    program takes raw EMG (B, T, C) float32 and includes the normalisation. A sidecar ``OUT.json``
    says how to feed it. Returns (model file, sidecar)."""
    import torch

    m = load_model(model_dir)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    C, T = len(m.channel_names), m.window_n
    example = torch.zeros(2, T, C)
    module = m.module.eval()
    if fmt == "torchscript":
        with torch.no_grad():
            traced = torch.jit.trace(module, example, check_trace=False)
        traced.save(str(out))
    elif fmt == "pt2":
        batch = torch.export.Dim("batch", min=1, max=65536)
        prog = torch.export.export(module, (example,), dynamic_shapes={"x": {0: batch}})
        torch.export.save(prog, str(out))
    elif fmt == "onnx":
        from recorder.model.onnx_export import OnnxExportError, check_onnx, export_onnx, sample_windows
        export_onnx(module, T, C, out)
        onnx_check = None
        try:
            onnx_check = check_onnx(module, out, sample_windows(module, T, C, 100))
        except RuntimeError as e:  # onnxruntime missing: the file is still valid ONNX (checked)
            log.info("ONNX file not run: %s", e)
        if onnx_check is not None and onnx_check > 1e-4:
            raise OnnxExportError(f"{out}: onnxruntime differs from PyTorch by {onnx_check:.2e} (> 1e-4 relative)")
    else:
        raise UsageError(f"export format must be torchscript, pt2 or onnx, got {fmt!r}")
    meta = m.meta
    side = {
        "exported_from": str(m.path), "format": fmt, "file": out.name,
        "load": {"torchscript": "torch.jit.load(file)", "pt2": "torch.export.load(file).module()",
                 "onnx": "onnxruntime.InferenceSession(file)"}[fmt],
        "input": {"shape": ["batch", T, C], "dtype": "float32", "units": "raw device units (as recorded)",
                  "sample_rate_hz": m.sample_rate_hz, "window_n": T, "window_ms": T / m.sample_rate_hz * 1e3,
                  "channel_order": m.channel_names,
                  "order": "oldest sample first; the last sample is the newest (prediction time)"},
        "normalisation": {"included": True, "formula": "(x - x_mean) / x_std per channel, inside the model",
                          "x_mean": meta.normalisation["x_mean"], "x_std": meta.normalisation["x_std"],
                          **({"session": meta.session_norm,
                              "session_note": "NOT included: divide the raw stream per channel by the causal "
                                              "per-session scale first (recorder.dataset.session_norm.CausalScaler)"}
                             if meta.session_norm else {})},
        "output": ({"shape": ["batch", 63], "units": "mm",
                    "layout": "21 MediaPipe hand landmarks x (x, y, z), world axes, wrist-relative, flattened"}
                   if m.task == "pose" else
                   {"shape": ["batch", len(m.class_names)], "units": "probability", "class_names": m.class_names}),
        "task": m.task, "architecture": meta.architecture, "metrics": meta.metrics,
        "software": meta.software,
    }
    if fmt == "onnx":
        side["onnx"] = {"opset": 17, "input_name": "emg", "output_name": "out",
                        "max_rel_diff_vs_pytorch_100_windows": onnx_check}
    side_path = out.with_name(out.name + ".json")
    side_path.write_text(json.dumps(_clean(side), indent=1))
    return out, side_path
