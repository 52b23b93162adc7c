"""Live EMG display: stacked scrolling traces with per-channel quality, a spectrogram, a frame meter.

The widgets take plain arrays (t (n,) host seconds, x (n, C) raw units); the capture view pulls
them from the capture's ring buffer on a display timer and hands them over. Nothing here knows
about devices or threads.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from recorder.capture.quality import BAD, GOOD, WARN, ChannelQuality

#: Trace colours (distinct on a dark background), cycled over channels.
CHANNEL_COLORS = ["#4cc9f0", "#f72585", "#b5e48c", "#ffb703", "#a78bfa", "#fb8500", "#2ec4b6",
                  "#e9c46a", "#90e0ef", "#ff006e", "#80ed99", "#ffd166", "#c77dff", "#f4a261",
                  "#48cae4", "#ef476f"]
QUALITY_COLORS = {GOOD: "#38b000", WARN: "#ffb703", BAD: "#e63946"}
PLOT_BG = "#101418"


class FpsMeter:
    """Counts events (redraws) and reports their rate over a sliding window (events per second)."""

    def __init__(self, window_s: float = 2.0, clock=time.monotonic):
        self.window_s, self._clock = window_s, clock
        self._t: deque[float] = deque()
        self.count = 0

    def tick(self) -> None:
        t = self._clock()
        self._t.append(t)
        self.count += 1
        while self._t and t - self._t[0] > self.window_s:
            self._t.popleft()

    @property
    def fps(self) -> float:
        if len(self._t) < 2:
            return 0.0
        span = self._t[-1] - self._t[0]
        return (len(self._t) - 1) / span if span > 0 else 0.0


def peak_decimate(t: np.ndarray, x: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Min/max decimation of all channels at once for drawing ``columns`` pixels wide.

    t (n,) seconds, x (n, C) -> (t', x') with two points (the bin's minimum, then its maximum,
    at the bin's first and last time) per bin of ``n // columns`` samples, so every peak a pixel
    column covers is still drawn; bins are aligned to the newest sample (the right edge). Fewer
    than 2 x ``columns`` samples come back unchanged (as float32 copies of x).
    """
    n = len(t)
    ds = n // max(columns, 1)
    if ds < 2:
        return t, np.array(x, dtype=np.float32)
    m = (n // ds) * ds
    seg = np.asarray(x[n - m:], dtype=np.float32).reshape(m // ds, ds, x.shape[1])
    y = np.empty((2 * (m // ds), x.shape[1]), dtype=np.float32)
    y[0::2] = seg.min(axis=1)
    y[1::2] = seg.max(axis=1)
    tb = t[n - m:].reshape(m // ds, ds)
    tt = np.empty(2 * (m // ds), dtype=t.dtype)
    tt[0::2] = tb[:, 0]
    tt[1::2] = tb[:, -1]
    return tt, y


class EmgPlot(pg.GraphicsLayoutWidget):
    """One plot with C stacked traces (channel k drawn around y = C - 1 - k, DC removed, one shared
    gain so amplitudes compare across channels); x is seconds before the newest sample, so the x
    range [-width_s, 0] never changes and the traces scroll. A coloured quality tag sits at the left
    of each trace."""

    def __init__(self, width_s: float = 5.0, parent=None):
        super().__init__(parent)
        self.setBackground(PLOT_BG)
        self.width_s = width_s
        self.plot = self.addPlot(enableMenu=False)  # built without menus: ~25 ms each at start-up
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, y=False, alpha=0.15)
        self.plot.setXRange(-width_s, 0, padding=0)
        self.plot.setLabel("bottom", "seconds")
        self.plot.hideAxis("left")  # channel tags name the traces
        # The x range never changes, so the axis can be painted once and reused (it was ~20 % of a
        # frame's paint time when redrawn with every curve update).
        self.plot.getAxis("bottom").setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._curves: list[pg.PlotDataItem] = []
        self._tags: list[pg.TextItem] = []
        self._names: list[str] = []
        self._gain = 1.0          # raw units per lane half-height, adapted slowly
        self._gain_t = 0.0
        self.auto_gain = True
        self._n_points = 0
        self._message = pg.TextItem("", color="#c8d0d8", anchor=(0.5, 0.5), fill=pg.mkBrush(16, 20, 24, 230))
        self._message.setZValue(100)
        self.message = ""

    def set_message(self, text: str) -> None:
        """A centred line over the traces (what to do while there are none); "" removes it."""
        self.message = text
        if text:
            self._message.setText(text)
            if self._message.scene() is None:
                self.plot.addItem(self._message, ignoreBounds=True)
            y0, y1 = self.plot.viewRange()[1]
            self._message.setPos(-self.width_s / 2, (y0 + y1) / 2)
        elif self._message.scene() is not None:
            self.plot.removeItem(self._message)
    @property
    def n_channels(self) -> int:
        return len(self._curves)

    @property
    def n_points(self) -> int:
        """Samples per trace in the last redraw."""
        return self._n_points

    def set_channels(self, names: list[str]) -> None:
        """Create one curve and one quality tag per channel (call when the source changes)."""
        self.plot.clear()   # the message too
        self.message = ""
        self._curves, self._tags, self._names = [], [], list(names)
        c = len(names)
        for k, name in enumerate(names):
            curve = self.plot.plot(pen=pg.mkPen(CHANNEL_COLORS[k % len(CHANNEL_COLORS)], width=1))
            # update_data decimates all channels at once (one numpy pass), so the per-curve
            # downsampling and clipping are off: they cost ~0.5 ms per curve and frame.
            curve.setSkipFiniteCheck(True)
            self._curves.append(curve)
            tag = pg.TextItem(name, color="#cccccc", anchor=(0, 0.5), fill=pg.mkBrush(16, 20, 24, 200))
            tag.setPos(-self.width_s, c - 1 - k + 0.38)
            self.plot.addItem(tag, ignoreBounds=True)
            self._tags.append(tag)
        self.plot.hideAxis("left")  # the tags name the channels
        self.plot.setYRange(-0.6, c - 0.4, padding=0)
        self.plot.setXRange(-self.width_s, 0, padding=0)
        self.plot.disableAutoRange()   # fixed ranges: no data-bounds pass over every curve per frame

    def set_gain(self, half_height: float) -> None:
        """Fix the gain: raw units that fill half a lane; turns auto gain off."""
        self.auto_gain = False
        self._gain = max(float(half_height), 1e-12)

    def update_data(self, t: np.ndarray, x: np.ndarray) -> None:
        """Redraw from t (n,) host seconds and x (n, C) raw units (the newest ``width_s`` seconds)."""
        self._n_points = len(t)
        if not self._curves or len(t) == 0:
            for cu in self._curves:
                cu.setData([], [])
            return
        rel = t - t[-1]
        xc = x - x.mean(axis=0)
        if self.auto_gain and (t[-1] - self._gain_t > 0.5 or self._gain_t == 0.0):
            # A robust amplitude (99th percentile of |x|) over all channels, smoothed so the traces
            # do not jump with every burst.
            amp = float(np.percentile(np.abs(xc), 99)) if xc.size else 1.0
            amp = max(amp, 1e-9)
            self._gain = amp if self._gain_t == 0.0 else 0.7 * self._gain + 0.3 * amp
            self._gain_t = t[-1]
        c = len(self._curves)
        rel, y = peak_decimate(rel, xc, self._columns())
        y *= 0.45 / self._gain
        y += np.arange(c - 1, c - 1 - y.shape[1], -1, dtype=y.dtype)
        for k, curve in enumerate(self._curves[: y.shape[1]]):
            curve.setData(rel, y[:, k])

    def _columns(self) -> int:
        """Pixel columns of the plot area (at least 100, before the first layout)."""
        return max(int(self.plot.getViewBox().width()), 100)

    def set_quality(self, quality: list[ChannelQuality]) -> None:
        """Colour each channel's tag by its quality and show its RMS (raw units) or the problem."""
        for k, (tag, q) in enumerate(zip(self._tags, quality)):
            text = f"{self._names[k]}  rms {q.rms:.3g}"
            if q.reason:
                text += f"  {q.reason}"
            tag.setText(text, color=QUALITY_COLORS[q.level])


_signal_module = None
_signal_lock = threading.Lock()
_signal_thread: threading.Thread | None = None


def _scipy_signal():
    """scipy.signal once a background import has finished, else None (and that import starts).

    Importing it takes 1.5-3 s on a busy laptop: at module import it delayed the window, and done
    in the first redraw it froze the window with the first traces, so it runs on its own thread.
    """
    global _signal_thread
    if _signal_module is not None:
        return _signal_module
    with _signal_lock:
        if _signal_thread is None:
            _signal_thread = threading.Thread(target=_import_signal, name="import-scipy-signal", daemon=True)
            _signal_thread.start()
    return None


def _import_signal(attempts: int = 20, wait_s: float = 0.5) -> None:
    """Import scipy.signal, retrying: scipy probes ``sys.modules["torch"]``, and when another thread
    (the Train tab's engine load) is importing torch at that moment, the half-initialised module
    makes scipy's import fail with AttributeError. Once torch is done, a retry succeeds."""
    global _signal_module
    for k in range(attempts):
        try:
            from scipy import signal
        except (ImportError, AttributeError) as e:
            if k == attempts - 1:
                print(f"emgrec: spectrogram unavailable: importing scipy.signal failed: {e}", file=sys.stderr)
                return
            time.sleep(wait_s)
            continue
        _signal_module = signal
        return


class SpectrogramView(QtWidgets.QWidget):
    """Spectrogram (log power, dB) of one selectable channel over the last few seconds."""

    channel_changed = QtCore.Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.combo = QtWidgets.QComboBox()
        self.combo.currentIndexChanged.connect(self.channel_changed)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(QtWidgets.QLabel("Spectrogram of"))
        top.addWidget(self.combo)
        top.addStretch(1)
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setBackground(PLOT_BG)
        self.plot = self.glw.addPlot(enableMenu=False)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setLabel("left", "Hz")
        # Plain Hz (no "x0.001" prefix) and a sane empty axis until the first spectrum arrives.
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.setXRange(-5.0, 0.0, padding=0)
        self.plot.setYRange(0.0, 100.0, padding=0)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("inferno"))
        self.plot.addItem(self.image)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.glw, 1)

    @property
    def channel(self) -> int:
        return max(self.combo.currentIndex(), 0)

    def set_channels(self, names: list[str], fs: float | None = None, span_s: float = 5.0) -> None:
        """Channel choices; with ``fs`` (Hz), the empty axes already show 0..fs/2 over span_s seconds."""
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItems(names)
        self.combo.blockSignals(False)
        self.image.clear()
        if fs:
            self.plot.setXRange(-span_s, 0.0, padding=0)
            self.plot.setYRange(0.0, fs / 2, padding=0)

    def update_data(self, x: np.ndarray, fs: float, span_s: float) -> None:
        """x: (n,) raw samples of the selected channel at fs Hz, covering the last span_s seconds."""
        signal = _scipy_signal()
        if signal is None:
            return   # still importing (the first second or two after connecting)
        nper = int(2 ** round(np.log2(max(fs * 0.32, 16))))  # ~0.3 s windows: ~3 Hz resolution
        if len(x) < 2 * nper:
            return
        f, tt, sxx = signal.spectrogram(x.astype(np.float64), fs=fs, nperseg=nper,
                                        noverlap=nper * 3 // 4, detrend="constant", scaling="density")
        db = 10.0 * np.log10(sxx + 1e-12)
        lo, hi = np.percentile(db, [5, 99.5])
        self.image.setImage(db, autoLevels=False, levels=(lo, max(hi, lo + 1)))
        dur = len(x) / fs
        # Columns are window centres; place them so the newest sits at x = 0 like the traces.
        self.image.setRect(QtCore.QRectF(-dur, 0.0, dur, fs / 2))
        self.plot.setXRange(-span_s, 0, padding=0)
        self.plot.setYRange(0, fs / 2, padding=0)
