"""Training beats the mean-pose baseline; reproducible; model folders round-trip without pickle;
corrupt folders give clear errors; progress, cancel, JSONL, sweeps, ensembles, CLI and export."""
import json
import pickle
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from recorder.dataset import windows as ds
from recorder.cli.emgrec import main as cli_main
from recorder.model.folder import (Ensemble, ModelFormatError, WEIGHTS_FILE, evaluate, export_model, load_model,
                              predict_session)
from recorder.imports.synthetic_sessions import make_synthetic_session
from recorder.model.training import (EPOCH_METRICS, PROGRESS_EVENTS, expand_grid, resolve_config, ConfigError, sweep,
                               train)

TINY = {"model": {"name": "small_lstm", "params": {"hidden": 24, "dense": [32]}},
        "data": {"window_ms": 150, "target_frame": "hand"},
        "train": {"epochs": 3, "batch_size": 64, "threads": 1, "patience": 50}}


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return make_synthetic_session(tmp_path_factory.mktemp("syn") / "s.h5", duration_s=60, seed=1)


@pytest.fixture(scope="module")
def trained(session, tmp_path_factory):
    events = []
    out = tmp_path_factory.mktemp("models") / "m"
    cfg = {**TINY, "model": {"name": "dense", "params": {"hidden": [64, 64]}},
           "train": {**TINY["train"], "epochs": 8, "lr": 3e-3}}
    res = train(cfg, [session], out, progress=events.append)
    return res, events


def test_short_training_beats_the_mean_pose_baseline(trained):
    res, events = trained
    m = res.metrics["test"]
    assert m["n"] > 100
    assert m["ratio"] < 0.6, m  # well below the baseline that ignores the EMG
    assert m["r2"] > 0.5
    # progress: start, one event per epoch with the documented keys, done
    assert events[0]["event"] == "start" and events[-1]["event"] == "done"
    ep = [e for e in events if e["event"] == "epoch"]
    assert len(ep) == len(res.history) == 8
    assert {"epoch", "train_loss", "val_loss", "val_mpjpe_mm", "lr", "eta_s"} <= set(ep[0])
    json.dumps(events)  # consumable by a subprocess parent


def test_normalisation_is_fitted_on_the_training_split(trained, session):
    res, _ = trained
    meta = res.meta
    ws = ds.build_windows([session], window_ms=150, target_frame="hand", session_norm=meta.session_norm)
    split = ds.split_from_json(meta.split)
    tr = ds.split_indices(ws, split, "train")
    mean, std = ds.fit_channel_norm(ws.X, tr)
    np.testing.assert_allclose(meta.normalisation["x_mean"], mean, rtol=1e-6)
    np.testing.assert_allclose(meta.normalisation["x_std"], std, rtol=1e-6)
    np.testing.assert_allclose(meta.baseline["pose_mm"], ws.y[tr].mean(0), rtol=1e-4, atol=1e-3)
    assert meta.data["windows"]["train"] == len(tr)
    assert meta.data["sessions"][0]["sha256"] == ds.file_sha256(session)


def test_model_folder_round_trip_is_bit_identical_and_pickle_free(trained, session, monkeypatch):
    res, _ = trained
    folder = res.out_dir
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["model.json", WEIGHTS_FILE]

    def no_pickle(*a, **k):
        raise AssertionError("pickle used")
    monkeypatch.setattr(torch, "load", no_pickle)
    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    m = load_model(folder)
    ws = ds.build_windows([session], window_ms=150, target_frame="hand")
    a = res.predictor(torch.from_numpy(ws.X[:300])).detach().numpy()
    b = m.predict(ws.X[:300])
    assert np.array_equal(a, b)
    assert m.task == "pose" and m.window_n == 30 and m.sample_rate_hz == 200.0
    # the metrics stored in the folder are what evaluate() recomputes on the held-out part
    r = evaluate(m, [session])
    assert r["part"] == "test"
    assert r["metrics"]["mpjpe_mm"] == pytest.approx(res.metrics["test"]["mpjpe_mm"], rel=1e-5)


def test_corrupt_or_foreign_folders_raise_model_format_error(trained, tmp_path):
    res, _ = trained
    src = res.out_dir

    def copy(name):
        d = tmp_path / name
        d.mkdir()
        for f in src.iterdir():
            (d / f.name).write_bytes(f.read_bytes())
        return d

    with pytest.raises(ModelFormatError, match="not a folder"):
        load_model(tmp_path / "missing")
    d = copy("trunc")
    w = d / WEIGHTS_FILE
    w.write_bytes(w.read_bytes()[:100])
    with pytest.raises(ModelFormatError, match="corrupt"):
        load_model(d)
    d = copy("badjson")
    (d / "model.json").write_text("{not json")
    with pytest.raises(ModelFormatError, match="not valid JSON"):
        load_model(d)
    d = copy("foreign")
    (d / "model.json").write_text(json.dumps({"format": "keras"}))
    with pytest.raises(ModelFormatError, match="not an emgrec model"):
        load_model(d)
    d = copy("mismatch")
    meta = json.loads((d / "model.json").read_text())
    meta["architecture"]["params"]["hidden"] = [16]
    (d / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFormatError, match="do not match"):
        load_model(d)
    d = copy("pickled")
    (d / WEIGHTS_FILE).unlink()
    torch.save({"x": 1}, d / "weights.pt")
    with pytest.raises(ModelFormatError, match="never loaded"):
        load_model(d)


def test_training_is_reproducible(session):
    cfg = {**TINY, "train": {**TINY["train"], "epochs": 1}}
    data = ds.build_windows([session], window_ms=150, target_frame="hand")
    h1 = train(cfg, data).history
    h2 = train(cfg, data).history
    assert [e["train_loss"] for e in h1] == [e["train_loss"] for e in h2]
    assert [e["val_loss"] for e in h1] == [e["val_loss"] for e in h2]
    h3 = train({**cfg, "train": {**cfg["train"], "seed": 1}}, data).history
    assert h3[0]["train_loss"] != h1[0]["train_loss"]


def test_cancel_keeps_the_best_model(session, tmp_path):
    cancel = threading.Event()

    def on_progress(e):
        if e["event"] == "epoch" and e["epoch"] == 1:
            cancel.set()
    res = train({**TINY, "train": {**TINY["train"], "epochs": 20}}, [session], tmp_path / "c",
                progress=on_progress, cancel=cancel)
    assert res.stopped == "cancelled" and len(res.history) == 1
    assert load_model(tmp_path / "c").meta.training["stopped"] == "cancelled"


def test_gesture_task_beats_majority_and_ensemble(tmp_path):
    # Two loops of the subject's ~65 s schedule, so every gesture is seen before the held-out block.
    session = make_synthetic_session(tmp_path / "g.h5", duration_s=140, seed=2)
    cfg = {"task": "gesture", "model": {"name": "dense", "params": {"hidden": [64]}},
           "data": {"window_ms": 200, "anchor": "grid"}, "train": {"epochs": 8, "threads": 1, "lr": 3e-3}}
    r1 = train(cfg, [session], tmp_path / "g1")
    r2 = train({**cfg, "train": {**cfg["train"], "seed": 5}}, [session], tmp_path / "g2")
    m = r1.metrics["test"]
    assert m["accuracy"] > m["baseline_accuracy"] + 0.1
    assert len(m["confusion"]) == len(r1.meta.class_names)
    ens = Ensemble([tmp_path / "g1", tmp_path / "g2"])
    e = evaluate(ens, [session])
    assert e["n_windows"] == m["n"] and 0 <= e["metrics"]["accuracy"] <= 1
    p1, p2 = load_model(tmp_path / "g1"), load_model(tmp_path / "g2")
    ws = ds.build_windows([session], task="gesture", window_ms=200, class_names=p1.class_names)
    np.testing.assert_allclose(ens.predict(ws.X[:50]), (p1.predict(ws.X[:50]) + p2.predict(ws.X[:50])) / 2, atol=1e-6)


def test_config_validation_and_grid():
    with pytest.raises(ConfigError, match="unknown config key 'train.lrr'"):
        resolve_config({"train": {"lrr": 1}})
    assert resolve_config({"model": {"name": "dense", "params": {"hidden": [8]}}})["model"]["params"] == {"hidden": [8]}
    assert expand_grid({"lr": [1, 2], "batch": [3, 4, 5]})[4] == {"lr": 2, "batch": 4}


def test_sweep_writes_comparison(session, tmp_path):
    rows = sweep({**TINY, "train": {**TINY["train"], "epochs": 1}}, {"lr": [1e-3, 3e-3]}, [session], tmp_path / "sw")
    assert len(rows) == 2
    md = (tmp_path / "sw" / "sweep.md").read_text()
    assert "00_lr=0.001" in md and "01_lr=0.003" in md and "MPJPE" in md
    data = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert len(data["runs"]) == 2 and data["runs"][1]["history"]
    assert load_model(rows[0]["out_dir"]).meta.config["train"]["lr"] == 1e-3


def test_cli_train_evaluate_predict_export(session, tmp_path, capsys):
    out = tmp_path / "cli_model"
    rc = cli_main(["train", str(session), "--model", "small_lstm", "--window-ms", "150", "--out", str(out),
                   "--epochs", "1", "--set", "train.threads=1", "--set", "model.params.hidden=16",
                   "--target-frame", "hand", "--allow-no-skill"])  # one epoch learns nothing: the guard says so
    assert rc == 0 and (out / "model.json").is_file()
    capsys.readouterr()
    assert cli_main(["evaluate", str(out), str(session)]) == 0
    text = capsys.readouterr().out
    assert "baseline mm" in text and "MPJPE" in text and "ridge mm" in text
    csv = tmp_path / "pred.csv"
    assert cli_main(["predict", str(out), str(session), "--out", str(csv)]) == 0
    rows = np.loadtxt(csv, delimiter=",", skiprows=1)
    r = predict_session(load_model(out), session)
    assert rows.shape == (len(r["t"]), 2 + 126)
    np.testing.assert_allclose(rows[:, 2:65], r["pred"], atol=1e-3)
    ts = tmp_path / "m.pt"
    assert cli_main(["export-model", str(out), "--format", "torchscript", "--out", str(ts)]) == 0
    side = json.loads((tmp_path / "m.pt.json").read_text())
    assert side["input"]["window_n"] == 30 and side["input"]["channel_order"][0] == "ch1"
    assert cli_main(["evaluate", str(out), str(tmp_path / "nope.h5")]) == 1  # clear error, no traceback
    assert "neither a model folder" in capsys.readouterr().err


def test_exported_programs_match(trained, tmp_path):
    res, _ = trained
    m = load_model(res.out_dir)
    x = torch.randn(5, m.window_n, 8) * 20
    ref = m.module(x).detach()
    f, side = export_model(res.out_dir, "torchscript", tmp_path / "m.pt")
    assert torch.allclose(torch.jit.load(str(f))(x), ref, atol=1e-5)
    f, side = export_model(res.out_dir, "pt2", tmp_path / "m.pt2")
    prog = torch.export.load(str(f)).module()
    assert torch.allclose(prog(x), ref, atol=1e-5)
    assert json.loads(side.read_text())["output"]["units"] == "mm"


def _check_schema(e: dict) -> None:
    """An event holds exactly the keys recorder.model.training.PROGRESS_EVENTS documents for its kind."""
    keys = set(PROGRESS_EVENTS[e["event"]])
    if e["event"] == "epoch":
        assert len(set(e) & set(EPOCH_METRICS)) == 1, e
        keys |= set(e) & set(EPOCH_METRICS)
    assert set(e) == keys, (e["event"], set(e) ^ keys)


def test_jsonl_subprocess(session, tmp_path):
    """`emgrec train --jsonl-progress`, run as the GUI runs it: only event lines, in the documented schema."""
    cfg = {**TINY, "train": {**TINY["train"], "epochs": 2}}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    cmd = [sys.executable, "-m", "recorder", "train", str(session), "--out", str(tmp_path / "j"),
           "--config", str(tmp_path / "cfg.json"), "--jsonl-progress", "--allow-no-skill"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert [e["event"] for e in events] == ["start", "epoch", "epoch", "done"]
    for e in events:
        _check_schema(e)
    assert events[-1]["out_dir"] == str(tmp_path / "j") and (tmp_path / "j" / "model.json").is_file()
    # a failure is one error event and exit status 1 (no traceback on stdout)
    cfg["train"]["lrr"] = 1
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    cmd[cmd.index("--out") + 1] = str(tmp_path / "k")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert out.returncode == 1
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert [e["event"] for e in events] == ["error"] and "ConfigError: unknown config key 'train.lrr'" in events[0]["error"]
    _check_schema(events[0])


# -- data larger than memory ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("two")
    return [make_synthetic_session(d / "a.h5", duration_s=30, seed=3, gaps=[(10.0, 10.5)]),
            make_synthetic_session(d / "b.h5", duration_s=20, seed=4)]


def test_file_windows_match_memory_and_read_only_their_sessions(two_files, tmp_path):
    ref = ds.build_windows(two_files, window_ms=150, materialise=True)
    fws = ds.build_windows(two_files, window_ms=150, signal="file")
    assert isinstance(fws.X, ds.FileWindows)
    np.testing.assert_array_equal(np.asarray(fws.X), ref.X)
    np.testing.assert_array_equal(fws.X[100:400], ref.X[100:400])
    idx = np.flatnonzero(fws.session == 1)[::7]
    np.testing.assert_allclose(ds.fit_channel_norm(fws.X, idx), ds.fit_channel_norm(ref.X, idx), rtol=1e-5)
    # a node loading session 0 never opens session 1's file
    import shutil
    copies = [shutil.copy(p, tmp_path / p.name) for p in two_files]
    ws = ds.build_windows(copies, window_ms=150, signal="file")
    (tmp_path / "b.h5").unlink()
    view, sel = ws.X.load([0])
    np.testing.assert_array_equal(sel, np.flatnonzero(ws.session == 0))
    np.testing.assert_array_equal(np.asarray(view), ref.X[sel])


def test_block_stream_covers_every_window_once_shuffled_by_blocks(two_files):
    from recorder.model.streaming import BlockStream, loader
    from recorder.model.training import BatchGather

    ws = ds.build_windows(two_files, window_ms=150, signal="file")
    idx = np.arange(0, len(ws), 2)
    mean, std = ds.fit_channel_norm(ws.X, idx)
    target = np.arange(len(ws))  # the window index as target: says which windows a batch holds
    bs = BlockStream(ws.X, idx, target, mean, std, batch=64, seed=1, block_windows=100, mix_blocks=3)
    ref = BatchGather(ws.X, mean, std, torch.device("cpu"))
    seen, full = [], []
    for x, y in loader(bs, workers=2):
        assert x.dtype == torch.float32 and 2 <= len(x) <= 64
        full.append(len(x) == 64)
        assert torch.equal(x, ref(y))  # each window exactly as the in-memory path normalises it
        seen.append(y.numpy())
    order = np.concatenate(seen)
    np.testing.assert_array_equal(np.sort(order), idx)  # every training window once per epoch
    assert (np.diff(order) < 0).mean() > 0.3  # shuffled, not in time order
    assert sum(not f for f in full) <= 2  # full batches but each worker's last
    bs.set_epoch(1)
    again = np.concatenate([y.numpy() for _, y in loader(bs, workers=0)])
    assert not np.array_equal(again, order) and np.array_equal(np.sort(again), idx)


def test_training_streams_when_the_data_would_not_fit(two_files, tmp_path):
    events = []
    cfg = {**TINY, "train": {**TINY["train"], "epochs": 2, "memory_fraction": 1e-9, "workers": 1}}
    res = train(cfg, two_files, tmp_path / "m", progress=events.append)
    assert events[0]["data"] == "stream" and res.meta.training["data"]["path"] == "stream"
    n_train = events[0]["n_train"]
    ep = [e for e in events if e["event"] == "epoch"]
    assert n_train - 64 < ep[0]["samples"] <= n_train
    assert res.metrics["test"]["n"] > 0 and np.isfinite(res.metrics["test"]["mpjpe_mm"])
    # prediction takes views (gathered a batch at a time) and gives what the array gives
    m = load_model(tmp_path / "m")
    for X in (ds.build_windows(two_files, window_ms=150).X, ds.build_windows(two_files, window_ms=150, signal="file").X):
        sub = X.take(np.arange(0, len(X), 5))
        np.testing.assert_allclose(m.predict(sub, batch=64), m.predict(np.asarray(sub)), rtol=1e-5, atol=1e-4)
    # the default threshold keeps these small sessions in memory; max_steps caps the run
    events = []
    cfg = {**TINY, "train": {**TINY["train"], "epochs": 5, "max_steps": 7}}
    res = train(cfg, two_files, None, progress=events.append)
    assert events[0]["data"] == "memory" and res.stopped == "steps"
    assert sum(e["samples"] for e in events if e["event"] == "epoch") <= 7 * 64
    with pytest.raises(ConfigError):
        resolve_config({"train": {"stream": "sometimes"}})
