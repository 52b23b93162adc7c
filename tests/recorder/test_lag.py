"""EMG-to-video lag: its uncertainty (segment bootstrap), what is stored and printed, angle-only and
hand-less sessions, and (slow) the error sweep over session lengths. The estimate itself and its
application to windows are tested in test_model_quality.py."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from recorder.cli.emgrec import main as cli_main
from recorder.dataset import windows as ds
from recorder.dataset.lag import (TRUST_CI_WIDTH_S, LagError, _flexion, estimate_session_lag, read_lag,
                                  read_lag_ci, session_lag_s, write_lag)
from recorder.imports.synthetic_sessions import make_synthetic_session


def _truth(path) -> float:
    import h5py
    with h5py.File(path) as f:
        return json.loads(f.attrs["settings"])["truth_lag_s"]


@pytest.fixture(scope="module")
def short_and_long(tmp_path_factory):
    """(path, estimate) of a 45 s and a 180 s session of the same subject and camera."""
    d = tmp_path_factory.mktemp("lag")
    real = {"emd_s": 0.05, "camera_latency": True, "landmark_noise_mm": 3.0}
    out = []
    for dur in (45, 180):
        p = make_synthetic_session(d / f"s{dur}.h5", duration_s=dur, seed=0, session=1, realism=real)
        out.append((p, estimate_session_lag(ds.read_session(p))))
    return out


def test_the_interval_holds_the_estimate_and_narrows_with_a_longer_session(short_and_long):
    (p_short, short), (p_long, long_) = short_and_long
    for p, r in short_and_long:
        lo, hi = r["ci_s"]
        assert lo <= r["lag_s"] <= hi and r["n_blocks"] >= 4 and not r["at_edge"]
        assert lo - 0.005 <= _truth(p) <= hi + 0.005, (r["lag_s"], r["ci_s"], _truth(p))
    # Training's "auto" estimates without the bootstrap: the same lag.
    assert session_lag_s(ds.read_session(p_long), "auto") == pytest.approx(long_["lag_s"])
    width = lambda r: r["ci_s"][1] - r["ci_s"][0]
    assert width(long_) < width(short)
    assert long_["trusted"] == (width(long_) <= TRUST_CI_WIDTH_S)


def test_the_interval_is_stored_with_the_lag_and_dropped_with_a_lag_without_one(short_and_long, capsys):
    p, r = short_and_long[1]
    assert cli_main(["lag", str(p), "--write"]) == 0
    out = capsys.readouterr().out
    assert "95 % interval" in out and f"{r['lag_s'] * 1e3:.1f} ms" in out
    assert read_lag(p) == pytest.approx(r["lag_s"]) and read_lag_ci(p) == pytest.approx(tuple(r["ci_s"]))
    write_lag(p, 0.1)  # a lag from elsewhere: the old interval is not its
    assert read_lag(p) == pytest.approx(0.1) and read_lag_ci(p) is None


def test_an_untrusted_lag_says_so(tmp_path, capsys):
    p = make_synthetic_session(tmp_path / "short.h5", duration_s=30, seed=0, realism="realistic", session=2)
    r = estimate_session_lag(ds.read_session(p))
    assert r["ci_s"][1] - r["ci_s"][0] > TRUST_CI_WIDTH_S and not r["trusted"]
    assert cli_main(["lag", str(p)]) == 0
    assert "not to be trusted" in capsys.readouterr().out


def test_an_angle_only_session_is_estimated_from_its_angles(short_and_long):
    p, r = short_and_long[1]
    s = ds.read_session(p)
    w = s.world.astype(np.float64)
    angles = np.degrees(_flexion((w - w[:, :1]).reshape(len(w), -1))).astype(np.float32)  # (F, 5)
    a = estimate_session_lag(dataclasses.replace(s, world=np.full_like(s.world, np.nan), angles=angles))
    assert abs(a["lag_s"] - _truth(p)) < 0.02, (a["lag_s"], _truth(p))


def test_a_session_without_a_hand_in_view_is_a_plain_error(tmp_path, capsys):
    p = make_synthetic_session(tmp_path / "nohand.h5", duration_s=20, seed=0, hand_dropout=1.0)
    with pytest.raises(LagError, match="none of its .* frames has a hand"):
        estimate_session_lag(ds.read_session(p))
    assert cli_main(["lag", str(p), "--write"]) == 1
    err = capsys.readouterr().err
    assert "has a hand" in err and "Traceback" not in err and read_lag(p) is None


@pytest.mark.slow
def test_lag_error_sweep_over_session_length(tmp_path):
    """Sessions 0-3 of the realistic subject at 4 and 10 min (bench/lag_sweep.py makes the table in
    docs/models.md from sessions 0-11, 2 min too). Asserted: the 10-min target (10 ms) on every
    session; at 4 min every lag the interval calls trusted is within 10 ms; the 95 % interval holds
    the truth (within 5 ms: its known bias) on all but at most one session per length."""
    from bench.lag_sweep import covers, sweep, table
    rows = sweep((240, 600), range(4), tmp_path)
    print(table(rows))
    for dur in (240, 600):
        assert sum(covers(rows[dur, k][1], rows[dur, k][2]) for k in range(4)) >= 3, rows
    e10 = np.array([rows[600, k][0] for k in range(4)])
    assert np.abs(e10).max() <= 10.0, e10
    e4 = np.array([rows[240, k][0] for k in range(4) if rows[240, k][3]])
    assert len(e4) >= 2 and np.abs(e4).max() <= 10.0, e4
