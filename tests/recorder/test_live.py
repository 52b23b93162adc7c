"""LivePredictor fed chunk by chunk gives the offline predictions, restarts after a gap, is fast."""
import numpy as np
import pytest
import torch

from recorder.dataset import windows as ds
from recorder.live.predictor import LiveInputError, LivePredictor
from recorder.model.architectures import build_model, model_names
from recorder.model.folder import load_model
from recorder.model.training import train
from recorder.core.types import EmgChunk


@pytest.fixture(scope="module")
def setup(tmp_path_factory, synthetic_session):
    d = tmp_path_factory.mktemp("live")
    s = synthetic_session
    cfg = {"model": {"name": "conv_lstm", "params": {"conv": [8], "lstm": 16, "dense": [16]}},
           "data": {"window_ms": 200, "session_norm": {"enabled": False}},  # raw units (scaled: test_session_norm)
           "train": {"epochs": 1, "threads": 1}}
    train(cfg, [s], d / "m")
    return s, d / "m"


def test_live_matches_offline(setup):
    session, model_dir = setup
    m = load_model(model_dir)
    sa = ds.read_session(session)
    ws = ds.build_windows([sa], window_ms=200)
    offline = m.predict(ws.X)
    lp = LivePredictor(m)
    assert lp.traced  # the live path runs the trace; it must still give the offline predictions
    lp.check_source(200.0, 8)
    rng = np.random.default_rng(0)
    i = 0
    checked = 0
    for k in range(0, len(ws), 7):  # every 7th frame, in time order
        t_frame = ws.t[k]
        end = np.searchsorted(sa.emg_t, t_frame, side="right")
        while i < end:  # push in random chunk sizes, like a device would
            n = min(int(rng.integers(1, 60)), end - i)
            lp.push(EmgChunk(x=sa.emg[i:i + n], t=sa.emg_t[i:i + n] + 1000.0, first_index=i, arrival=0.0))
            i += n
        p = lp.predict()
        np.testing.assert_array_equal(lp.window(), ws.X[k])
        np.testing.assert_allclose(p.pose.reshape(-1), offline[k], rtol=0, atol=1e-4)
        assert p.pose.shape == (21, 3) and p.latency_s > 0
        checked += 1
    assert checked > 50
    st = lp.latency_stats()
    assert st["n"] == checked and st["p50_ms"] < 50


def test_not_ready_until_a_full_window_and_after_gaps(setup):
    _, model_dir = setup
    lp = LivePredictor(model_dir)
    W = lp.window_n
    x = np.ones((W - 1, 8), np.float32)
    lp.push(EmgChunk(x=x, t=np.arange(W - 1) / 200.0, first_index=0, arrival=0.0))
    assert lp.predict() is None and not lp.ready
    lp.push(EmgChunk(x=x[:1], t=np.array([1.0]), first_index=W - 1, arrival=0.0))
    assert lp.ready and lp.predict() is not None
    # samples lost: the window restarts
    lp.push(EmgChunk(x=x[:5], t=np.arange(5) / 200.0, first_index=W + 100, arrival=0.0))
    assert lp.predict() is None and lp.gaps == 1
    # a chunk longer than the window fills it at once
    big = np.arange(3 * W * 8, dtype=np.float32).reshape(3 * W, 8)
    lp.push(EmgChunk(x=big, t=np.arange(3 * W) / 200.0, first_index=W + 105, arrival=0.0))
    np.testing.assert_array_equal(lp.window(), big[-W:])
    with pytest.raises(LiveInputError):
        lp.push(EmgChunk(x=np.zeros((3, 4), np.float32), t=np.zeros(3), first_index=0, arrival=0.0))
    with pytest.raises(LiveInputError, match="250"):
        lp.check_source(250.0, 8)


@pytest.mark.parametrize("arch", model_names())
def test_every_architecture_runs_traced_and_matches_eager(setup, arch):
    """The live preview runs a TorchScript trace (no GIL between operators); every architecture in
    the catalogue must trace, and the trace must give the module's own output on new windows."""
    _, model_dir = setup
    m = load_model(model_dir)
    torch.manual_seed(0)
    m.module.net = build_model({"name": arch}, 8, m.window_n, 63).eval()
    lp = LivePredictor(m)
    assert lp.traced, f"{arch}: fell back to eager"
    x = torch.randn(4, m.window_n, 8) * 30.0
    with torch.no_grad():
        for i in range(4):
            torch.testing.assert_close(lp._forward(x[i:i + 1]), m.module(x[i:i + 1]), rtol=1e-4, atol=1e-4)


def test_untraceable_network_falls_back_to_eager(setup, monkeypatch, caplog):
    session, model_dir = setup
    def no_trace(*a, **k):
        raise RuntimeError("tracer cannot follow this")
    monkeypatch.setattr(torch.jit, "trace", no_trace)
    m = load_model(model_dir)
    with caplog.at_level("WARNING"):
        lp = LivePredictor(m)
    assert not lp.traced and "running it eagerly" in caplog.text
    W = lp.window_n
    sa = ds.read_session(session)
    lp.push(EmgChunk(x=sa.emg[:W], t=sa.emg_t[:W], first_index=0, arrival=0.0))
    p = lp.predict()
    np.testing.assert_allclose(p.pose.reshape(1, -1), m.predict(sa.emg[None, :W]), rtol=0, atol=1e-4)
