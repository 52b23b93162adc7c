"""The quality bench group's pieces that need no training (the confusion summary in the notes, the
skipped rows when the real Myo recordings are absent) and the two defaults it measures: the
block-envelope front end of envelope_lstm and the weight average kept by training."""
import pytest

from bench import quality
from bench.core import SKIP, Context


def test_main_errors_lists_the_largest_off_diagonal_cells():
    m = {"class_names": ["rest", "fist", "flexion"],
         "confusion": [[50, 3, 0], [7, 40, 1], [0, 0, 30]]}
    assert quality._main_errors(m, k=2) == "fist->rest 7, rest->fist 3"
    assert quality._main_errors({"class_names": ["a", "b"], "confusion": [[5, 0], [0, 4]]}) == "none"


def test_gesture_rows_are_skipped_with_a_reason_without_the_data(tmp_path, monkeypatch):
    monkeypatch.setattr(quality, "MYO_ROOT", tmp_path / "absent")
    rows = quality.gesture_rows(Context(quick=True, workdir=tmp_path, soak_s=0.0))
    assert len(rows) == 4
    assert all(r.status == SKIP and r.value is None and "not found" in r.note for r in rows)
    assert {r.name.split(" ")[1] for r in rows} == {"(right", "(left"}


def test_envelope_blocks_are_block_amplitudes_ending_at_the_last_sample():
    import torch

    from recorder.model.architectures import ModelConfigError, envelope_blocks

    x = torch.zeros(1, 10, 2)
    x[0, 2:6, 0] = torch.tensor([1.0, -1.0, 1.0, -1.0])  # block 0 of the last 8 samples (2 dropped)
    x[0, 6:10, 1] = 3.0
    f = envelope_blocks(x, 4)
    assert f.shape == (1, 2, 6)  # (B, T // 4, [mean, MAV, RMS] x C)
    torch.testing.assert_close(f[0, 0, [0, 2, 4]], torch.tensor([0.0, 1.0, 1.0]), atol=1e-3, rtol=0)
    torch.testing.assert_close(f[0, 1, [1, 3, 5]], torch.tensor([3.0, 3.0, 3.0]), atol=1e-3, rtol=0)
    with pytest.raises(ModelConfigError):
        envelope_blocks(x, 11)


def test_weight_average_warms_up_then_follows_slowly():
    import torch

    from recorder.model.training import ConfigError, _Ema, resolve_config

    net = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(0.0)
    ema = _Ema(net, 0.99)
    with torch.no_grad():
        net.weight.fill_(1.0)
    ema.update()  # step 0: decay 0.1, mostly the new weight
    assert abs(ema.module.weight.item() - 0.9) < 1e-6
    for _ in range(2000):
        ema.update()
    with torch.no_grad():
        net.weight.fill_(2.0)
    ema.update()  # the decay has grown to 0.99
    assert abs(ema.module.weight.item() - 1.01) < 1e-4
    assert not ema.module.weight.requires_grad
    with pytest.raises(ConfigError):
        resolve_config({"train": {"ema": 1.0}})
