"""Every registered architecture: output shapes for pose and gesture heads, config errors, Predictor."""
import pytest
import torch

from recorder.model.architectures import (REGISTRY, ModelConfigError, Predictor, build_model, count_parameters,
                             model_names)


@pytest.mark.parametrize("name", sorted(REGISTRY))
@pytest.mark.parametrize("n_out", [63, 5])
def test_shapes(name, n_out):
    torch.manual_seed(0)
    net = build_model({"name": name, "params": {}}, n_channels=8, window_n=40, n_out=n_out).eval()
    out = net(torch.randn(3, 40, 8))
    assert out.shape == (3, n_out)
    assert torch.isfinite(out).all()
    net.train()
    out = net(torch.randn(4, 40, 8))
    out.sum().backward()  # trainable end to end
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_other_window_and_channels():
    for name in model_names():
        net = build_model({"name": name}, n_channels=16, window_n=23, n_out=7).eval()
        assert net(torch.randn(2, 23, 16)).shape == (2, 7)


def test_sizes_are_as_documented():
    small = count_parameters(build_model({"name": "small_lstm"}, 8, 40, 63))
    seed = count_parameters(build_model({"name": "seed_lstm"}, 8, 40, 63))
    assert 10_000 < small < 100_000
    assert seed > 1_000_000
    # The seed network: LSTM 256/256/128 then dense 512/512/256.
    net = build_model({"name": "seed_lstm"}, 8, 40, 63)
    assert [m.hidden_size for m in net.lstms] == [256, 256, 128]
    assert [m.out_features for m in net.head if isinstance(m, torch.nn.Linear)] == [512, 512, 256, 63]


def test_config_errors():
    with pytest.raises(ModelConfigError, match="unknown model"):
        build_model({"name": "transformer9000"}, 8, 40, 63)
    with pytest.raises(ModelConfigError, match="unknown parameter"):
        build_model({"name": "small_lstm", "params": {"hiden": 3}}, 8, 40, 63)
    with pytest.raises(ModelConfigError):
        build_model("small_lstm", 8, 40, 63)
    with pytest.raises(ModelConfigError):
        build_model({"name": "dense", "params": {"features": "fft"}}, 8, 40, 63)


def test_predictor_normalises_and_denormalises():
    class Echo(torch.nn.Module):  # returns the normalised mean of channel 0, 63 times
        def forward(self, x):
            return x[:, :, :1].mean(dim=1).repeat(1, 63)

    x_mean, x_std = torch.full((8,), 10.0), torch.full((8,), 2.0)
    y_mean, y_std = torch.full((63,), 100.0), torch.full((63,), 5.0)
    p = Predictor(Echo(), "pose", x_mean, x_std, y_mean, y_std)
    x = torch.full((1, 4, 8), 14.0)  # normalised: (14 - 10) / 2 = 2
    assert torch.allclose(p(x), torch.full((1, 63), 2.0 * 5.0 + 100.0))
    g = Predictor(build_model({"name": "dense"}, 8, 4, 3), "gesture", x_mean, x_std).eval()
    probs = g(torch.randn(5, 4, 8))
    assert torch.allclose(probs.sum(1), torch.ones(5))
    with pytest.raises(ModelConfigError):
        Predictor(Echo(), "depth", x_mean, x_std)
