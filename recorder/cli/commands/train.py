"""emgrec train: train an EMG -> hand pose (or gesture) model from session files into a model folder."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

from recorder.core.errors import EmgrecError, UsageError


def register(sub) -> None:
    p = sub.add_parser("train", help="train a model from session files",
                       description="Train an EMG -> hand-pose (or gesture) model. Ctrl-C stops early and "
                                   "keeps the best model so far.")
    p.add_argument("sessions", nargs="+", type=Path, help="session files (.h5)")
    p.add_argument("--out", type=Path, required=True, help="model folder to write (a sweep: a folder of them)")
    p.add_argument("--config", type=Path, help="JSON config (see recorder.model.training.DEFAULT_CONFIG); "
                                               "options below override it")
    p.add_argument("--task", choices=["pose", "gesture"], help="pose regression or gesture classification")
    # Defaults spelled out (recorder.model.training imports torch, too slow for --help); a test keeps them
    # equal to DEFAULT_CONFIG and the model registry.
    p.add_argument("--model", help="architecture: envelope_lstm (default) | seed_lstm | small_lstm | dense | conv_lstm")
    p.add_argument("--window-ms", type=float, help="EMG window ending at each frame (ms; default 400)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--split", choices=["time", "blocks", "session"], help="held-out time blocks or whole sessions")
    p.add_argument("--target-frame", choices=["wrist", "hand"],
                   help="pose targets in world axes minus the wrist, or in the palm's own frame")
    p.add_argument("--target", choices=["landmarks", "angles"],
                   help="pose targets: the 63 landmark values (mm) or joint angles in degrees (imported, else "
                        "computed from the landmarks; docs/models.md)")
    p.add_argument("--clean", action="store_true",
                   help="mask bad pose labels (low score, bone length, jumps, wrong hand, 0/180 deg angle "
                        "glitches; thresholds: --set data.clean.KEY=V, see recorder/dataset/clean.py)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. --set train.patience=5 --set model.params.hidden=128")
    p.add_argument("--sweep", nargs="+", metavar="KEY=V1,V2",
                   help="grid search, e.g. --sweep lr=1e-3,3e-4 batch=64,256; one model per combination "
                        "under --out, with sweep.md / sweep.json comparing them")
    p.add_argument("--force", action="store_true", help="replace the model folder --out if it exists")
    p.add_argument("--lag", help="EMG-to-video lag: stored (default), auto (estimate where none is stored), "
                                 "none, or milliseconds")
    p.add_argument("--init", type=Path, metavar="MODEL_DIR",
                   help="calibrate: fine-tune this earlier model on the first --calibration-s seconds of the "
                        "(one) session and evaluate on the rest beside three references")
    p.add_argument("--calibration-s", type=float, default=60.0, help="seconds of the new session to calibrate on")
    p.add_argument("--allow-no-skill", action="store_true",
                   help="exit 0 even when the model has no skill (it is saved either way, flagged no_skill)")
    p.add_argument("--jsonl-progress", action="store_true",
                   help="print the progress events (start, epoch, done; with --init last a calibration event; "
                        "error with exit status 1) as one JSON object per line on stdout and nothing else "
                        "(docs/models.md; the GUI runs training so)")
    p.set_defaults(func=run)


def parse_sweep(items: list[str]) -> dict[str, list]:
    """["lr=1e-3,3e-4", "hidden=[32,32],[64]"] -> {"lr": [0.001, 0.0003], "hidden": [[32, 32], [64]]}."""
    from recorder.model.training import parse_value
    grid = {}
    for item in items:
        key, sep, vals = item.partition("=")
        if not sep or not vals:
            raise UsageError(f"--sweep expects KEY=V1,V2,..., got {item!r}")
        try:
            values = json.loads(f"[{vals}]")
        except ValueError:
            values = [parse_value(v) for v in vals.split(",")]
        grid[key] = values
    return grid


def build_config(args) -> dict:
    from recorder.model.training import ConfigError, parse_value, set_path
    try:
        cfg = json.loads(args.config.read_text()) if args.config else {}
    except ValueError as e:   # a bad file is the user's mistake, not a bug
        raise ConfigError(f"{args.config}: not a JSON config ({e})") from None
    cfg.pop("sessions", None)
    cfg.pop("out", None)
    for opt, key in (("task", "task"), ("model", "model.name"), ("window_ms", "data.window_ms"),
                     ("epochs", "train.epochs"), ("batch_size", "train.batch_size"), ("lr", "train.lr"),
                     ("seed", "train.seed"), ("split", "split.mode"), ("target_frame", "data.target_frame"), ("target", "data.target"),
                     ("device", "train.device"), ("lag", "data.lag")):
        v = getattr(args, opt)
        if v is not None:
            set_path(cfg, key, v)
    if getattr(args, "clean", False):
        set_path(cfg, "data.clean.enabled", True)
    for kv in args.set:
        k, sep, v = kv.partition("=")
        if not sep:
            raise UsageError(f"--set expects KEY=VALUE, got {kv!r}")
        set_path(cfg, k, parse_value(v))
    return cfg


def _human_progress(e: dict) -> None:
    ev = e.get("event")
    tag = f"[{e['run']}] " if "run" in e else ""
    if ev == "start":
        print(f"{tag}{e['model']} ({e['params']} params) on {e['device']}: {e['n_train']} train / {e['n_val']} val / "
              f"{e['n_test']} test windows of {e['window_n']} samples", file=sys.stderr)
    elif ev == "epoch":
        metric = (f"val MPJPE {e['val_mpjpe_mm']:.2f} mm" if "val_mpjpe_mm" in e else
                  f"val MAE {e['val_mae_deg']:.2f} deg" if "val_mae_deg" in e else f"val acc {e['val_acc']:.4f}")
        print(f"{tag}epoch {e['epoch']:3d}/{e['epochs']}  train {e['train_loss']:.4f}  val {e['val_loss']:.4f}  "
              f"{metric}  lr {e['lr']:.2g}  {e['elapsed_s']:.0f} s{'  *' if e['best'] else ''}", file=sys.stderr)
    elif ev == "done":
        print(f"{tag}stopped ({e['stopped']}) after {e['seconds']:.0f} s; best epoch {e['best_epoch']}; "
              f"saved {e['out_dir']}", file=sys.stderr)


def run(args) -> int:
    if not args.jsonl_progress:
        return _run(args)
    from recorder.model.training import jsonl_progress
    try:
        return _run(args)
    except (EmgrecError, OSError) as e:  # the one error event a parent reads; a bug keeps its traceback
        jsonl_progress()({"event": "error", "error": f"{type(e).__name__}: {e}"})
        return 1


def _run(args) -> int:
    from recorder.model.metrics import format_confusion, format_metrics_table
    from recorder.model.training import jsonl_progress, sweep, train

    if args.out.exists() and not (args.out.is_dir() and not any(args.out.iterdir())) and not args.force:
        raise FileExistsError(f"{args.out} exists (use --force to replace the model in it)")
    cfg = build_config(args)
    if getattr(args, "lag", None) is not None and args.lag not in ("stored", "auto", "none"):
        from recorder.model.training import set_path
        try:
            set_path(cfg, "data.lag", float(args.lag))
        except ValueError:
            raise UsageError(f"--lag must be stored, auto, none or a number of ms, got {args.lag!r}") from None
    progress = jsonl_progress() if args.jsonl_progress else _human_progress
    if args.init is not None:
        return _calibrate(args, cfg, progress)
    cancel = threading.Event()
    prev = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    try:
        if args.sweep:
            rows = sweep(cfg, parse_sweep(args.sweep), args.sessions, args.out, progress=progress, cancel=cancel)
            if not args.jsonl_progress:
                print((args.out / "sweep.md").read_text())
            return 0 if rows else 1
        res = train(cfg, args.sessions, args.out, progress=progress, cancel=cancel)
    finally:
        signal.signal(signal.SIGINT, prev)
    if res.meta is None:  # a rank other than 0 under torchrun: rank 0 reports
        return 0
    if not args.jsonl_progress:
        cc = res.meta.data.get("cleaning")
        if cc:
            print(f"label cleaning: {cc['removed']} of {cc['frames']} frames removed ("
                  + ", ".join(f"{k} {v}" for k, v in cc.items() if k not in ("frames", "removed")) + ")")
        names = {"val": "val (within session)", "test": "test (new session)"} if res.meta.split["mode"] == "cross" else {}
        print(format_metrics_table({names.get(k, k): v for k, v in res.metrics.items()}))
        for part, m in res.metrics.items():
            if "confusion" in m:
                print(f"\nconfusion ({part}; rows true, columns predicted):\n{format_confusion(m)}")
    return _no_skill_status(res.meta.quality or {}, args.allow_no_skill)


def _no_skill_status(quality: dict, force: bool) -> int:
    """Print the no-skill message (stderr); exit status 3 unless --allow-no-skill."""
    if not quality.get("no_skill"):
        return 0
    print(f"\nWARNING: {quality['message']}\nThe model was saved flagged no_skill"
          + ("." if force else "; exit status 3 (--allow-no-skill: 0)."), file=sys.stderr)
    return 0 if force else 3


def _calibrate(args, cfg: dict, progress) -> int:
    from recorder.model.calibrate import calibrate, format_calibration
    if len(args.sessions) != 1:
        raise UsageError("--init calibrates on one new session; give exactly one session file")
    cancel = threading.Event()
    prev = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    try:
        rep = calibrate(args.init, args.sessions[0], args.out, calibration_s=args.calibration_s, config=cfg,
                        progress=progress, cancel=cancel)
    finally:
        signal.signal(signal.SIGINT, prev)
    if args.jsonl_progress:  # the whole report as the last line (the app's Calibrate flow shows it)
        progress({"event": "calibration", "report": rep})
    else:
        print(format_calibration(rep))
    return _no_skill_status(rep["quality"], args.allow_no_skill)
