"""The architecture catalogue without torch: names, allowed parameters, descriptions, the default.

The one source of these facts: :mod:`recorder.model.architectures` pairs each name with its builder
(``REGISTRY``) and :mod:`recorder.model.training` takes its default model from here. The GUI lists
architectures at start-up from this module, so it need not import torch (2-4 s, holding the GIL)
until a model is loaded for prediction.
"""

from __future__ import annotations

#: name -> (allowed parameter names, one-line description)
ARCHITECTURES: dict[str, tuple[frozenset[str], str]] = {
    "seed_lstm": (frozenset({"lstm", "dense", "dropout", "batchnorm", "rectify"}),
                  "seed project: LSTM 256/256/128 + dense 512/512/256 (BN, dropout); ~1.5 M params"),
    "small_lstm": (frozenset({"hidden", "dense", "dropout", "batchnorm", "rectify", "pool"}),
                   "one LSTM (128) on [x, |x|] + dense 64; ~90 k params"),
    "envelope_lstm": (frozenset({"hidden", "dense", "dropout", "batchnorm", "pool"}),
                      "LSTM 128 over 20 ms block envelopes (mean, MAV, RMS per channel) + dense 64; ~87 k params"),
    "dense": (frozenset({"hidden", "features", "dropout", "batchnorm"}),
              "MLP on per-channel RMS/MAV/WL features (or the flattened window)"),
    "conv_lstm": (frozenset({"conv", "kernel", "lstm", "dense", "dropout"}),
                  "Conv1D front end (2 x stride 2) + LSTM 64 + dense"),
}

#: The architecture of recorder.model.training.DEFAULT_CONFIG["model"]["name"].
# envelope_lstm: small_lstm behind fixed 20 ms block envelopes; on the synthetic 10 min session
# it took the test MPJPE ratio from 0.32 to 0.29 at a third of small_lstm's training time.
DEFAULT_ARCHITECTURE = "envelope_lstm"


def descriptions() -> list[tuple[str, str]]:
    """[(architecture name, description)] sorted by name."""
    return [(name, ARCHITECTURES[name][1]) for name in sorted(ARCHITECTURES)]
