"""ONNX export (extra [onnx]): every architecture's Predictor, run by onnxruntime, equals PyTorch
within 1e-4 on 100 windows; the CLI writes the file and a sidecar naming input/output."""
import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnx", reason="pip install 'emgrec[onnx]'")
pytest.importorskip("onnxruntime", reason="pip install 'emgrec[onnx]'")

from recorder.cli.emgrec import main as cli_main  # noqa: E402
from recorder.model.architectures import Predictor, build_model, model_names  # noqa: E402
from recorder.model.onnx_export import OnnxRunner, check_onnx, export_onnx, sample_windows  # noqa: E402


@pytest.mark.parametrize("name", model_names())
@pytest.mark.parametrize("task", ["pose", "gesture"])
def test_every_architecture_matches_pytorch_on_100_windows(name, task, tmp_path):
    torch.manual_seed(0)
    C, T = 8, 40
    n_out = 63 if task == "pose" else 5
    net = build_model({"name": name, "params": {}}, C, T, n_out)
    pose = task == "pose"
    p = Predictor(net, task, torch.randn(C) * 3, torch.rand(C) * 20 + 5,
                  torch.randn(n_out) * 30 if pose else None, torch.rand(n_out) * 20 + 1 if pose else None).eval()
    f = export_onnx(p, T, C, tmp_path / "m.onnx")
    X = sample_windows(p, T, C, 100)
    with torch.no_grad():
        ref = p(torch.from_numpy(X)).numpy()
    got = OnnxRunner(f).predict(X)
    assert got.shape == (100, n_out)
    assert np.abs(ref).max() > 1.0 if pose else True  # real-scale outputs, not all ~0
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    assert check_onnx(p, f, X) <= 1e-4
    # the batch axis is dynamic: one window, and an odd batch, work too
    np.testing.assert_allclose(OnnxRunner(f).predict(X[:1]), ref[:1], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(OnnxRunner(f).predict(X[:7]), ref[:7], rtol=1e-4, atol=1e-4)


def test_cli_export_model_onnx(tmp_path, synthetic_session):
    from recorder.model.training import train
    from recorder.model.folder import load_model

    s = synthetic_session
    cfg = {"model": {"name": "small_lstm", "params": {"hidden": 16, "dense": [16]}}, "data": {"window_ms": 150},
           "train": {"epochs": 1, "batch_size": 64, "threads": 1}}
    res = train(cfg, [s], tmp_path / "m")
    out = tmp_path / "exp" / "m.onnx"
    assert cli_main(["export-model", str(res.out_dir), "--format", "onnx", "--out", str(out)]) == 0
    side = json.loads((tmp_path / "exp" / "m.onnx.json").read_text())
    assert side["format"] == "onnx" and side["onnx"]["input_name"] == "emg"
    assert side["onnx"]["max_rel_diff_vs_pytorch_100_windows"] <= 1e-4
    m = load_model(res.out_dir)
    X = np.random.default_rng(1).normal(0, 30, (100, m.window_n, len(m.channel_names))).astype(np.float32)
    np.testing.assert_allclose(OnnxRunner(out).predict(X), m.predict(X), rtol=1e-4, atol=1e-4)
