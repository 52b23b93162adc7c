"""The trace decimation keeps every peak a pixel column covers and the newest sample's edge."""

import numpy as np

from app.widgets.emg_plot import EmgPlot, peak_decimate


def test_peak_decimate_keeps_spikes_and_the_newest_edge():
    n, c = 10_000, 3
    t = np.arange(n) / 2000.0
    x = np.zeros((n, c))
    x[1234, 1] = 7.0
    x[9999, 2] = -5.0          # the newest sample itself
    tt, y = peak_decimate(t, x, 1000)
    assert y.shape == (2000, c) and tt.shape == (2000,)
    assert y[:, 1].max() == 7.0 and y[:, 2].min() == -5.0
    assert tt[-1] == t[-1] and np.all(np.diff(tt) >= 0)
    assert np.all(y[:, 0] == 0.0)


def test_short_traces_pass_unchanged():
    t = np.arange(500) / 200.0
    x = np.random.default_rng(0).normal(size=(500, 8))
    tt, y = peak_decimate(t, x, 1000)
    assert tt is t and np.allclose(y, x) and y.dtype == np.float32


def test_plot_draws_decimated_lanes(qtbot):
    w = EmgPlot()
    qtbot.addWidget(w)
    w.resize(800, 400)
    w.show()
    w.set_channels(["a", "b"])
    t = np.arange(10_000) / 2000.0
    x = np.random.default_rng(1).normal(size=(10_000, 2))
    w.update_data(t, x)
    xs, ys = w._curves[0].getData()
    assert len(xs) < 10_000 and xs[-1] == 0.0
    # channel 0 sits in the top lane (y around 1), channel 1 around 0
    assert abs(np.median(ys) - 1.0) < 0.2
    assert abs(np.median(w._curves[1].getData()[1])) < 0.2
    assert w.n_points == 10_000
