"""``emgrec bench``: run the benchmark and fault-tolerance suite (``python -m bench``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="run benchmarks and fault cases; writes bench/RESULTS.md",
                              description="Runs python -m bench from the source tree (the bench/ folder "
                                          "is not installed with the package).")
    p.add_argument("--quick", action="store_true", help="short run (a few minutes), as CI does")
    p.add_argument("--only", help="comma-separated groups (faults, acquisition, storage, landmarks, models, gui, export)")
    p.add_argument("--soak-s", type=float, help="acquisition soak seconds")
    p.add_argument("--out", help="folder for RESULTS.md and results.json (default bench/)")
    p.set_defaults(func=handler)


def handler(args) -> int:
    # A child process, not an import: the engine never imports bench/ (import contracts in
    # pyproject.toml), and bench/ is not installed with the package, so it is found next to recorder/.
    root = Path(__file__).resolve().parents[3]
    if not (root / "bench" / "__main__.py").is_file():
        raise SystemExit(f"emgrec bench needs the source tree (bench/ next to recorder/), not found in {root}")
    argv = ["--quick"] if args.quick else []
    for flag, val in (("--only", args.only), ("--soak-s", args.soak_s), ("--out", args.out)):
        if val is not None:
            argv += [flag, str(val)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    return subprocess.call([sys.executable, "-m", "bench", *argv], env=env)
