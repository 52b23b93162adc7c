"""Without an optional package, each path says in one line what to install; nothing else breaks."""
import sys

import pytest

from recorder.cli.emgrec import main


@pytest.fixture
def without(monkeypatch):
    def hide(*names):
        for n in names:
            for k in [k for k in sys.modules if k == n or k.startswith(n + ".")]:
                monkeypatch.delitem(sys.modules, k)
            monkeypatch.setitem(sys.modules, n, None)  # import raises ImportError
    return hide


def _one_line(capsys, *words):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, err
    return err


def test_brainflow_missing(without, capsys, tmp_path):
    without("brainflow")
    assert main(["record", "--emg", "brainflow:synthetic", "--camera", "none", "--duration", "1",
                 "--out", str(tmp_path / "x.h5")]) == 1
    _one_line(capsys, "pip install 'emgrec[devices]'", "brainflow")
    assert not (tmp_path / "x.h5").exists()


def test_bleak_missing(without, capsys, tmp_path):
    without("bleak")
    assert main(["record", "--emg", "myo-ble", "--camera", "none", "--duration", "1",
                 "--out", str(tmp_path / "x.h5")]) == 1
    _one_line(capsys, "pip install 'emgrec[devices]'", "bleak")
    assert main(["devices"]) == 0  # the rest of `devices` still works
    assert "Myo over Bluetooth: unavailable" in capsys.readouterr().err


def test_pyxdf_missing(without, capsys, tmp_path):
    without("pyxdf")
    f = tmp_path / "r.xdf"
    f.write_bytes(b"XDF:" + b"\0" * 16)
    assert main(["import", str(f), "--out", str(tmp_path / "s.h5")]) == 1
    _one_line(capsys, "pip install 'emgrec[formats]'", "pyxdf")


def test_mne_bids_missing(without, capsys, tmp_path, short_session):
    s = short_session
    without("mne_bids")
    assert main(["export", str(s), "--format", "bids", "--out", str(tmp_path / "b"), "-q"]) == 1
    _one_line(capsys, "pip install 'emgrec[formats]'", "mne-bids")


def test_onnx_missing(without, capsys, tmp_path):
    import torch
    from recorder.model.architectures import Predictor, build_model
    from recorder.model.onnx_export import export_onnx
    without("onnx")
    p = Predictor(build_model({"name": "dense", "params": {}}, 8, 20, 63), "pose", torch.zeros(8), torch.ones(8),
                  torch.zeros(63), torch.ones(63))
    with pytest.raises(RuntimeError, match=r"pip install 'emgrec\[onnx\]'"):
        export_onnx(p, 20, 8, tmp_path / "m.onnx")


def test_pyav_missing_falls_back_to_mp4v_with_a_warning(without, tmp_path, caplog, camera_session):
    import numpy as np
    from recorder.export import files as ex
    s = camera_session
    without("av")
    res = ex.export_video(s, tmp_path / "c.mp4", predict=lambda X: np.zeros((len(X), 63), np.float32))
    assert res.items > 20 and res.path.stat().st_size > 1000
    assert any("pip install 'emgrec[formats]'" in r.getMessage() for r in caplog.records)
