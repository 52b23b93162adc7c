"""Per-session input normalisation (recorder.dataset.session_norm, config data.session_norm): the
causal scale is the same offline and streamed in any chunking, depends only on the past, makes a
session whose channels are scaled by constants predict as the unscaled one, is reproduced by the live
predictor, and is stored in model.json; a model without it loads and predicts on raw units as before."""
import dataclasses
import json

import numpy as np
import pytest

from recorder.core.types import EmgChunk
from recorder.dataset import session_norm as sn
from recorder.dataset import windows as ds
from recorder.live.predictor import LivePredictor
from recorder.model import folder as modelio
from recorder.model.folder import ModelFormatError, load_model, model_windows, predict_session
from recorder.model.training import train

SN = {"enabled": True, "kind": "running", "block_ms": 200.0, "window_s": 5.0, "warmup_s": 2.0}
TINY = {"model": {"name": "conv_lstm", "params": {"conv": [8], "lstm": 16, "dense": [16]}},
        "data": {"window_ms": 200}, "train": {"epochs": 1, "threads": 1}, "guard": {"blend": False}}


def _cfg(session_norm):
    return {**TINY, "data": {**TINY["data"], "session_norm": session_norm}}


@pytest.fixture(scope="module")
def models(tmp_path_factory, synthetic_session):
    d = tmp_path_factory.mktemp("sessnorm")
    train(_cfg(SN), [synthetic_session], d / "on")
    train(_cfg({"enabled": False}), [synthetic_session], d / "off")
    return ds.read_session(synthetic_session), d / "on", d / "off"


def _older_copy(model_dir, dest):
    """A copy of ``model_dir`` whose model.json predates session_norm (no such key in its config)."""
    old = json.loads((model_dir / modelio.META_FILE).read_text())
    old["config"]["data"].pop("session_norm")
    dest.mkdir()
    (dest / modelio.WEIGHTS_FILE).write_bytes((model_dir / modelio.WEIGHTS_FILE).read_bytes())
    (dest / modelio.META_FILE).write_text(json.dumps(old))
    return dest


def _gained(s: ds.SessionArrays, g: np.ndarray) -> ds.SessionArrays:
    """The session with channel c's EMG multiplied by g[c] (float32; another electrode gain)."""
    return dataclasses.replace(s, emg=s.emg.astype(np.float32) * g.astype(np.float32), sha256="", name="gained.h5")


@pytest.mark.parametrize("kind", sn.KINDS)
def test_streamed_scale_equals_offline_in_any_chunking(kind):
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(9000, 4)) * [10, 30, 100, 300] * (1 + 0.5 * np.sin(np.arange(9000) / 900))[:, None]).astype(np.int16)
    cfg = sn.resolve({**SN, "kind": kind})
    offline = sn.scale_signal(x, 200.0, cfg)
    sc = sn.CausalScaler(4, 200.0, cfg)
    parts, i = [], 0
    while i < len(x):
        k = int(rng.integers(1, 130))
        parts.append(sc.process(x[i:i + k]))
        i += k
    np.testing.assert_array_equal(np.concatenate(parts), offline)
    assert sc.seen == len(x)
    # every channel ends near unit scale whatever its gain
    sd = offline[2000:].std(axis=0)
    assert np.allclose(sd / sd.mean(), 1, atol=0.1), sd


@pytest.mark.parametrize("kind", sn.KINDS)
def test_scale_depends_only_on_the_past(kind):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6000, 3)).astype(np.float32)
    y = x.copy()
    y[4000:] *= 50.0  # the future changes (a much louder second half)
    cfg = sn.resolve({**SN, "kind": kind})
    a, b = sn.scale_signal(x, 200.0, cfg), sn.scale_signal(y, 200.0, cfg)
    np.testing.assert_array_equal(a[:4000], b[:4000])
    if kind == "running":  # the running scale follows the change within its window ...
        assert np.std(b[-200:]) < 3 * np.std(a[-200:])
    else:  # ... the start scale stays frozen at the session's first window_s
        np.testing.assert_allclose(b[4000:] / y[4000:], a[4000:] / x[4000:], rtol=1e-6)


def test_resolve_refuses_bad_settings_and_off_is_none():
    assert sn.resolve(None) is None and sn.resolve({"enabled": False}) is None
    assert sn.resolve({"enabled": True})["kind"] == sn.DEFAULTS["kind"]
    # the default is off; "auto": on for pose models, off for gestures
    assert sn.resolve(sn.DEFAULTS, "pose") is None
    auto = {**sn.DEFAULTS, "enabled": "auto"}
    assert sn.resolve(auto, "pose")["enabled"] is True and sn.resolve(auto, "gesture") is None
    for bad in ({"enabled": True, "kind": "median"}, {"enabled": True, "block_ms": 0}, {"enabled": True, "nope": 1},
                {"enabled": "yes"}):
        with pytest.raises(sn.SessionNormError):
            sn.resolve(bad)


def test_constant_channel_gains_give_the_same_predictions(models):
    s, on, off = models
    g = np.array([0.4, 2.5, 1.0, 3.0, 0.7, 1.8, 0.5, 2.2])
    m_on, m_off = load_model(on), load_model(off)
    p, q = predict_session(m_on, s)["pred"], predict_session(m_on, _gained(s, g))["pred"]
    np.testing.assert_allclose(q, p, rtol=0, atol=2e-3)
    # without the option the same gains move the predictions (the test above can fail)
    p0, q0 = predict_session(m_off, s)["pred"], predict_session(m_off, _gained(s, g))["pred"]
    assert np.abs(q0 - p0).max() > 10 * max(np.abs(q - p).max(), 1e-4)


def test_windows_in_the_warm_up_are_dropped(models):
    s, on, off = models
    m_on = load_model(on)
    w_on, w_off = model_windows(m_on, [s]), model_windows(load_model(off), [s])
    warm = sn.warmup_samples(m_on.meta.session_norm, m_on.sample_rate_hz, m_on.window_n)
    assert w_on.t.min() >= s.emg_t[warm - 1] - 1e-9 and len(w_on) < len(w_off)
    assert np.isin(w_off.t[w_off.t >= s.emg_t[warm - 1]], w_on.t).all()


def test_live_predictor_reproduces_offline(models):
    s, on, _ = models
    m = load_model(on)
    ws = model_windows(m, [s])
    offline = m.predict(ws.X)
    lp = LivePredictor(m)
    warm = sn.warmup_samples(m.meta.session_norm, m.sample_rate_hz, m.window_n)
    lp.push(EmgChunk(x=s.emg[:warm - 1], t=s.emg_t[:warm - 1], first_index=0, arrival=0.0))
    assert lp._filled >= lp.window_n and not lp.ready and lp.predict() is None  # in the warm-up
    i, checked = warm - 1, 0
    rng = np.random.default_rng(0)
    for k in range(0, len(ws), 11):
        end = np.searchsorted(s.emg_t, ws.t[k] - ws.sessions[0]["lag_s"], side="right")
        while i < end:
            n = min(int(rng.integers(1, 60)), end - i)
            lp.push(EmgChunk(x=s.emg[i:i + n], t=s.emg_t[i:i + n], first_index=i, arrival=0.0))
            i += n
        if i != end:
            continue
        np.testing.assert_array_equal(lp.window(), ws.X[k])
        np.testing.assert_allclose(lp.predict().pose.reshape(-1), offline[k], rtol=0, atol=1e-4)
        checked += 1
    assert checked > 20
    lp.reset()  # a new session: the scale and the warm-up start again
    lp.push(EmgChunk(x=s.emg[:warm - 1], t=s.emg_t[:warm - 1], first_index=0, arrival=0.0))
    assert lp.predict() is None


def test_model_json_stores_the_setting_and_a_model_without_it_predicts_on_raw_units(models, tmp_path):
    s, on, off = models
    meta_on = json.loads((on / modelio.META_FILE).read_text())
    assert meta_on["normalisation"]["session"] == sn.resolve(SN) and load_model(on).meta.session_norm == sn.resolve(SN)
    m_off = load_model(off)
    assert "session" not in json.loads((off / modelio.META_FILE).read_text())["normalisation"]
    assert m_off.meta.session_norm is None
    ws = ds.build_windows([s], window_ms=200)
    np.testing.assert_array_equal(predict_session(m_off, s)["pred"], m_off.predict(ws.X))
    # an older model.json: no session_norm in its config either (whatever the default is now)
    d = _older_copy(off, tmp_path / "old")
    m_old = load_model(d)
    assert m_old.meta.session_norm is None
    np.testing.assert_array_equal(predict_session(m_old, s)["pred"], m_off.predict(ws.X))
    lp = LivePredictor(m_old)
    lp.push(EmgChunk(x=s.emg[:lp.window_n], t=s.emg_t[:lp.window_n], first_index=0, arrival=0.0))
    assert lp.ready and lp._scaler is None
    np.testing.assert_array_equal(lp.window(), s.emg[:lp.window_n].astype(np.float32))
    # a malformed setting is refused at load
    bad = dict(meta_on, normalisation={**meta_on["normalisation"], "session": {"enabled": True, "kind": "?"}})
    (d / modelio.META_FILE).write_text(json.dumps(bad))
    with pytest.raises(ModelFormatError, match="normalisation.session"):
        load_model(d)


def test_file_backed_windows_are_scaled_as_in_memory(synthetic_session):
    """Data larger than memory (train.stream): FileWindows reads apply the same block scales."""
    a = ds.build_windows([synthetic_session], window_ms=200, session_norm=SN)
    b = ds.build_windows([synthetic_session], window_ms=200, session_norm=SN, signal="file")
    assert isinstance(b.X, ds.FileWindows) and (a.t == b.t).all()
    idx = np.arange(0, len(a), 13)
    np.testing.assert_array_equal(b.X[idx], a.X[idx])
    np.testing.assert_array_equal(b.X.load()[0][idx], a.X[idx])


def test_calibration_keeps_the_earlier_models_setting(models, tmp_path, monkeypatch):
    """Calibration builds the new session's windows with the earlier model's scale, and an older
    model (no session_norm in its config) stays on raw units even when the default says otherwise."""
    from recorder.model import training
    from recorder.model.calibrate import calibrate
    s, on, off = models
    older = _older_copy(off, tmp_path / "older")
    monkeypatch.setitem(training.DEFAULT_CONFIG["data"], "session_norm", {**sn.DEFAULTS, "enabled": True})
    for src, want in ((on, sn.resolve(SN)), (older, None)):
        rep = calibrate(src, s, tmp_path / ("cal-" + src.name), calibration_s=8, config={"train": {"epochs": 1}})
        m = load_model(rep["out_dir"])
        assert m.meta.session_norm == want
        assert len(model_windows(m, [s])) == len(model_windows(load_model(src), [s]))
