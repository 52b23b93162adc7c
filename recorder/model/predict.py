"""Batched inference of a trained module over windows, shared by training (validation metrics) and
the model-folder reader (``modelio.LoadedModel.predict``), so neither has to import the other."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from recorder.dataset import windows as ds

#: Elements (B * T * C) of one evaluation batch: 8 MiB of float32 (a model's temporaries are several
#: times its input; at 2 kHz x 16 channels x 400 ms that is 163 windows a batch).
EVAL_BATCH_ELEMENTS = 1 << 21


def _eval_batch(T: int, C: int, batch: int = 4096) -> int:
    return int(max(16, min(batch, EVAL_BATCH_ELEMENTS // max(1, T * C))))


@torch.no_grad()
def predict_array(module: nn.Module, X: np.ndarray | torch.Tensor | ds.WindowView | ds.FileWindows, batch: int = 4096,
                  device: torch.device | str = "cpu") -> np.ndarray:
    """Run a module over windows X (N, T, C) in eval mode, in batches; returns (N, out) float32.
    A WindowView or FileWindows is gathered a batch at a time (capped at EVAL_BATCH_ELEMENTS)."""
    module.eval()
    if isinstance(X, ds.LAZY_WINDOWS):
        batch = _eval_batch(X.shape[1], X.shape[2], batch)
        out = None
        for i in range(0, len(X), batch):
            y = module(torch.from_numpy(X[i:i + batch]).to(device)).float().cpu().numpy()
            if out is None:
                out = np.empty((len(X),) + y.shape[1:], np.float32)
            # One output array, not a list of small per-batch tensors: those, kept between the
            # batches' large temporaries, pinned the malloc heap (+0.7 GB over 3 h of 2 kHz test data).
            out[i:i + len(y)] = y
        return out if out is not None else np.zeros((0, 0), np.float32)
    Xt = torch.as_tensor(X)
    outs = [module(Xt[i:i + batch].to(device)).float().cpu() for i in range(0, len(Xt), batch)]
    return torch.cat(outs).numpy() if outs else np.zeros((0, 0), np.float32)
