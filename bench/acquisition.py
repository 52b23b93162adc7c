"""Acquisition soak: a real driver inside a Capture with the synthetic camera and landmarks running
and a recording in progress, against the emulator's ground truth.

Per source (Myo emulator 200 Hz x 8, Cyton emulator 250 Hz x 8, in-process SyntheticEmgSource
2 kHz x 16 for headroom) it reports:
- EMG samples lost: samples the device produced between the file's first and last sample that are
  not in the file (indices recovered by matching the file's times to the stamped chunks), plus any
  stored value that differs from what the firmware sent;
- timestamp error p50/p99 (ms): the driver's stamped times of every recorded sample minus the
  emulator's truth_times for the same sample index;
- CPU % of the whole process and RSS growth per minute (psutil).

Each soak runs in its own child process (``python -m bench.acquisition --kind myo ...``) so the
CPU and RSS figures are that pipeline's alone; the three run side by side to keep the suite short.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .core import FAIL, ROOT, Context, ProcessSampler, Row, percentiles_ms

GROUP = "acquisition"
KINDS = {"myo": "Myo emulator 200 Hz x 8", "cyton": "Cyton emulator 250 Hz x 8",
         "synthetic": "SyntheticEmgSource 2 kHz x 16"}


def _open(kind: str, seconds: float):
    """(subject, emg source, truth-times function, sent-values function or None)."""
    from recorder.sources.synthetic import SyntheticEmgSource, SyntheticSubject

    if kind == "myo":
        from recorder.sources.factory import open_synthetic_myo
        subject = SyntheticSubject(seed=0)
        src = open_synthetic_myo(subject=subject, seed=0, log_s=seconds + 120)
        emu = src.emulator
        return subject, src, emu.truth_times, emu.sent_values
    if kind == "cyton":
        from recorder.sources.factory import open_synthetic_cyton
        subject = SyntheticSubject(seed=0)
        src = open_synthetic_cyton(subject=subject, seed=0, log_s=seconds + 120)
        emu = src.emulator
        return subject, src, emu.truth_times, emu.sent_counts
    if kind == "synthetic":
        subject = SyntheticSubject(seed=0, n_channels=16, sample_rate_hz=2000.0)
        src = SyntheticEmgSource(subject=subject, sample_rate_hz=2000.0, n_channels=16)
        return subject, src, src.truth_times, None
    raise ValueError(f"unknown soak kind {kind!r}")


def _runs(sorted_idx: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of the runs of consecutive values in a sorted index array."""
    if sorted_idx.size == 0:
        return []
    cut = np.flatnonzero(np.diff(sorted_idx) != 1) + 1
    return [(int(r[0]), len(r)) for r in np.split(sorted_idx, cut)]


def _check_against_firmware(fidx: np.ndarray, fx, sent) -> tuple[int, int, int, int]:
    """(missing, never_sent, value_mismatch, misplaced) for file sample indices ``fidx`` (file order) and
    values ``fx`` against the firmware's log ``sent(first, n)`` (KeyError/IndexError for samples
    it never produced, e.g. while the stream was restarting). Without a log, every index between
    the first and last is taken as produced."""
    if fidx.size == 0:
        return 0, 0, 0, 0
    lo, hi = int(fidx.min()), int(fidx.max())
    absent = np.setdiff1d(np.arange(lo, hi + 1), fidx)
    missing = never = mism = 0
    for a, n in _runs(absent):
        if sent is None:
            missing += n
            continue
        for i in range(a, a + n):
            try:
                sent(i, 1)
                missing += 1
            except (KeyError, IndexError):
                never += 1
    misplaced = 0
    if sent is not None:
        # Produced values near the span, by value, to tell a misplaced sample (right value, wrong
        # index, i.e. wrong time) from a corrupt one (a value the firmware never sent).
        known: dict[bytes, list[int]] = {}
        for i in range(max(0, lo - 64), hi + 65):
            try:
                known.setdefault(np.asarray(sent(i, 1))[0].astype(np.int64).tobytes(), []).append(i)
            except (KeyError, IndexError):
                pass
        seen: set[int] = set()
        for k, i in enumerate(fidx.tolist()):
            v = np.asarray(fx[k]).astype(np.int64).tobytes()
            at = known.get(v, [])
            if i in at and i not in seen:
                seen.add(i)
            elif any(abs(j - i) <= 64 for j in at):
                misplaced += 1
            else:
                mism += 1
    return missing, never, mism, misplaced


class _Kept:
    """The harness's copy of every sample (index, stamped time, value), packed into arrays every
    ``block`` chunks: a list of small per-chunk arrays costs ~10x their data in Python object
    headers (hundreds of chunks a second), which showed up as recorder "memory growth"."""

    def __init__(self, with_values: bool, block: int = 512):
        self.with_values, self.block = with_values, block
        self._pending: list = []
        self._blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
        self._lock = threading.Lock()

    def add(self, chunk) -> None:
        with self._lock:
            self._pending.append((chunk.first_index, chunk.t.copy(), chunk.x.copy() if self.with_values else None))
            if len(self._pending) >= self.block:
                self._pack()

    def _pack(self) -> None:
        p, self._pending = self._pending, []
        if p:
            idx = np.concatenate([np.arange(f, f + len(t)) for f, t, _ in p])
            t = np.concatenate([t for _, t, _ in p])
            x = np.concatenate([x for _, _, x in p]) if self.with_values else None
            self._blocks.append((idx, t, x))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        with self._lock:
            self._pack()
            b = self._blocks
            return (np.concatenate([i for i, _, _ in b]), np.concatenate([t for _, t, _ in b]),
                    np.concatenate([x for _, _, x in b]) if self.with_values else None)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(i.nbytes + t.nbytes + (x.nbytes if x is not None else 0) for i, t, x in self._blocks)


def soak(kind: str, seconds: float, workdir: Path) -> dict:
    """Record ``seconds`` from source ``kind`` through a full Capture; returns figures (see module doc)."""
    from recorder.capture.camera import open_camera
    from recorder.capture.engine import Capture, CaptureListenerBase
    from recorder.core.clock import now
    from recorder.capture.landmarks import LandmarkWorker
    from recorder.session.format import SessionReader

    subject, src, truth, sent = _open(kind, seconds)
    emu = getattr(src, "emulator", None)
    kept = _Kept(with_values=sent is not None)  # index, stamped time (and value) of every sample
    first = threading.Event()

    class _Keep(CaptureListenerBase):
        def on_emg(self, chunk) -> None:
            kept.add(chunk)
            first.set()

    cam = open_camera("synthetic", subject=subject)
    cap = Capture(src, cam, LandmarkWorker(mode="auto"), subject=subject)
    cap.add_listener(_Keep())
    path = workdir / f"soak-{kind}.h5"
    path.unlink(missing_ok=True)
    cap.start()
    try:
        if not first.wait(30):
            raise RuntimeError(f"{kind}: no EMG within 30 s: {cap.status()['emg']}")
        time.sleep(2.0)  # let the clock fit settle, as a user would before pressing record
        sampler = ProcessSampler(interval_s=max(1.0, seconds / 120)).start()
        cap.start_recording(path, {"subject": "bench", "notes": f"soak {kind}"})
        t_rec0 = now()
        n_emu0 = emu.n_generated if emu is not None else 0
        time.sleep(seconds)
        t_rec1 = now()
        n_emu1 = emu.n_generated if emu is not None else 0
        cap.stop_recording()
        sampler.stop()
        st = cap.status()
    finally:
        cap.stop()
    emg_st = st["emg"]

    # Index of every stamped sample, and its stamped time.
    idx, ts, _ = kept.arrays()
    order = np.argsort(ts, kind="stable")
    idx, ts = idx[order], ts[order]
    with SessionReader(path) as r:
        ft = np.asarray(r.emg_t) + float(r.attrs["t0_host_s"])
        fx = np.asarray(r.emg_data[:]) if sent is not None else None
        gaps = np.asarray(r.gaps)
        n_frames = r.n_frames
        duration = r.duration_s
    size_mb = path.stat().st_size / 2**20
    backwards = int(np.count_nonzero(np.diff(ft) <= 0))  # /emg/t must strictly increase
    # Match file samples to stamped ones (the same float64 values went into the file as session
    # seconds; adding t0 back is exact to well under a microsecond).
    pos = np.clip(np.searchsorted(ts, ft), 0, len(ts) - 1)
    pos_left = np.clip(pos - 1, 0, len(ts) - 1)
    pos = np.where(np.abs(ts[pos_left] - ft) < np.abs(ts[pos] - ft), pos_left, pos)
    unmatched = int(np.count_nonzero(np.abs(ts[pos] - ft) > 1e-5))
    fidx = idx[pos]
    span = int(fidx.max() - fidx.min() + 1) if fidx.size else 0
    missing, never_sent, value_mismatch, misplaced = _check_against_firmware(fidx, fx, sent)
    err = ft - truth(int(fidx.min()), span)[fidx - fidx.min()] if fidx.size else np.empty(0)
    p50, p99, pmax = percentiles_ms(err, (50, 99, 100))
    # Where the error is: the first 10 s of the recording (the fit still looking for its least
    # delayed read) against the rest.
    early = (ft - ft[0] < 10.0) if ft.size else np.zeros(0, bool)
    p99_first10 = percentiles_ms(err[early], (99,))[0] if err.size else float("nan")
    p99_after10 = percentiles_ms(err[~early], (99,))[0] if err.size else float("nan")
    # Jitter alone: the error minus its median (a constant transport latency is not jitter).
    jit99 = percentiles_ms(err - np.median(err), (99,))[0] if err.size else float("nan")
    signed_med = float(np.median(err) * 1e3) if err.size else float("nan")
    rss0, rss_max = sampler.rss_mb()
    # This harness keeps a copy of every chunk (times and values) to check against the firmware;
    # that memory is the benchmark's, not the recorder's, and is taken out of the growth figure.
    kept_mb = kept.nbytes / 2**20
    kept_per_min = kept_mb / max((t_rec1 - t_rec0) / 60.0, 1e-9)
    # So does the emulator's ground-truth log (every sample it sent, to check the file against).
    emu_per_min = ((n_emu1 - n_emu0) * emu.log_bytes_per_sample / 2**20 / max((t_rec1 - t_rec0) / 60.0, 1e-9)
                   if emu is not None else 0.0)
    return {"harness_mb_per_min": kept_per_min, "emulator_log_mb_per_min": emu_per_min, "kind": kind, "seconds": round(t_rec1 - t_rec0, 1), "file_samples": int(len(ft)),
            "expected_samples": span - never_sent, "missing_in_file": missing, "never_sent": never_sent, "misplaced": misplaced, "unmatched": unmatched,
            "value_mismatch": value_mismatch, "driver_samples_lost": int(emg_st.samples_lost),
            "bad_packets": int(emg_st.bad_packets), "reconnects": int(emg_st.reconnects),
            "gaps_in_file": int(len(gaps)), "backwards_steps": backwards,
            "gap_s_in_file": float((gaps[:, 1] - gaps[:, 0]).sum()) if len(gaps) else 0.0, "err_p50_ms": p50, "err_p99_ms": p99, "err_max_ms": pmax,
            "err_p99_first10s_ms": p99_first10, "err_p99_after10s_ms": p99_after10,
            "err_median_signed_ms": signed_med, "jitter_p99_ms": jit99,
            "cpu_percent": sampler.cpu_percent(), "rss_start_mb": rss0, "rss_max_mb": rss_max,
            "rss_slope_mb_per_min": sampler.rss_slope_mb_per_min(), "frames": int(n_frames),
            "file_mb": size_mb, "file_mb_per_min": size_mb / (duration / 60.0) if duration > 0 else float("nan"),
            "rate_hz": float(src.sample_rate_hz), "n_channels": int(src.n_channels),
            "errors": st["errors"][-3:]}


def rows_from(res: dict, soak_s: float) -> list[Row]:
    k = res["kind"]
    label = KINDS[k]
    lost = res["missing_in_file"] + res["value_mismatch"] + res["unmatched"] + res["driver_samples_lost"]
    note = (f"{res['file_samples']} samples in {res['seconds']:.0f} s; driver counted lost {res['driver_samples_lost']}, "
            f"produced but missing in file {res['missing_in_file']}, stored with a value the firmware did not send "
            f"at or within 64 samples of that index {res['value_mismatch']}, "
            f"gaps {res['gaps_in_file']}, bad packets {res['bad_packets']}")
    rows = [Row(GROUP, f"{label}: EMG samples lost", lost, "samples", "== 0", hard=True, note=note, extra=res)]
    if k != "synthetic":
        rows.append(Row(GROUP, f"{label}: samples stored at the wrong index (time)", res.get("misplaced", 0), "samples",
                        "== 0", note="right value, index off by 1..64 samples (placement after a silence)"))
        rows += [Row(GROUP, f"{label}: timestamp error p50", res["err_p50_ms"], "ms", note="stamped vs emulator truth"),
                 Row(GROUP, f"{label}: timestamp error p99", res["err_p99_ms"], "ms", "< 0.5",
                     note=f"max {res['err_max_ms']:.3f} ms; median signed {res['err_median_signed_ms']:+.3f} ms, "
                         f"p99 around the median {res['jitter_p99_ms']:.3f} ms")]
    else:
        rows.append(Row(GROUP, f"{label}: timestamp error p99", res["err_p99_ms"], "ms", "< 0.5",
                        note=f"stamped vs source truth; median signed {res['err_median_signed_ms']:+.3f} ms, "
                             f"p99 around the median {res['jitter_p99_ms']:.3f} ms"))
    rows += [Row(GROUP, f"{label}: CPU (whole capture process)", res["cpu_percent"], "% of one core",
                 note="EMG + synthetic camera 30 fps + landmarks + recording"),
             Row(GROUP, f"{label}: RSS growth (recorder, harness copies excluded)",
                 res["rss_slope_mb_per_min"] - res.get("harness_mb_per_min", 0.0)
                 - res.get("emulator_log_mb_per_min", 0.0), "MB/min", "< 1",
                 note=f"RSS {res['rss_start_mb']:.0f} -> max {res['rss_max_mb']:.0f} MB; whole process "
                      f"{res['rss_slope_mb_per_min']:.2f} MB/min, of which the harness's copies of every sample "
                      f"{res.get('harness_mb_per_min', 0.0):.2f} MB/min and the emulator's log of what it sent "
                      f"{res.get('emulator_log_mb_per_min', 0.0):.2f} MB/min")]
    if k == "myo":
        rows.append(Row("storage", "session file size per minute (Myo + 640x480 30 fps video)",
                        res["file_mb_per_min"], "MB/min",
                        note=f"{res['file_mb']:.1f} MB for {res['seconds']:.0f} s, {res['frames']} frames"))
    return rows


def run(ctx: Context) -> list[Row]:
    """Run the three soaks side by side in child processes."""
    procs = {}
    for kind in KINDS:
        out = ctx.workdir / f"soak-{kind}.json"
        out.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "bench.acquisition", "--kind", kind, "--seconds", str(ctx.soak_s),
               "--workdir", str(ctx.workdir), "--out", str(out)]
        log = open(ctx.workdir / f"soak-{kind}.log", "w")
        procs[kind] = (subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT), out, log)
    rows: list[Row] = []
    for kind, (p, out, log) in procs.items():
        try:
            rc = p.wait(timeout=ctx.soak_s + 180)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = "timeout"
        log.close()
        if rc == 0 and out.exists():
            rows += rows_from(json.loads(out.read_text()), ctx.soak_s)
        else:
            tail = (ctx.workdir / f"soak-{kind}.log").read_text()[-400:]
            rows.append(Row(GROUP, f"{KINDS[kind]}: soak", f"exit {rc}", hard=True, status=FAIL, note=tail))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=sorted(KINDS), required=True)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--workdir", default="/tmp/emgrec-bench")
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    wd = Path(a.workdir)
    wd.mkdir(parents=True, exist_ok=True)
    res = soak(a.kind, a.seconds, wd)
    text = json.dumps(res, indent=1, default=str)
    if a.out:
        Path(a.out).write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
