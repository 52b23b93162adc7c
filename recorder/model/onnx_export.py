"""ONNX export of a :class:`recorder.model.architectures.Predictor` and its check against PyTorch with onnxruntime.

Optional extra ``[onnx]`` (``onnx`` to write, ``onnxruntime`` to run). The exported graph is the
whole Predictor: raw EMG ``emg`` (B, T, C) float32 device units in, ``out`` (B, 63) mm or (B, K)
probabilities out, normalisation included; the batch axis is dynamic.

The TorchScript-based exporter (``dynamo=False``) is used: it needs only ``onnx``, while the dynamo
exporter also needs ``onnxscript``; every emgrec architecture (LSTM, Conv1D, dense) exports with it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from recorder.core.errors import EmgrecError, MissingPackageError

OPSET = 17
INPUT, OUTPUT = "emg", "out"


class OnnxExportError(EmgrecError, RuntimeError):
    """onnxruntime does not reproduce PyTorch's output for the exported file; names the file."""


def _need(name: str, what: str):
    try:
        return __import__(name)
    except ImportError:
        raise MissingPackageError(f"{what} needs the '{name}' package: pip install 'emgrec[onnx]'") from None


def export_onnx(module: torch.nn.Module, window_n: int, n_channels: int, out: str | Path) -> Path:
    """Write ``module`` (eval mode, CPU) as an ONNX file taking (B, window_n, n_channels) float32."""
    onnx = _need("onnx", "ONNX export")
    out = Path(out)
    module = module.eval()
    example = torch.zeros(2, window_n, n_channels)
    with warnings.catch_warnings(), torch.no_grad():
        # The legacy exporter warns that it is deprecated and that LSTM batch sizes are traced; both
        # are expected here (the batch axis is declared dynamic below and checked by check_onnx).
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), str(out), input_names=[INPUT], output_names=[OUTPUT],
                          dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}}, opset_version=OPSET,
                          dynamo=False)
    onnx.checker.check_model(onnx.load(str(out)))
    return out


class OnnxRunner:
    """An exported file run by onnxruntime on the CPU, one thread unless told otherwise.

    ``predict(X)``: X (N, T, C) float32 -> (N, n_out) float32, the same as the Predictor."""

    def __init__(self, path: str | Path, threads: int = 1):
        ort = _need("onnxruntime", "Running an ONNX model")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.session.run([OUTPUT], {INPUT: np.ascontiguousarray(X, np.float32)})[0]


def check_onnx(module: torch.nn.Module, path: str | Path, X: np.ndarray) -> float:
    """Largest difference between PyTorch and onnxruntime on windows X (N, T, C), relative to
    max(1, |PyTorch output|) per value (mm outputs reach ~100, float32 keeps ~7 digits)."""
    with torch.no_grad():
        ref = module.eval()(torch.from_numpy(np.asarray(X, np.float32))).numpy()
    got = OnnxRunner(path).predict(X)
    if got.shape != ref.shape:
        raise OnnxExportError(f"{path}: onnxruntime output {got.shape} differs from PyTorch {ref.shape}")
    return float(np.max(np.abs(got - ref) / np.maximum(1.0, np.abs(ref))))


def sample_windows(module, window_n: int, n_channels: int, n: int = 100, seed: int = 0) -> np.ndarray:
    """n windows (n, T, C) in device units around the model's own normalisation (mean ± 2 std),
    i.e. the range the model sees in use."""
    rng = np.random.default_rng(seed)
    mean = module.x_mean.detach().cpu().numpy().reshape(1, 1, -1)
    std = module.x_std.detach().cpu().numpy().reshape(1, 1, -1)
    return (mean + 2 * std * rng.standard_normal((n, window_n, n_channels))).astype(np.float32)
