"""Shared pieces of the benchmark suite: result rows, targets, machine description, helpers.

A benchmark group is a module ``bench.<group>`` with ``run(ctx: Context) -> list[Row]``. Groups run
in child processes (``python -m bench.core GROUP``) so a crash, a leak or a heavy import (MediaPipe,
torch, Qt) in one group cannot spoil another's figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# Status words. FAIL only ever comes from a hard target (data loss, crash); MISS is a soft target.
PASS, MISS, FAIL, INFO, SKIP, NYM = "PASS", "MISS", "FAIL", "INFO", "SKIP", "not yet measured"


@dataclass
class Row:
    """One figure. ``target`` is e.g. ``"== 0"``, ``"< 0.5"``, ``">= 0.95"``; ``hard`` targets fail CI."""

    group: str
    name: str
    value: float | int | str | None
    unit: str = ""
    target: str = ""
    hard: bool = False
    status: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.value, (np.floating, np.integer)):
            self.value = self.value.item()
        if not self.status:
            self.status = judge(self.value, self.target, self.hard)


def judge(value, target: str, hard: bool) -> str:
    """PASS / MISS (soft) / FAIL (hard) for a numeric ``value`` against ``target`` like ``"< 0.5"``."""
    if not target:
        return INFO
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return FAIL if hard else MISS
    op, _, num = target.strip().partition(" ")
    limit = float(num)
    ok = {"==": value == limit, "<": value < limit, "<=": value <= limit,
          ">": value > limit, ">=": value >= limit}[op]
    return PASS if ok else (FAIL if hard else MISS)


@dataclass
class Context:
    quick: bool
    workdir: Path
    soak_s: float

    def pick(self, quick_value, full_value):
        return quick_value if self.quick else full_value


def percentiles_ms(err_s: np.ndarray, qs=(50, 99)) -> list[float]:
    """Percentiles of |err| in milliseconds (NaN for an empty array)."""
    a = np.abs(np.asarray(err_s, dtype=np.float64)) * 1e3
    if a.size == 0:
        return [float("nan")] * len(qs)
    return [float(v) for v in np.percentile(a, qs)]


class ProcessSampler:
    """Samples this process's CPU % and RSS every ``interval_s`` on a thread (psutil).

    ``cpu_percent()`` is the mean over the sampled span (100 % = one core busy);
    ``rss_slope_mb_per_min(skip_frac)`` a least-squares slope of RSS over time, ignoring the first
    ``skip_frac`` of the span (allocator and cache warm-up).
    """

    def __init__(self, interval_s: float = 2.0):
        import psutil

        self.proc = psutil.Process()
        self.interval_s = interval_s
        self.samples: list[tuple[float, float, float]] = []  # (wall s, cpu s, rss bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="bench-sampler", daemon=True)

    def _sample(self) -> None:
        ct = self.proc.cpu_times()
        self.samples.append((time.monotonic(), ct.user + ct.system, float(self.proc.memory_info().rss)))

    def _main(self) -> None:
        self._sample()
        while not self._stop.wait(self.interval_s):
            self._sample()

    def start(self) -> "ProcessSampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def cpu_percent(self) -> float:
        (w0, c0, _), (w1, c1, _) = self.samples[0], self.samples[-1]
        return 100.0 * (c1 - c0) / (w1 - w0) if w1 > w0 else float("nan")

    def rss_mb(self) -> tuple[float, float]:
        r = [s[2] for s in self.samples]
        return r[0] / 2**20, max(r) / 2**20

    def rss_slope_mb_per_min(self, skip_frac: float = 0.25) -> float:
        a = np.asarray(self.samples)
        if len(a) < 4:
            return float("nan")
        t = a[:, 0] - a[0, 0]
        keep = t >= skip_frac * t[-1]
        if keep.sum() < 3:
            return float("nan")
        slope = np.polyfit(t[keep] / 60.0, a[keep, 2] / 2**20, 1)[0]
        return float(slope)


def machine_info() -> dict:
    """Cores, CPU model, memory, load and the versions the figures depend on."""
    import psutil

    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {"python": platform.python_version()}
    for mod in ("numpy", "h5py", "torch", "mediapipe", "cv2", "PySide6", "pyqtgraph", "serial", "psutil"):
        try:
            m = __import__(mod)
            versions[mod] = getattr(m, "__version__", "?")
        except Exception as e:  # a missing optional package is worth a note, not a crash
            versions[mod] = f"unavailable ({type(e).__name__})"
    try:
        from recorder import __version__ as ev
        versions["emgrec"] = ev
    except ImportError:
        versions["emgrec"] = "?"
    git = ""
    try:
        import subprocess
        git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {"cpu_model": model, "logical_cores": os.cpu_count(), "physical_cores": psutil.cpu_count(logical=False),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1), "platform": platform.platform(),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()], "git_commit": git, "versions": versions}


# -- child-process entry point ----------------------------------------------------------------------

def run_group_here(group: str, ctx: Context) -> list[Row]:
    """Import ``bench.<group>`` and run it; a module that has not landed yet gives one NYM row."""
    import importlib

    try:
        mod = importlib.import_module(f"bench.{group}")
    except ImportError as e:
        return [Row(group, f"{group} benchmarks", None, status=NYM, note=f"cannot import: {e}")]
    return mod.run(ctx)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="run one benchmark group (used by python -m bench)")
    ap.add_argument("group")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--soak-s", type=float, required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    ctx = Context(quick=a.quick, workdir=Path(a.workdir), soak_s=a.soak_s)
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    t = time.monotonic()
    try:
        rows = run_group_here(a.group, ctx)
        err = ""
    except Exception as e:  # the harness reports the crash as a hard failure of the group
        traceback.print_exc()
        rows, err = [], f"{type(e).__name__}: {e}"
    if err:
        rows.append(Row(a.group, f"{a.group}: group crashed", err, hard=True, status=FAIL))
    payload = {"group": a.group, "seconds": round(time.monotonic() - t, 1),
               "loadavg_end": [round(x, 2) for x in os.getloadavg()], "rows": [asdict(r) for r in rows]}
    Path(a.out).write_text(json.dumps(payload, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
