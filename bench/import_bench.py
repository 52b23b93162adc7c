"""Import stream: time and peak RSS of `emgrec import --format csv` on a large generated CSV.

Run in a child process so its peak RSS is the import's own:
    python bench/import_bench.py --rows 10000000 --dir /tmp/x   -> one JSON object on stdout
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


def make_csv(path: Path, rows: int, channels: int = 8, rate: float = 1000.0) -> None:
    """t (s, 3 decimals at 1 kHz), C int16-range EMG columns, a label column; written in blocks."""
    import numpy as np
    rng = np.random.default_rng(0)
    with open(path, "w") as f:
        f.write("t," + ",".join(f"ch{i + 1}" for i in range(channels)) + ",label\n")
        step = 200_000
        for a in range(0, rows, step):
            n = min(step, rows - a)
            t = (a + np.arange(n)) / rate
            x = rng.integers(-2000, 2000, (n, channels))
            lab = ((a + np.arange(n)) // 5000) % 3
            block = np.column_stack([t, x, lab])
            np.savetxt(f, block, fmt=["%.3f"] + ["%d"] * channels + ["%d"], delimiter=",")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--dir", type=Path, required=True)
    args = ap.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    src = args.dir / f"big-{args.rows}.csv"
    if not src.exists():
        make_csv(src, args.rows)
    out = args.dir / "big.h5"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "recorder", "import", str(src), "--format", "csv", "--emg-columns", "1-8",
           "--time-column", "t", "--label-column", "label", "--label-names", "0=rest,1=fist,2=pinch", "--out", str(out)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_kb, cpu = ru.ru_maxrss, ru.ru_utime + ru.ru_stime
    # CPU seconds as well as wall: on a shared machine the wall time says more about the neighbours.
    res = {"rows": args.rows, "csv_mb": round(src.stat().st_size / 1e6, 1), "seconds": round(wall, 2),
           "rows_per_s": round(args.rows / wall), "cpu_s": round(cpu, 2), "rows_per_cpu_s": round(args.rows / cpu),
           "loadavg": os.getloadavg()[0], "peak_rss_mb": round(peak_kb / 1024, 1), "rc": p.returncode,
           "stdout": p.stdout.strip()[-300:], "stderr": p.stderr.strip()[-300:]}
    # Bad inputs give a clear error, not a traceback or a file.
    bad = {}
    for name, extra in (("rate nan", ["--rate", "nan"]), ("rate inf", ["--rate", "inf"])):
        q = subprocess.run([sys.executable, "-m", "recorder", "import", str(src), "--format", "csv", "--emg-columns",
                            "1-8", "--out", str(args.dir / "bad.h5")] + extra, cwd=ROOT, capture_output=True, text=True)
        bad[name] = {"rc": q.returncode, "message": q.stderr.strip()[-200:]}
    inf = args.dir / "inf-time.csv"
    inf.write_text("t,a\n0,1\n0.001,2\ninf,3\n")
    q = subprocess.run([sys.executable, "-m", "recorder", "import", str(inf), "--format", "csv", "--emg-columns", "a",
                        "--time-column", "t", "--out", str(args.dir / "bad.h5")], cwd=ROOT, capture_output=True, text=True)
    bad["infinite time"] = {"rc": q.returncode, "message": q.stderr.strip()[-200:]}
    res["bad_inputs"] = bad
    res["bad_output_left"] = (args.dir / "bad.h5").exists()
    out.unlink(missing_ok=True)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
