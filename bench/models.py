"""Models: training windows/s of recorder.model.training.train per model vs a minimal PyTorch loop on the
same tensors (same model, optimiser, batch size, threads; interleaved one-epoch rounds), the
batch-gathered windows (the default) vs materialised windows, inference latency per window, and
training memory: peak RSS of training on 10 and 60 min of 16 ch x 2 kHz (a child process each),
and one epoch of a 10-hour data set through the streaming path.

    python -m bench.models --child-train JSON   (internal: one measured training run)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .core import Context, Row, percentiles_ms

GROUP = "models"


class _StepClock:
    """CPU time of the calling thread, wall time and process CPU time at the start of every training
    batch. With one torch thread the whole step (forward, the CPU autograd engine's backward, the
    optimiser, the batch gather) runs on the calling thread, so its thread time is the step's cost.
    Process CPU time also counts numpy's OpenBLAS worker thread (it is gone with
    OPENBLAS_NUM_THREADS=1), which spins for a while after a BLAS call: in one-epoch rounds it took
    up to as much CPU again as the steps themselves (per-thread /proc counters), so the quick run's
    process-CPU ratios read 0.44-1.15 where the thread-CPU and wall ratios agreed with each other. Both
    stay in the notes. train() asks its ``cancel`` event once per batch (so this stands in for one),
    the minimal loop calls :meth:`is_set` itself.
    The steps between the first and the last stamp are whole batches (a short last batch starts at
    the last stamp) and exclude the epoch's validation, as the trainer's samples_per_s does."""

    def __init__(self):
        self.stamps: list[tuple[float, float, float]] = []

    def is_set(self) -> bool:
        self.stamps.append((time.thread_time(), time.perf_counter(), time.process_time()))
        return False

    def rates(self, batch: int) -> tuple[float, float, float]:
        """(windows per thread-CPU second, per wall second, per process-CPU second) over the stamped steps."""
        a, b = self.stamps[0], self.stamps[-1]
        n = (len(self.stamps) - 1) * batch
        return tuple(n / (y - x) for x, y in zip(a, b))


def _minimal_loop(net, X, Y, batch: int, epochs: int, lr: float, clock: _StepClock | None = None) -> float:
    """Windows/s of the plainest training loop: permute, slice, forward, MSE, backward, Adam step
    (wall time, median over epochs); ``clock`` is stamped at the start of every batch."""
    import torch
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = torch.nn.MSELoss()
    rates = []
    for _ in range(epochs):
        net.train()
        t = time.perf_counter()
        perm = torch.randperm(len(X))
        n = 0
        for i in range(0, len(perm) - 1, batch):
            b = perm[i:i + batch]
            if len(b) < 2:
                break
            if clock is not None:
                clock.is_set()
            loss = loss_fn(net(X[b]), Y[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n += len(b)
        rates.append(n / (time.perf_counter() - t))
    return float(np.median(rates))


def run(ctx: Context) -> list[Row]:
    import torch

    from recorder.dataset import windows as ds
    from recorder.model.architectures import build_model, model_names
    from recorder.model.folder import load_model
    from recorder.imports.synthetic_sessions import make_synthetic_session
    from recorder.model.training import train

    torch.set_num_threads(1)  # the machine is shared; one thread for both sides keeps the ratio fair
    sess = make_synthetic_session(ctx.workdir / "models-session.h5", duration_s=ctx.pick(120.0, 300.0), seed=7)
    ws = ds.build_windows([sess], task="pose", window_ms=200.0, anchor="auto")
    ws_mat = ds.build_windows([sess], task="pose", window_ms=200.0, anchor="auto", materialise=True)
    # Interleaved rounds, not one phase after another: each round runs one epoch of the trainer on
    # materialised windows, one on batch-gathered windows and one of the minimal loop, in a rotating
    # order, each from the same freshly seeded network. Every training step is timed in the training
    # thread's CPU time (what other jobs on this shared machine and other threads of this process
    # take is not counted; see _StepClock) and wall time; the ratios are taken within a round, the
    # median over rounds reported, judged on thread CPU time. (Three
    # phases run minutes apart and timed by the wall clock gave ratios from 0.54 to 1.65 that came
    # from the machine's load, not from the code: see the notes in bench/RESULTS.md.)
    rounds = 4  # quick too: with 2 rounds of its short epochs one odd round set the median (0.75-1.25 per round)
    B = 128
    rows: list[Row] = []
    names = model_names()
    first_model = None
    for name in names:
        # The same math on both sides: the minimal loop has no augmentation, weight averaging or
        # gradient clipping, so they are off here too; the ratio is the trainer's own overhead.
        cfg = {"model": {"name": name, "params": {}}, "data": {"anchor": "auto"},
               "augment": {"scale": 0.0, "noise": 0.0},
               "train": {"epochs": 1, "device": "cpu", "schedule": "none", "patience": 99, "threads": 1,
                         "batch_size": B, "ema": 0.0, "clip_grad": 0.0}}
        out = ctx.workdir / f"model-{name}"
        # The same tensors the trainer uses: normalised windows and targets of the training part.
        split = ds.make_split(ws, mode="time", val_fraction=0.15, test_fraction=0.15, extra_gap_s=0.0)
        tr = ds.split_indices(ws, split, "train")
        xm, xs = ds.fit_channel_norm(ws.X, tr)
        ym, ys = ds.fit_target_norm(ws.y, tr)
        X = (torch.from_numpy(ws_mat.X[tr]) - torch.from_numpy(xm)) / torch.from_numpy(xs)
        Y = (torch.from_numpy(ws.y[tr]) - torch.from_numpy(ym)) / torch.from_numpy(ys)

        def trainer_run(data, out_dir=None):
            """((CPU, wall) windows/s of the steps, the trainer's own samples_per_s, TrainResult)."""
            rates, clock = [], _StepClock()
            r = train(cfg, data, out_dir, cancel=clock,
                      progress=lambda e: rates.append(e["samples_per_s"]) if e.get("event") == "epoch" else None)
            return clock.rates(B), rates[0], r

        def minimal_run():
            torch.manual_seed(0)  # the trainer's seed: the same initial weights
            net = build_model({"name": name, "params": {}}, len(ws.channel_names), ws.window_n, ws.y.shape[1])
            clock = _StepClock()
            own = _minimal_loop(net, X, Y, B, 1, 2e-3, clock)
            return clock.rates(B), own

        step = {"mat": [], "gat": [], "min": []}  # per round (CPU, wall) windows/s
        own = {"gat": [], "min": []}  # windows/s as each reports it (wall, whole epoch)
        res = None
        for k in range(rounds):
            order = ["mat", "gat", "min"]
            for v in order[k % 3:] + order[:k % 3]:
                if v == "mat":
                    step[v].append(trainer_run(ws_mat)[0])
                elif v == "gat":
                    sr, o, r = trainer_run(ws, out if res is None else None)
                    step[v].append(sr)
                    own[v].append(o)
                    res = res or r
                else:
                    sr, o = minimal_run()
                    step[v].append(sr)
                    own[v].append(o)

        def ratio(a: str, b: str, j: int) -> list[float]:  # per round; j 0: thread CPU, 1: wall, 2: process CPU
            return [x[j] / y[j] for x, y in zip(step[a], step[b])]

        def med(v: str, j: int) -> float:
            return float(np.median([x[j] for x in step[v]]))

        def note(a: str, b: str) -> str:
            c, w, p = ratio(a, b, 0), ratio(a, b, 1), ratio(a, b, 2)
            return (f"median of {rounds} interleaved rounds, thread CPU time (per round {min(c):.2f}-{max(c):.2f}); "
                    f"wall time {np.median(w):.2f} (per round {min(w):.2f}-{max(w):.2f}); "
                    f"process CPU time {np.median(p):.2f} (per round {min(p):.2f}-{max(p):.2f})")
        r_train = float(np.median(own["gat"]))
        rows += [Row(GROUP, f"{name}: training (recorder.model.training.train)", r_train, "windows/s",
                     note=f"{len(tr)} training windows of {ws.window_n} x {len(ws.channel_names)}, 1 thread; "
                          f"samples_per_s (wall; the training part of the epoch, validation excluded), median of "
                          f"{rounds} one-epoch runs; {med('gat', 0):.0f} windows per thread-CPU second"),
                 Row(GROUP, f"{name}: train / minimal PyTorch loop", float(np.median(ratio("gat", "min", 0))), "ratio",
                     ">= 0.9",
                     note=f"minimal loop {med('min', 0):.0f} windows per thread-CPU s "
                          f"({np.median(own['min']):.0f} per wall s); "
                          f"augmentation, EMA and clipping off on both sides; " + note("gat", "min")),
                 Row(GROUP, f"{name}: batch-gathered / materialised windows", float(np.median(ratio("gat", "mat", 0))),
                     "ratio", ">= 0.9",
                     note=f"materialised (M, T, C) array {med('mat', 0):.0f}, gathered per batch from the int8 signal "
                          f"{med('gat', 0):.0f} windows per thread-CPU s; " + note("gat", "mat"))]
        first_model = first_model or res.out_dir
        m = load_model(res.out_dir)
        one = ws.X[:1]
        for _ in range(10):
            m.predict(one)
        lat = []
        for i in range(ctx.pick(200, 1000)):
            x = ws.X[i % len(ws.X)][None]
            t = time.perf_counter()
            m.predict(x)
            lat.append(time.perf_counter() - t)
        p50, p99 = percentiles_ms(np.asarray(lat), (50, 99))
        rows.append(Row(GROUP, f"{name}: inference latency per window p50 / p99", round(p50, 3), "ms",
                        note=f"p99 {p99:.3f} ms (LoadedModel.predict, batch 1, CPU, 1 thread)"))
    rows += live_rows(ctx, first_model)
    rows += onnx_rows(ctx, first_model, ws.X)
    return rows


# -- training memory ---------------------------------------------------------------------------------
#: The memory runs: one epoch of the dense model (the issue's measurement), 400 ms windows.
MEM_CFG = {"model": {"name": "dense", "params": {}}, "train": {"epochs": 1, "device": "cpu", "threads": 1}}


def _child_train(spec: dict) -> dict:
    """One training run in this (fresh) process: peak RSS from /proc/self/status VmHWM (this
    process; not ru_maxrss, which a child inherits from the process that forked it: the bench
    group's 0.75 GB showed up as every run's peak), the DataLoader workers' largest ru_maxrss, and,
    sampled every 0.1 s with psutil, the peak of the summed RSS of this process and its children
    (shared pages counted once per process)."""
    import resource
    import threading

    import psutil

    from recorder.dataset import windows as ds
    from recorder.model.training import train

    me = psutil.Process()
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.wait(0.1):
            try:
                rss = me.memory_info().rss + sum(c.memory_info().rss for c in me.children(recursive=True))
            except psutil.Error:
                continue
            peak[0] = max(peak[0], rss)
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    events = []
    t = time.perf_counter()
    data = spec["sessions"]
    if spec.get("materialise"):
        dc = spec["cfg"].get("data", {})
        data = ds.build_windows(data, window_ms=dc.get("window_ms", 400.0), materialise=True)
    res = train(spec["cfg"], data, None, progress=events.append)
    stop.set()
    th.join()
    ep = [e for e in events if e["event"] == "epoch"]
    hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    return {"peak_rss_gb": hwm * 1024 / 1e9,
            "workers_peak_rss_gb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9,
            "tree_peak_rss_gb": peak[0] / 1e9, "seconds": time.perf_counter() - t,
            "windows_per_s": ep[0]["samples_per_s"] if ep else None, "samples": ep[0]["samples"] if ep else 0,
            "n_train": events[0]["n_train"], "data": events[0]["data"], "stopped": res.stopped}


def _run_child(spec: dict, timeout: float) -> dict:
    from .core import ROOT
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])),
           "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "bench.models", "--child-train", json.dumps(spec)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"training child failed (exit {p.returncode}): {p.stderr[-800:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def write_random_sessions(folder: Path, hours: float, n_sessions: int, rate: float = 2000.0, n_channels: int = 16,
                          seed: int = 0) -> list[Path]:
    """EMG-only sessions of random int16 samples with random gesture labels, written straight
    through SessionWriter (no simulation: a 10-hour set in minutes). For throughput and memory only;
    there is nothing to learn in them."""
    from recorder.session.format import SessionWriter
    from recorder.core.types import EmgChunk

    rng = np.random.default_rng(seed)
    paths = []
    per = hours * 3600.0 / n_sessions
    chunk = int(10 * rate)
    for k in range(n_sessions):
        p = folder / f"random-{k:02d}.h5"
        paths.append(p)
        if p.exists():
            continue
        w = SessionWriter(p, sample_rate_hz=rate, channel_names=[f"ch{i + 1}" for i in range(n_channels)],
                          units="counts", emg_dtype=np.int16, t0=1000.0, metadata={"generator": "bench.models random"},
                          video=False)
        w.start()
        n = int(per * rate)
        try:
            for i0 in range(0, n, chunk):
                m = min(chunk, n - i0)
                x = rng.integers(-3000, 3000, size=(m, n_channels), dtype=np.int16)
                t = 1000.0 + (i0 + np.arange(m)) / rate
                w.add_emg(EmgChunk(x=x, t=t, first_index=i0, arrival=float(t[-1])))
            edges = np.arange(0.0, per, 4.0)
            for a in edges:
                w.add_label(1000.0 + a, 1000.0 + min(per, a + 3.0), ["fist", "open", "pinch"][int(rng.integers(3))])
        finally:
            w.close()
        if w.error is not None:
            raise OSError(f"{p}: {w.error}")
    return paths


def memory_rows(ctx: Context) -> list[Row]:
    from recorder.imports.synthetic_sessions import make_synthetic_session
    from recorder.model.streaming import should_stream

    rows: list[Row] = []
    d = ctx.workdir / "memory"
    d.mkdir(parents=True, exist_ok=True)
    for minutes, target in ((ctx.pick(2, 10), 0.6), (ctx.pick(6, 60), 1.5)):
        p = d / f"synthetic-{minutes}min-16ch-2kHz.h5"
        if not p.exists():
            make_synthetic_session(p, duration_s=minutes * 60, seed=3, sample_rate_hz=2000.0, n_channels=16)
        r = _run_child({"sessions": [str(p)], "cfg": MEM_CFG}, timeout=1800)
        rows.append(Row(GROUP, f"training on {minutes} min of 16 ch x 2 kHz: peak RSS", round(r["peak_rss_gb"], 3), "GB",
                        f"<= {target}" if minutes in (10, 60) else "",
                        note=f"dense, 1 epoch, 400 ms windows: {r['n_train']} training windows, "
                             f"{r['windows_per_s']:.0f} windows/s, {r['seconds']:.0f} s; VmHWM of a child process; "
                             f"int8 signal {p.stat().st_size / 1e6:.0f} MB file"))
        if minutes == ctx.pick(2, 10):
            m = _run_child({"sessions": [str(p)], "cfg": MEM_CFG, "materialise": True}, timeout=1800)
            rows.append(Row(GROUP, f"training on {minutes} min of 16 ch x 2 kHz, materialised windows: peak RSS",
                            round(m["peak_rss_gb"], 3), "GB",
                            note=f"the same run with build_windows(materialise=True) (the old path): "
                                 f"{m['peak_rss_gb'] / r['peak_rss_gb']:.1f}x the gathered path"))
    # 10 hours: random int16 sessions written directly (simulating 10 h takes ~30 min here).
    hours = ctx.pick(0.5, 10.0)
    paths = write_random_sessions(d, hours, ctx.pick(2, 10))
    auto, need, avail = should_stream(paths)
    steps = ctx.pick(50, None)  # full run: the whole epoch
    cfg = {"model": {"name": "dense", "params": {}}, "task": "gesture",
           "data": {"anchor": "grid", "background_label": None},
           "train": {"epochs": 1, "device": "cpu", "threads": 1, "stream": True, "workers": 2, "max_steps": steps}}
    r = _run_child({"sessions": [str(p) for p in paths], "cfg": cfg}, timeout=3000)
    note = (f"{len(paths)} random int16 sessions ({need / 1e9:.1f} GB of signal + times; automatic choice here: "
            f"{'stream' if auto else 'memory'}, {avail / 1e9:.0f} GB available), forced train.stream; dense, "
            f"gesture, 400 ms windows every 50 ms: {r['n_train']} training windows, "
            + (f"epoch capped at {steps} steps " if steps else "one full epoch ")
            + f"({r['samples']} windows); 2 DataLoader workers; includes index pass, normalisation pass, "
            f"validation and test over the files; {r['seconds']:.0f} s")
    rows += [Row(GROUP, f"streaming {hours:g} h of 16 ch x 2 kHz: peak RSS (trainer + workers)",
                 round(r["tree_peak_rss_gb"], 3), "GB", note=note + f"; trainer VmHWM {r['peak_rss_gb']:.2f} GB, "
                                                                  f"largest worker {r['workers_peak_rss_gb']:.2f} GB"),
             Row(GROUP, f"streaming {hours:g} h of 16 ch x 2 kHz: training windows/s", round(r["windows_per_s"], 1),
                 "windows/s", note=f"data path {r['data']}, stopped: {r['stopped']}")]
    return rows


def live_rows(ctx: Context, model_dir) -> list[Row]:
    """EMG arrival -> live prediction latency: a Capture (synthetic Myo through its emulator and
    driver) feeds a LivePredictor; a worker predicts at ~30 Hz, as the GUI overlay does. Latency is
    the time from the arrival of the newest chunk in the window to the prediction being ready."""
    import threading

    try:
        from recorder.live.predictor import LivePredictor
    except ImportError as e:
        return [Row(GROUP, "live preview latency (EMG arrival to prediction)", None, status="not yet measured",
                    note=f"recorder.live.predictor not importable: {e}")]
    from recorder.capture.engine import Capture, CaptureListenerBase
    from recorder.core.clock import now

    live = LivePredictor(model_dir)
    arrival_of: dict[float, float] = {}

    class _Feed(CaptureListenerBase):
        def on_emg(self, chunk) -> None:
            live.push(chunk)
            arrival_of[float(chunk.t[-1])] = chunk.arrival
            if len(arrival_of) > 2000:
                for k in list(arrival_of)[:1000]:
                    arrival_of.pop(k, None)

    cap = Capture.from_specs("synthetic", None, None, seed=8)
    cap.add_listener(_Feed())
    lat, age = [], []
    stop = threading.Event()
    cap.start()
    try:
        end = time.monotonic() + ctx.pick(10.0, 30.0)
        while time.monotonic() < end and not stop.wait(1 / 30):
            p = live.predict()
            if p is None:
                continue
            ready = now()
            arr = arrival_of.get(float(p.t))
            if arr is not None:
                lat.append(ready - arr)
            age.append(p.age_s)
    finally:
        cap.stop()
    l50, l95 = percentiles_ms(np.asarray(lat), (50, 95))
    a50, a95 = percentiles_ms(np.asarray(age), (50, 95))
    return [Row(GROUP, "live preview latency, EMG arrival to prediction p50", l50, "ms",
                note=f"p95 {l95:.2f} ms; {len(lat)} predictions at 30 Hz, model {Path(model_dir).name}"),
            Row(GROUP, "live preview age, newest sample time to prediction p50", a50, "ms",
                note=f"p95 {a95:.2f} ms (includes the device's transport latency)"),
            Row(GROUP, "live preview latency to overlay", None, status="INFO",
                note="measured in the window itself: see the gui group (EMG arrival -> overlay painted)")]


def onnx_rows(ctx: Context, model_dir, X: np.ndarray) -> list[Row]:
    """The same model exported to ONNX and run by onnxruntime (1 thread, batch 1): latency per window,
    and its largest difference from PyTorch on 100 windows. X: (N, T, C) windows of the session."""
    name = "ONNX (onnxruntime) inference latency per window p50"
    try:
        from recorder.model.onnx_export import OnnxRunner, check_onnx, export_onnx
        import onnx, onnxruntime  # noqa: F401
    except ImportError as e:
        return [Row(GROUP, name, None, status="not yet measured", note=f"pip install 'emgrec[onnx]' ({e})")]
    from recorder.model.folder import load_model

    m = load_model(model_dir)
    f = export_onnx(m.module, m.window_n, len(m.channel_names), ctx.workdir / "bench-model.onnx")
    diff = check_onnx(m.module, f, X[:100])
    run = OnnxRunner(f, threads=1)
    for i in range(10):
        run.predict(X[i % len(X)][None])
    lat = []
    for i in range(ctx.pick(200, 1000)):
        t = time.perf_counter()
        run.predict(X[i % len(X)][None])
        lat.append(time.perf_counter() - t)
    p50, p99 = percentiles_ms(np.asarray(lat), (50, 99))
    return [Row(GROUP, name, round(p50, 3), "ms",
                note=f"p99 {p99:.3f} ms; model {Path(model_dir).name}, batch 1, CPU, 1 thread"),
            Row(GROUP, "ONNX vs PyTorch, largest relative difference on 100 windows", diff, "ratio", "<= 1e-4",
                note="|onnx - torch| / max(1, |torch|), outputs in mm")]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child-train":
        print(json.dumps(_child_train(json.loads(sys.argv[2]))))
        sys.exit(0)
    sys.exit(f"usage: python -m bench.models --child-train JSON (run the group with python -m bench --only {GROUP})")
