"""The live traces: per-column peaks keep every spike a pixel column covers; the plot draws each
channel in its lane; the scrolled image, drawn a few columns per frame, equals a whole redraw."""

import numpy as np
from PySide6 import QtGui

from app.widgets.emg_plot import CHANNEL_COLORS, EmgPlot, column_points


def test_column_points_keep_spikes_and_the_newest_sample():
    n, c = 10_000, 3
    t = np.arange(n) / 2000.0
    x = np.zeros((n, c))
    x[1234, 1] = 7.0
    x[9999, 2] = -5.0          # the newest sample itself
    dt = 5.0 / 1000            # 1000 columns over 5 s: 10 samples each
    px, y = column_points(t, x, 0.0, dt, peaks=True)
    assert y.shape == (2000, c) and px.shape == (2000,) and y.dtype == np.float32
    assert y[:, 1].max() == 7.0 and y[:, 2].min() == -5.0
    assert px[-1] == 999.5 and np.all(np.diff(px) >= 0)
    assert np.all(y[:, 0] == 0.0)
    # min first, then max, at the column's centre
    k = int(np.flatnonzero(y[:, 1] == 7.0)[0])
    assert k % 2 == 1 and px[k] == px[k - 1] == 123.5


def test_column_points_without_peaks_are_the_samples():
    t = np.arange(500) / 200.0
    x = np.random.default_rng(0).normal(size=(500, 8))
    px, y = column_points(t, x, 1.0, 0.01, peaks=False)
    assert np.allclose(px, (t - 1.0) / 0.01) and np.allclose(y, x) and y.dtype == np.float32


def _pixels(w) -> np.ndarray:
    img = w.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB888)
    a = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    return a[:, : img.width() * 3].reshape(img.height(), img.width(), 3).copy()


def _rows_of(a: np.ndarray, color: str) -> np.ndarray:
    q = QtGui.QColor(color)
    return np.flatnonzero((a == (q.red(), q.green(), q.blue())).all(axis=2).any(axis=1))


def _plot(qtbot, c: int) -> EmgPlot:
    w = EmgPlot()
    qtbot.addWidget(w)
    w.resize(800, 400)
    with qtbot.waitExposed(w):
        w.show()
    w.set_channels([f"c{k}" for k in range(c)])
    qtbot.wait(20)   # the layout places the plot
    return w


def test_plot_draws_each_channel_in_its_lane(qtbot):
    w = _plot(qtbot, 2)
    t = np.arange(10_000) / 2000.0
    x = np.random.default_rng(1).normal(size=(10_000, 2))
    w.update_data(t, x)
    a = _pixels(w)
    r0, r1 = _rows_of(a, CHANNEL_COLORS[0]), _rows_of(a, CHANNEL_COLORS[1])
    assert len(r0) > 10 and len(r1) > 10
    # channel 0 sits in the top lane (y around 1), channel 1 in the bottom one (y around 0)
    assert np.median(r0) < np.median(r1) - 0.3 * a.shape[0]
    assert w.n_points == 10_000 and w.full_redraws == 1


def test_scrolled_traces_equal_a_whole_redraw(qtbot):
    """Frames of a sliding window drawn column by column (through the image's wrap-around) give
    the same picture as drawing the last window whole; a big spike scrolls with the rest."""
    w = _plot(qtbot, 4)
    w.set_gain(3.0)
    fs = 2000.0
    t = np.arange(int(30 * fs)) / fs + 500.0
    x = np.random.default_rng(2).normal(size=(len(t), 4)).astype(np.float32)
    x[int(9.0 * fs), 2] = 9.0
    # Sample pairs that cancel, and windows of whole pairs: every window's mean (the DC the plot
    # removes) is exactly 0, so the whole redraw uses the offsets the frames were drawn with.
    x[1::2] = -x[0::2]
    n = int(5 * fs)
    end = int(7 * fs)
    frames = 0
    while end < int(13 * fs):   # 6 s: more than one turn of the image ring
        w.update_data(t[end - n:end], x[end - n:end])
        w.viewport().repaint()
        end += 36 + 2 * (frames % 3)  # 18-20 ms of samples per frame
        frames += 1
    assert w.full_redraws == 1, "the frames should have drawn only their new columns"
    scrolled = _pixels(w)
    w._traces.invalidate()
    whole = _pixels(w)
    assert w.full_redraws == 2
    trace = np.isin(whole.reshape(-1, 3) @ [65536, 256, 1],
                    [QtGui.QColor(c).rgb() & 0xFFFFFF for c in CHANNEL_COLORS[:4]])
    diff = (scrolled != whole).any(axis=2).ravel()
    assert trace.sum() > 5000
    assert diff.sum() == 0, f"{diff.sum()} px differ"
    # the spike (3 gains: 1.35 lanes up) reaches past the middle of the lane above
    assert _rows_of(scrolled, CHANNEL_COLORS[2]).min() < np.median(_rows_of(whole, CHANNEL_COLORS[1]))


def test_a_changed_gain_redraws_everything(qtbot):
    w = _plot(qtbot, 2)
    w.set_gain(1.0)
    t = np.arange(10_000) / 2000.0
    x = np.random.default_rng(3).normal(size=(10_000, 2))
    w.update_data(t, x)
    w.viewport().repaint()
    w.set_gain(1.001)          # well under half a pixel at full scale: the image is kept
    w.update_data(t + 0.01, x)
    w.viewport().repaint()
    assert w.full_redraws == 1
    w.set_gain(2.0)
    w.viewport().repaint()
    assert w.full_redraws == 2
