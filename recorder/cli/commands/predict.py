"""emgrec predict: per-frame (or per-grid-point) predictions of a model on one session, to CSV or NPZ."""

from __future__ import annotations

from pathlib import Path

from recorder.core.errors import UsageError


def register(sub) -> None:
    p = sub.add_parser("predict", help="write a model's predictions for a session (CSV or NPZ)",
                       description="Predict the pose (mm) or gesture probabilities at every frame with a hand "
                                   "(or every grid point of an EMG-only session).")
    p.add_argument("model", type=Path, help="model folder")
    p.add_argument("session", type=Path, help="session file")
    p.add_argument("--out", type=Path, required=True, help="output file: .csv or .npz")
    p.add_argument("--anchor", choices=["frames", "grid"], help="override the model's anchoring")
    p.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from recorder.model.folder import load_model, predict_session

    suffix = args.out.suffix.lower()
    if suffix not in (".csv", ".npz"):
        raise UsageError(f"{args.out}: output must end in .csv or .npz")
    m = load_model(args.model)
    r = predict_session(m, args.session, args.anchor)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npz":
        np.savez_compressed(args.out, t=r["t"], frame=r["frame"], pred=r["pred"], true=r["true"],
                            class_names=np.array(r["class_names"]), task=r["task"])
    else:
        if r["task"] == "pose":
            cols = [f"lm{j}_{a}" for j in range(21) for a in "xyz"]
            header = ["t_s", "frame"] + [f"pred_{c}_mm" for c in cols] + [f"true_{c}_mm" for c in cols]
            body = np.column_stack([r["t"], r["frame"], r["pred"], r["true"]])
            fmt = ["%.6f", "%d"] + ["%.3f"] * (body.shape[1] - 2)
        else:
            names = r["class_names"]
            header = ["t_s", "frame", "pred", "true"] + [f"p_{n}" for n in names]
            body = np.column_stack([r["t"], r["frame"], r["pred"].argmax(1), r["true"], r["pred"]])
            fmt = ["%.6f", "%d", "%d", "%d"] + ["%.5f"] * len(names)
        np.savetxt(args.out, body, fmt=fmt, delimiter=",", header=",".join(header), comments="")
    print(f"{args.out}: {len(r['t'])} predictions ({r['task']})")
    return 0
