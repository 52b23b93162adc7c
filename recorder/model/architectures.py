"""Model registry: EMG window (B, T, C) -> pose (B, 63) or class logits (B, K).

Every architecture is built from a JSON-able config ``{"name": ..., "params": {...}}`` plus the
data shape (channels C, window length T samples, outputs), so a model folder can rebuild it
without pickle. Inputs are *normalised* EMG (per-channel z-scores); :class:`Predictor` wraps a
network with the stored normalisation so callers feed raw device units and get millimetres (or
class probabilities) back, and offline evaluation, live prediction and exported models all run
the same code.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from recorder.core.errors import EmgrecError
from recorder.model.catalogue import ARCHITECTURES

N_POSE_OUT = 63  # 21 landmarks x (x, y, z), mm, wrist-relative


class ModelConfigError(EmgrecError, ValueError):
    """Unknown architecture name or bad parameters."""


def _dense_stack(n_in: int, hidden: list[int], n_out: int, dropout: float, batchnorm: bool) -> nn.Sequential:
    """Linear -> [BatchNorm] -> ReLU -> Dropout for each hidden width, then a linear head."""
    layers: list[nn.Module] = []
    for h in hidden:
        layers.append(nn.Linear(n_in, h))
        if batchnorm:
            layers.append(nn.BatchNorm1d(h))
        layers.append(nn.ReLU())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        n_in = h
    layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


def envelope_blocks(x: torch.Tensor, pool: int) -> torch.Tensor:
    """Fixed rectify-and-smooth front end: (B, T, C) -> (B, T // pool, 3C) of per-block mean, mean
    absolute value and RMS over consecutive blocks of ``pool`` samples (the oldest T % pool samples
    are dropped, so the last block ends at the window's last sample).

    EMG is zero-mean noise whose amplitude carries the information; block amplitudes are what a
    recurrent net would otherwise have to learn to integrate from samples near Nyquist, and the
    sequence it runs over is ``pool`` times shorter (faster, easier to train).
    """
    B, T, C = x.shape
    n = T // pool
    if n < 1:
        raise ModelConfigError(f"pool {pool} is longer than the window ({T} samples)")
    b = x[:, T - n * pool:].reshape(B, n, pool, C)
    return torch.cat([b.mean(dim=2), b.abs().mean(dim=2), torch.sqrt((b * b).mean(dim=2) + 1e-6)], dim=-1)


class StackedLSTM(nn.Module):
    """LSTM layers of possibly different widths (nn.LSTM needs one width), then a dense head on the
    last time step. x: (B, T, C) -> (B, n_out). rectify: the LSTM sees [x, |x|] per sample;
    pool > 1: it sees :func:`envelope_blocks` of ``pool`` samples instead (rectify is then moot)."""

    def __init__(self, n_channels: int, n_out: int, lstm: list[int], dense: list[int],
                 dropout: float = 0.0, batchnorm: bool = True, rectify: bool = False, pool: int = 1):
        super().__init__()
        if int(pool) < 1:
            raise ModelConfigError(f"pool must be >= 1 samples, got {pool!r}")
        self.rectify = rectify
        self.pool = int(pool)
        n_in = 3 * n_channels if self.pool > 1 else n_channels * (2 if rectify else 1)
        sizes = [n_in] + list(lstm)
        self.lstms = nn.ModuleList(nn.LSTM(a, b, batch_first=True) for a, b in zip(sizes[:-1], sizes[1:]))
        self.head = _dense_stack(sizes[-1], list(dense), n_out, dropout, batchnorm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool > 1:
            x = envelope_blocks(x, self.pool)
        elif self.rectify:
            # Raw EMG is zero-mean noise whose *envelope* carries the information; giving the
            # network |x| beside x saves it from learning a rectifier.
            x = torch.cat([x, x.abs()], dim=-1)
        for lstm in self.lstms:
            x, _ = lstm(x)
        return self.head(x[:, -1])


class DenseNet(nn.Module):
    """MLP on either the flattened window (features="flat", T*C inputs) or classic per-channel
    amplitude features (features="rms": RMS, mean absolute value and waveform length per channel,
    3*C inputs; robust and fast). x: (B, T, C) -> (B, n_out)."""

    def __init__(self, n_channels: int, window_n: int, n_out: int, hidden: list[int],
                 features: str = "rms", dropout: float = 0.1, batchnorm: bool = True):
        super().__init__()
        if features not in ("rms", "flat"):
            raise ModelConfigError(f"dense: features must be 'rms' or 'flat', got {features!r}")
        self.features = features
        n_in = 3 * n_channels if features == "rms" else window_n * n_channels
        self.mlp = _dense_stack(n_in, list(hidden), n_out, dropout, batchnorm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.features == "rms":
            rms = torch.sqrt((x * x).mean(dim=1) + 1e-6)
            mav = x.abs().mean(dim=1)
            wl = (x[:, 1:] - x[:, :-1]).abs().mean(dim=1)
            f = torch.cat([rms, mav, wl], dim=1)
        else:
            f = x.flatten(1)
        return self.mlp(f)


class ConvLSTM(nn.Module):
    """Conv1D front end (learned filters + rectifying nonlinearity, stride 2 per block, so the LSTM
    runs on T/4 steps), then an LSTM and a dense head. x: (B, T, C) -> (B, n_out)."""

    def __init__(self, n_channels: int, n_out: int, conv: list[int], kernel: int = 5,
                 lstm: int = 64, dense: list[int] | None = None, dropout: float = 0.1):
        super().__init__()
        blocks: list[nn.Module] = []
        c = n_channels
        for width in conv:
            blocks += [nn.Conv1d(c, width, kernel, stride=2, padding=kernel // 2),
                       nn.BatchNorm1d(width), nn.ReLU()]
            c = width
        self.conv = nn.Sequential(*blocks)
        self.lstm = nn.LSTM(c, lstm, batch_first=True)
        self.head = _dense_stack(lstm, list(dense or [64]), n_out, dropout, batchnorm=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x.transpose(1, 2)).transpose(1, 2)  # (B, T', F)
        h, _ = self.lstm(h)
        return self.head(h[:, -1])


def _seed_lstm(C: int, T: int, n_out: int, **p) -> nn.Module:
    # The seed research project's network: LSTM 256/256/128, dense 512/512/256 with BN + dropout.
    return StackedLSTM(C, n_out, lstm=p.get("lstm", [256, 256, 128]), dense=p.get("dense", [512, 512, 256]),
                       dropout=p.get("dropout", 0.2), batchnorm=p.get("batchnorm", True),
                       rectify=p.get("rectify", False))


def _small_lstm(C: int, T: int, n_out: int, **p) -> nn.Module:
    return StackedLSTM(C, n_out, lstm=[p.get("hidden", 128)], dense=p.get("dense", [64]),
                       dropout=p.get("dropout", 0.0), batchnorm=p.get("batchnorm", False),
                       rectify=p.get("rectify", True), pool=p.get("pool", 1))


def _envelope_lstm(C: int, T: int, n_out: int, **p) -> nn.Module:
    # small_lstm behind the fixed block-envelope front end (envelope_blocks): 4 samples = 20 ms at 200 Hz.
    return StackedLSTM(C, n_out, lstm=[p.get("hidden", 128)], dense=p.get("dense", [64]),
                       dropout=p.get("dropout", 0.0), batchnorm=p.get("batchnorm", False),
                       pool=p.get("pool", 4))


def _dense(C: int, T: int, n_out: int, **p) -> nn.Module:
    return DenseNet(C, T, n_out, hidden=p.get("hidden", [256, 256]), features=p.get("features", "rms"),
                    dropout=p.get("dropout", 0.1), batchnorm=p.get("batchnorm", True))


def _conv_lstm(C: int, T: int, n_out: int, **p) -> nn.Module:
    return ConvLSTM(C, n_out, conv=p.get("conv", [32, 32]), kernel=p.get("kernel", 5), lstm=p.get("lstm", 64),
                    dense=p.get("dense", [64]), dropout=p.get("dropout", 0.1))


_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "seed_lstm": _seed_lstm, "small_lstm": _small_lstm, "envelope_lstm": _envelope_lstm,
    "dense": _dense, "conv_lstm": _conv_lstm,
}
if set(_BUILDERS) != set(ARCHITECTURES):
    raise ImportError(f"recorder.model.catalogue and the builders disagree: {sorted(set(_BUILDERS) ^ set(ARCHITECTURES))}")

#: name -> (builder(C, T, n_out, **params), allowed parameter names, one-line description); names,
#: parameters and descriptions come from recorder.model.catalogue (read there without torch).
REGISTRY: dict[str, tuple[Callable[..., nn.Module], set[str], str]] = {
    name: (_BUILDERS[name], set(allowed), desc) for name, (allowed, desc) in ARCHITECTURES.items()
}


def model_names() -> list[str]:
    return sorted(REGISTRY)


def build_model(config: dict, n_channels: int, window_n: int, n_out: int) -> nn.Module:
    """Build an architecture from ``{"name": str, "params": dict}``.

    n_channels: C; window_n: T samples per window; n_out: 63 for pose or K classes.
    """
    if not isinstance(config, dict) or "name" not in config:
        raise ModelConfigError(f"model config must be a dict with a 'name', got {config!r}")
    name = config["name"]
    if name not in REGISTRY:
        raise ModelConfigError(f"unknown model {name!r}; known: {', '.join(model_names())}")
    builder, allowed, _ = REGISTRY[name]
    params = dict(config.get("params") or {})
    unknown = set(params) - allowed
    if unknown:
        raise ModelConfigError(f"model {name!r}: unknown parameter(s) {sorted(unknown)}; allowed {sorted(allowed)}")
    if n_channels < 1 or window_n < 2 or n_out < 1:
        raise ModelConfigError(f"bad shape: C={n_channels}, T={window_n}, outputs={n_out}")
    return builder(n_channels, window_n, n_out, **params)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class Predictor(nn.Module):
    """Raw EMG in, physical outputs out: normalise -> network -> de-normalise / softmax.

    x: (B, T, C) float32 raw device units. Returns (B, 63) mm wrist-relative for task "pose", or
    (B, K) class probabilities for task "gesture". The normalisation constants are buffers, so they
    are saved with the weights and travel into exported TorchScript / torch.export programs.
    """

    def __init__(self, net: nn.Module, task: str, x_mean: torch.Tensor, x_std: torch.Tensor,
                 y_mean: torch.Tensor | None = None, y_std: torch.Tensor | None = None):
        super().__init__()
        if task not in ("pose", "gesture"):
            raise ModelConfigError(f"task must be 'pose' or 'gesture', got {task!r}")
        self.net = net
        self.is_pose = task == "pose"
        self.register_buffer("x_mean", x_mean.float().reshape(1, 1, -1))
        self.register_buffer("x_std", x_std.float().reshape(1, 1, -1))
        n_out = y_mean.numel() if y_mean is not None else 1
        self.register_buffer("y_mean", (y_mean if y_mean is not None else torch.zeros(n_out)).float().reshape(1, -1))
        self.register_buffer("y_std", (y_std if y_std is not None else torch.ones(n_out)).float().reshape(1, -1))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.x_mean) / self.x_std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(self.normalise(x))
        if self.is_pose:
            return out * self.y_std + self.y_mean
        return torch.softmax(out, dim=-1)
