"""emgrec evaluate: score model folders (or their ensemble) on session files, beside the baseline."""

from __future__ import annotations

import json
from pathlib import Path

from recorder.core.errors import UsageError


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="score models on sessions (MPJPE / accuracy beside the baseline)",
                       description="Score one or more model folders on session files. For sessions a model "
                                   "was trained on, only its held-out part is scored (--part auto).")
    p.add_argument("paths", nargs="+", type=Path, help="model folders and session files, in any order")
    p.add_argument("--ensemble", action="store_true", help="average the models' predictions as one model")
    p.add_argument("--part", default="auto", choices=["auto", "all", "train", "val", "test"],
                   help="auto: the model's test (else val) block of its training sessions, all of other sessions")
    p.add_argument("--json", type=Path, help="also write the full results as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from recorder.model.metrics import format_confusion, format_metrics_table
    from recorder.model.folder import as_model, evaluate, is_model_dir

    models = [p for p in args.paths if p.is_dir() and is_model_dir(p)]
    sessions = [p for p in args.paths if p not in models]
    bad = [p for p in sessions if not p.is_file()]
    if bad:
        raise UsageError(f"{bad[0]}: neither a model folder (with model.json) nor a session file")
    if not models or not sessions:
        raise UsageError("give at least one model folder and one session file")
    results = [evaluate(m, sessions, args.part) for m in as_model(models, args.ensemble)]
    print(format_metrics_table({f"{r['model']} [{r['part']}]" + (f" {r['flag']}" if r.get("flag") else ""): r["metrics"]
                                for r in results}))
    for r in results:
        if "confusion" in r["metrics"]:
            print(f"\n{r['model']} confusion (rows true, columns predicted):\n{format_confusion(r['metrics'])}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0
