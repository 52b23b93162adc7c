"""Issue 11: baselines beside every model, the no-skill guard, the EMG-to-video lag, the realistic
synthetic subject, channel rotation, cross-session split and calibration (all small and fast)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from recorder.model import baselines
from recorder.dataset import windows as ds
from recorder.model.calibrate import calibrate
from recorder.cli.emgrec import main as cli_main
from recorder.dataset.lag import estimate_session_lag, read_lag, write_lag
from recorder.model.folder import read_meta
from recorder.imports.synthetic_sessions import make_synthetic_session
from recorder.sources.synthetic import REALISTIC, SyntheticSubject, realism_options
from recorder.model.training import _rotate_channels, train

TINY = {"model": {"name": "small_lstm", "params": {"hidden": 16}}, "data": {"window_ms": 150},
        "train": {"epochs": 2, "threads": 1, "batch_size": 64}}


@pytest.fixture(scope="module")
def real_sessions(tmp_path_factory):
    d = tmp_path_factory.mktemp("real")
    return [make_synthetic_session(d / f"s{k}.h5", duration_s=40, seed=0, realism="realistic", session=k)
            for k in range(2)]


def test_features_ignore_the_unit_scale_and_ridge_beats_the_mean_on_a_linear_target():
    rng = np.random.default_rng(0)
    amp = rng.uniform(1, 10, size=(400, 1, 4))
    X = rng.normal(size=(400, 40, 4)) * amp
    F1, F2 = baselines.window_features(X), baselines.window_features(X * 100.0)
    np.testing.assert_allclose(F1 - F1.mean(0), F2 - F2.mean(0), atol=1e-4)
    y = np.log(amp[:, 0, :]) @ rng.normal(size=(4, 3))
    b = baselines.fit_ridge(X[:300], y[:300])
    err = np.abs(baselines.predict(b, X[300:]) - y[300:]).mean()
    assert err < 0.3 * np.abs(y[:300].mean(0) - y[300:]).mean()
    cls = rng.integers(0, 2, 400)
    X2 = rng.normal(size=(400, 40, 4)) * np.where(cls == 1, 8.0, 2.0)[:, None, None] * amp
    X2[..., 1:] /= np.where(cls == 1, 8.0, 2.0)[:, None, None]  # only channel 0 carries the class
    lda = baselines.fit_lda(X2[:300], cls[:300], 2)
    assert (baselines.predict(lda, X2[300:]) == cls[300:]).mean() > 0.8


def test_every_model_has_ridge_and_mean_ratios_and_a_short_session_is_flagged_no_skill(tmp_path, capsys):
    s = make_synthetic_session(tmp_path / "short.h5", duration_s=8, seed=1)
    out = tmp_path / "m"
    rc = cli_main(["train", str(s), "--out", str(out), "--model", "small_lstm", "--window-ms", "150",
                   "--epochs", "1", "--set", "train.threads=1"])
    err = capsys.readouterr().err
    assert rc == 3 and "has not learnt to read the EMG" in err and "training windows" in err
    meta = read_meta(out)
    assert meta.quality["no_skill"] and meta.no_skill and "ridge" in meta.baselines
    for part in ("val", "test"):
        m = meta.metrics[part]
        assert {"ratio", "ridge_ratio", "ridge_mpjpe_mm"} <= set(m)
    # Blending never leaves validation worse than the mean pose (factor 0 is the mean pose itself).
    assert meta.metrics["val"]["ratio"] <= 1.0 + 1e-6 or meta.blend["factor"] == 1.0
    from app.train.view import headline
    assert headline(meta)[0].startswith("NO SKILL")


def test_realism_switches_default_off_and_presets():
    assert not any(realism_options(None).values())
    assert realism_options("realistic") == REALISTIC
    assert realism_options({"preset": "realistic", "hum_counts": 0.0})["hum_counts"] == 0.0
    with pytest.raises(ValueError, match="unknown realism"):
        realism_options({"humm": 1})
    ideal, real = SyntheticSubject(seed=0, t_origin=0.0), SyntheticSubject(seed=0, t_origin=0.0, realism="realistic", session=1)
    t = np.arange(0, 5, 0.005)
    assert not np.allclose(ideal.emg(t), real.emg(t))
    assert 0.03 <= real.camera_latency_s <= 0.12 and real.band_rotation_rad != 0.0
    # The default subject is untouched by the option set.
    np.testing.assert_array_equal(ideal.emg(t), SyntheticSubject(seed=0, t_origin=0.0).emg(t))


def test_lag_is_estimated_stored_and_applied(tmp_path):
    p = make_synthetic_session(tmp_path / "lag.h5", duration_s=90, seed=0,
                               realism={"emd_s": 0.05, "camera_latency": True}, session=1)
    s = ds.read_session(p)
    import h5py
    with h5py.File(p) as f:
        truth = json.loads(f.attrs["settings"])["truth_lag_s"]
    est = estimate_session_lag(s)["lag_s"]
    # The estimate on 90 s of data; see docs/models.md for its measured error on 10 min sessions.
    assert abs(est - truth) < 0.04, (est, truth)
    assert read_lag(p) is None
    write_lag(p, est)
    assert read_lag(p) == pytest.approx(est)
    s2 = ds.read_session(p)
    w0 = ds.build_windows([s2], window_ms=150, lag="none")
    w1 = ds.build_windows([s2], window_ms=150, lag="stored")
    assert w1.sessions[0]["lag_s"] == pytest.approx(est) and w0.sessions[0]["lag_s"] == 0.0
    # Same frame, window ending at the last sample at or before (frame time - lag) instead of the frame time.
    f = np.intersect1d(w0.frame, w1.frame)[50]
    i0, i1 = np.searchsorted(w0.frame, f), np.searchsorted(w1.frame, f)
    end0 = np.searchsorted(s2.emg_t, w0.t[i0], side="right") - 1
    end1 = np.searchsorted(s2.emg_t, w1.t[i1] - est, side="right") - 1
    assert end0 - end1 == pytest.approx(est * s2.sample_rate_hz, abs=1)
    np.testing.assert_array_equal(w0.X[i0][-1], s2.emg[end0])
    np.testing.assert_array_equal(w1.X[i1][-1], s2.emg[end1])


def _lag_error_ms(path) -> float:
    import h5py
    with h5py.File(path) as f:
        truth = json.loads(f.attrs["settings"])["truth_lag_s"]
    return (estimate_session_lag(ds.read_session(path))["lag_s"] - truth) * 1e3


@pytest.mark.parametrize("session", [1, 3, 4])  # camera latency 113, 41, 83 ms (+ 50 ms EMD)
def test_lag_estimate_follows_the_camera_latency(tmp_path, session):
    # Band placement differs per session; no landmark noise or drifts, so 3 min suffice for 5 ms.
    p = make_synthetic_session(tmp_path / "l.h5", duration_s=180, seed=0, session=session,
                               realism={"emd_s": 0.05, "camera_latency": True, "rotation": True, "placement": True})
    assert abs(_lag_error_ms(p)) < 5.0


@pytest.mark.slow
@pytest.mark.parametrize("session,realism", [(1, "realistic"), (3, "realistic"),
                                             (2, {"preset": "realistic", "emd_s": 0.0})])
def test_lag_estimate_within_10_ms_on_the_realistic_subject(tmp_path, session, realism):
    # The issue-11 target: every realism effect on, 10 min sessions (the bench's), 10 ms.
    p = make_synthetic_session(tmp_path / "r.h5", duration_s=600, seed=0, session=session, realism=realism)
    assert abs(_lag_error_ms(p)) < 10.0


def test_channel_rotation_turns_the_ring():
    x = torch.arange(8.0).view(1, 1, 8).repeat(64, 3, 1)
    g = torch.Generator().manual_seed(0)
    y = _rotate_channels(x, 1.0, g)
    # Every output channel is a mix of two neighbouring inputs around the ring: the difference
    # between consecutive channels stays 1 except across the wrap.
    d = torch.diff(y[:, 0], dim=1)
    assert ((d - 1).abs() < 1e-5).sum(dim=1).min() >= 6
    assert not torch.allclose(y, x)


def test_several_sessions_default_to_a_cross_session_split_and_calibration_reports_references(real_sessions, tmp_path):
    res = train(TINY, real_sessions, tmp_path / "cross")
    assert res.meta.split["mode"] == "cross"
    assert res.meta.data["sessions"][1]["windows"]["test"] > 0 and res.meta.data["sessions"][1]["windows"]["train"] == 0
    assert res.meta.data["sessions"][0]["windows"]["val"] > 0
    new = make_synthetic_session(tmp_path / "new.h5", duration_s=40, seed=0, realism="realistic", session=5)
    rep = calibrate(tmp_path / "cross", new, tmp_path / "cal", calibration_s=20, config={"train": {"epochs": 2}})
    assert set(rep["metrics"]) == {"calibrated", "earlier model, uncalibrated", "from scratch on calibration",
                                   "ridge on calibration", "mean pose of calibration"}
    assert rep["metrics"]["mean pose of calibration"]["ratio"] == pytest.approx(1.0)
    assert (tmp_path / "cal" / "calibration.json").is_file() and (tmp_path / "cal" / "model.json").is_file()
    assert rep["n_test"] > 0 and rep["n_calibration"] > 0


def test_lag_command_estimates_and_stores(tmp_path, capsys):
    p = make_synthetic_session(tmp_path / "c.h5", duration_s=30, seed=2)
    assert cli_main(["lag", str(p)]) == 0 and read_lag(p) is None
    assert cli_main(["lag", str(p), "--write"]) == 0
    assert "lag" in capsys.readouterr().out and read_lag(p) is not None


def test_jhu_quality_rows_are_skipped_with_a_reason_without_the_data(tmp_path, monkeypatch):
    from bench import jhu, quality
    from bench.core import Context
    monkeypatch.setattr(jhu, "JHU_ROOT", tmp_path / "absent")
    rows = quality.jhu_rows(Context(quick=True, workdir=tmp_path, soak_s=0.0))
    assert len(rows) == 1 and rows[0].status == "SKIP" and "not found" in rows[0].note


def test_ridge_baseline_equals_sklearn_ridge():
    """The closed-form ridge is scikit-learn's Ridge(fit_intercept=True) on the same features."""
    from sklearn.linear_model import Ridge
    from recorder.model import baselines as b
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 40, 8)) * rng.uniform(0.5, 2, size=(500, 1, 8))
    y = rng.normal(size=(500, 63)) + (X.std(axis=1) @ rng.normal(size=(8, 63)))
    m = b.fit_ridge(X, y)
    F = b.window_features(X)
    mu, sd = b._standardise(F)
    r = Ridge(alpha=b.RIDGE_ALPHA).fit((F - mu) / sd, y)
    np.testing.assert_allclose(np.array(m["coef"]), r.coef_, atol=1e-9)
    np.testing.assert_allclose(np.array(m["intercept"]), r.intercept_, atol=1e-9)
    np.testing.assert_allclose(b.predict(m, X), r.predict((F - mu) / sd), atol=1e-4)
