"""Time and peak memory of exporting a long synthetic session (default 60 minutes).

    python bench/export_bench.py [--minutes 60] [--formats h5,npz,csv] [--dir DIR]

Writes the session once (kept in DIR for reuse), then runs each export in a fresh child process and
prints one JSON object: per format the wall time, the child's peak RSS (``ru_maxrss``), its RSS
after imports (baseline), the tracemalloc peak of the export call, the items written and the
output size. The bounded-memory claim is "peak RSS - baseline" staying far below the data size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _child(fmt: str, session: str, out: str, window_ms: float, trace: bool) -> None:
    import tracemalloc

    import numpy as np  # noqa: F401  (imports before the baseline)
    import h5py  # noqa: F401
    import cv2  # noqa: F401

    from recorder.export import files as ex

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if trace:  # slows allocation-heavy code (the CSV formatting) several-fold: time it without
        tracemalloc.start()
    t = time.perf_counter()
    res = ex.export([session], out, fmt, window_ms=window_ms)[0]
    dt = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1] if trace else None
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    r = {"format": fmt, "peak_rss_mb": round(rss, 1), "baseline_rss_mb": round(base, 1),
         "items": res.items, "out_mb": round(os.path.getsize(out) / 2**20, 1)}
    r.update({"tracemalloc_peak_mb": round(peak / 2**20, 1)} if trace else {"seconds": round(dt, 2)})
    print(json.dumps(r))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--formats", default="h5,npz,csv")
    ap.add_argument("--window-ms", type=float, default=200.0)
    ap.add_argument("--dir", default="/tmp/emgrec-export-bench")
    ap.add_argument("--tracemalloc", action="store_true",
                    help="also run each export under tracemalloc (a second, slower run) for its peak")
    ap.add_argument("--child", nargs=3, metavar=("FORMAT", "SESSION", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(*args.child, args.window_ms, args.tracemalloc)
        return 0
    d = Path(args.dir)
    d.mkdir(parents=True, exist_ok=True)
    session = d / f"synthetic-{args.minutes:g}min.h5"
    sim_s = None
    if not session.exists():
        sys.path.insert(0, str(ROOT))
        from recorder.imports.synthetic_sessions import make_synthetic_session
        t = time.perf_counter()
        make_synthetic_session(session, duration_s=args.minutes * 60, seed=0, hand_dropout=0.05)
        sim_s = round(time.perf_counter() - t, 1)
    result = {"session": str(session), "minutes": args.minutes, "session_mb": round(session.stat().st_size / 2**20, 1),
              "simulate_s": sim_s, "window_ms": args.window_ms, "exports": []}
    for fmt in args.formats.split(","):
        out = d / f"export.{fmt}"
        entry = {}
        for trace in ([False, True] if args.tracemalloc else [False]):
            p = subprocess.run([sys.executable, __file__, "--window-ms", str(args.window_ms)]
                               + (["--tracemalloc"] if trace else []) + ["--child", fmt, str(session), str(out)],
                               capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
            if p.returncode != 0:
                entry = {"format": fmt, "error": p.stderr.strip().splitlines()[-1:]}
                break
            r = json.loads(p.stdout.strip().splitlines()[-1])
            entry.update({k: v for k, v in r.items() if k not in entry})
            out.unlink(missing_ok=True)
            Path(str(out) + ".json").unlink(missing_ok=True)
        result["exports"].append(entry)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
