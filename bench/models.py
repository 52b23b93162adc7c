"""Models: training windows/s of recorder.training.train per model vs a minimal PyTorch loop on the
same tensors (same model, optimiser, batch size, threads), and inference latency per window."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .core import Context, Row, percentiles_ms

GROUP = "models"


def _minimal_loop(net, X, Y, batch: int, epochs: int, lr: float) -> float:
    """Windows/s of the plainest training loop: permute, slice, forward, MSE, backward, Adam step."""
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
            loss = loss_fn(net(X[b]), Y[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n += len(b)
        rates.append(n / (time.perf_counter() - t))
    return float(np.median(rates))


def run(ctx: Context) -> list[Row]:
    import torch

    from recorder import dataset as ds
    from recorder.models import build_model, model_names
    from recorder.modelio import load_model
    from recorder.simulate import make_synthetic_session
    from recorder.training import train

    torch.set_num_threads(1)  # the machine is shared; one thread for both sides keeps the ratio fair
    sess = make_synthetic_session(ctx.workdir / "models-session.h5", duration_s=ctx.pick(120.0, 300.0), seed=7)
    ws = ds.build_windows([sess], task="pose", window_ms=200.0, anchor="auto")
    epochs = ctx.pick(2, 4)
    rows: list[Row] = []
    names = model_names()
    first_model = None
    for name in names:
        # The same math on both sides: the minimal loop has no augmentation, weight averaging or
        # gradient clipping, so they are off here too; the ratio is the trainer's own overhead.
        cfg = {"model": {"name": name, "params": {}}, "data": {"anchor": "auto"},
               "augment": {"scale": 0.0, "noise": 0.0},
               "train": {"epochs": epochs, "device": "cpu", "schedule": "none", "patience": 99, "threads": 1,
                         "batch_size": 128, "ema": 0.0, "clip_grad": 0.0}}
        rates = []
        out = ctx.workdir / f"model-{name}"
        res = train(cfg, ws, out, progress=lambda e: rates.append(e["samples_per_s"]) if e.get("event") == "epoch" else None)
        r_train = float(np.median(rates))
        # The same tensors the trainer uses: normalised windows and targets of the training part.
        split = ds.make_split(ws, mode="time", val_fraction=0.15, test_fraction=0.15, extra_gap_s=0.0)
        tr = ds.split_indices(ws, split, "train")
        xm, xs = ds.fit_channel_norm(ws.X, tr)
        ym, ys = ds.fit_target_norm(ws.y, tr)
        X = (torch.from_numpy(ws.X[tr]) - torch.from_numpy(xm)) / torch.from_numpy(xs)
        Y = (torch.from_numpy(ws.y[tr]) - torch.from_numpy(ym)) / torch.from_numpy(ys)
        torch.manual_seed(0)
        net = build_model({"name": name, "params": {}}, len(ws.channel_names), ws.window_n, ws.y.shape[1])
        r_min = _minimal_loop(net, X, Y, 128, epochs, 2e-3)
        rows += [Row(GROUP, f"{name}: training (recorder.training.train)", r_train, "windows/s",
                     note=f"{len(tr)} training windows of {ws.window_n} x {len(ws.channel_names)}, 1 thread; "
                          f"includes per-epoch validation"),
                 Row(GROUP, f"{name}: train / minimal PyTorch loop", r_train / r_min, "ratio", ">= 0.9",
                     note=f"minimal loop {r_min:.0f} windows/s; augmentation, EMA and clipping off on both sides")]
        first_model = first_model or res.out_dir
        m = load_model(res.out_dir)
        one = ws.X[:1]
        for _ in range(10):
            m.predict(one)
        lat = []
        for i in range(ctx.pick(200, 1000)):
            t = time.perf_counter()
            m.predict(ws.X[i % len(ws.X)][None])
            lat.append(time.perf_counter() - t)
        p50, p99 = percentiles_ms(np.asarray(lat), (50, 99))
        rows.append(Row(GROUP, f"{name}: inference latency per window p50 / p99", round(p50, 3), "ms",
                        note=f"p99 {p99:.3f} ms (LoadedModel.predict, batch 1, CPU, 1 thread)"))
    rows += live_rows(ctx, first_model)
    rows += onnx_rows(ctx, first_model, ws.X)
    return rows


def live_rows(ctx: Context, model_dir) -> list[Row]:
    """EMG arrival -> live prediction latency: a Capture (synthetic Myo through its emulator and
    driver) feeds a LivePredictor; a worker predicts at ~30 Hz, as the GUI overlay does. Latency is
    the time from the arrival of the newest chunk in the window to the prediction being ready."""
    import threading

    try:
        from recorder.live import LivePredictor
    except ImportError as e:
        return [Row(GROUP, "live preview latency (EMG arrival to prediction)", None, status="not yet measured",
                    note=f"recorder.live not importable: {e}")]
    from recorder.capture import Capture
    from recorder.clock import now

    live = LivePredictor(model_dir)
    arrival_of: dict[float, float] = {}

    def listen(kind, chunk):
        if kind == "emg":
            live.push(chunk)
            arrival_of[float(chunk.t[-1])] = chunk.arrival
            if len(arrival_of) > 2000:
                for k in list(arrival_of)[:1000]:
                    arrival_of.pop(k, None)

    cap = Capture.from_specs("synthetic", None, None, seed=8)
    cap.add_listener(listen)
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
        from recorder.onnx_export import OnnxRunner, check_onnx, export_onnx
        import onnx, onnxruntime  # noqa: F401
    except ImportError as e:
        return [Row(GROUP, name, None, status="not yet measured", note=f"pip install 'emgrec[onnx]' ({e})")]
    from recorder.modelio import load_model

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
