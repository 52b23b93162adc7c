"""EMG-to-video lag estimate against the truth over session length (the table in docs/models.md).

``python -m bench.lag_sweep [--lengths 120,240,600] [--sessions 12] [--out FILE]``

Each session is the realistic synthetic subject (seed 0) with its own band placement and camera
latency (``session=k``); its true lag (electromechanical delay plus camera latency) is in the file's
settings. ``recorder.dataset.lag.estimate_session_lag`` estimates it with a 95 % segment-bootstrap
interval. Per length the table gives the error (estimate - truth, ms): max abs, rms, mean; the
interval's width; how many intervals hold the truth (within 5 ms, the estimator's known late bias);
and the "trusted" estimates (interval <= 25 ms wide) with their max abs error.
tests/recorder/test_lag.py runs a part of this (sessions 0-3 at 4 and 10 min) and asserts the targets.
About 5 s per 10 min of session on one core; the full table (12 sessions x 16 min) takes ~6 min.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

COVER_SLACK_MS = 5.0


def _truth_s(path: Path) -> float:
    import h5py
    with h5py.File(path, "r") as f:
        return float(json.loads(f.attrs["settings"])["truth_lag_s"])


def sweep(lengths_s, sessions, workdir: Path, seed: int = 0) -> dict:
    """{(length_s, k): (error, interval low - truth, interval high - truth) in ms, trusted: bool}.

    Each session is written to workdir, estimated and removed again.
    """
    from recorder.dataset import windows as ds
    from recorder.dataset.lag import estimate_session_lag
    from recorder.imports.synthetic_sessions import make_synthetic_session

    rows = {}
    for dur in lengths_s:
        for k in sessions:
            p = make_synthetic_session(Path(workdir) / f"lag-{dur:g}-{k}.h5", duration_s=dur, seed=seed,
                                       realism="realistic", session=k)
            try:
                r = estimate_session_lag(ds.read_session(p))
                truth = _truth_s(p)
            finally:
                p.unlink()
            rows[dur, k] = ((r["lag_s"] - truth) * 1e3, (r["ci_s"][0] - truth) * 1e3,
                            (r["ci_s"][1] - truth) * 1e3, bool(r["trusted"]))
    return rows


def covers(lo_ms: float, hi_ms: float) -> bool:
    """The interval (relative to the truth, ms) holds the truth, within the known bias."""
    return lo_ms - COVER_SLACK_MS <= 0.0 <= hi_ms + COVER_SLACK_MS


def table(rows: dict) -> str:
    """Markdown table, one line per length."""
    out = ["| length | max abs | rms | mean | 95 % interval width | interval holds truth | "
           "trusted (width <= 25 ms): max abs |", "|---|---|---|---|---|---|---|"]
    for dur in sorted({d for d, _ in rows}):
        rr = [rows[d, k] for d, k in sorted(rows) if d == dur]
        e = np.array([r[0] for r in rr])
        w = np.array([r[2] - r[1] for r in rr])
        cov = sum(covers(r[1], r[2]) for r in rr)
        tr = [abs(r[0]) for r in rr if r[3]]
        trusted = f"{len(tr)}/{len(rr)}: {max(tr):.1f}" if tr else f"0/{len(rr)}"
        out.append(f"| {dur / 60:g} min | {np.abs(e).max():.1f} | {np.sqrt(np.mean(e ** 2)):.1f} | "
                   f"{e.mean():+.1f} | {w.min():.0f}-{w.max():.0f} ms | {cov}/{len(rr)} | {trusted} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.lag_sweep", description=__doc__.split("\n")[0])
    ap.add_argument("--lengths", default="120,240,600", help="session lengths, seconds (comma-separated)")
    ap.add_argument("--sessions", type=int, default=12, help="sessions 0..N-1 per length")
    ap.add_argument("--out", help="also write the table to this file (refuses an existing one without --force)")
    ap.add_argument("--force", action="store_true", help="overwrite --out")
    args = ap.parse_args(argv)
    if args.out and Path(args.out).exists() and not args.force:
        ap.error(f"{args.out} exists; pass --force to overwrite it")
    lengths = [float(x) for x in args.lengths.split(",") if x.strip()]
    with tempfile.TemporaryDirectory() as d:
        rows = sweep(lengths, range(args.sessions), Path(d))
    for (dur, k), (e, lo, hi, tr) in sorted(rows.items()):
        print(f"{dur:5.0f} s session {k:2d}: error {e:+6.1f} ms, interval [{lo:+.0f}, {hi:+.0f}] ms"
              f"{', trusted' if tr else ''}")
    text = table(rows)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
