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
from PySide6 import QtCore, QtGui, QtWidgets

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


def column_points(t: np.ndarray, x: np.ndarray, origin: float, dt: float,
                  peaks: bool) -> tuple[np.ndarray, np.ndarray]:
    """Polyline vertices of all channels at once, for drawing one pixel column per ``dt`` seconds.

    t (n,) ascending seconds, x (n, C) -> (px (m,), y (m, C) float32), px in columns counted from
    ``origin`` (column k covers [origin + k dt, origin + (k + 1) dt)). With ``peaks``: two vertices
    per non-empty column at its centre (k + 0.5), the column's minimum, then its maximum, so every
    peak a pixel column covers is drawn; else one vertex per sample at its own time.
    """
    u = (np.asarray(t, np.float64) - origin) / dt
    if not peaks or len(u) == 0:
        return u, np.array(x, dtype=np.float32)
    col = np.floor(u)
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
    xf = np.asarray(x, dtype=np.float32)
    y = np.empty((2 * len(starts), xf.shape[1]), dtype=np.float32)
    y[0::2] = np.minimum.reduceat(xf, starts, axis=0)
    y[1::2] = np.maximum.reduceat(xf, starts, axis=0)
    return np.repeat(col[starts] + 0.5, 2), y


class _Traces(pg.GraphicsObject):
    """All channels' traces as one item, drawn from a cached image of the plot area (one image
    column per device pixel column, used as a ring: column k of the stream sits at k mod W).

    Each paint draws only the columns that came since the last one (and the one before them, whose
    line to its right neighbour may have changed), so a frame costs a few columns, not
    C x (2 x width) line segments; the whole image is drawn again when the size, the channels,
    the sample rate's mode or the stream changes, or when the gain or a channel's DC offset has
    moved by half a pixel or more at full scale since it was drawn (so the picture never differs
    from a full redraw by more than that). Columns lie on a fixed grid of host time (column k
    covers [k dt, (k + 1) dt), dt = width_s / W), not aligned to the newest sample, which sits
    somewhere in the rightmost column; so a whole redraw bins the samples as the frames did.
    """

    def __init__(self, owner: EmgPlot):
        super().__init__()
        self.owner = owner
        self._img: QtGui.QImage | None = None
        self._key = None          # (W, H, dpr, C, peaks) the image was drawn for
        self._k_last = 0          # column of the newest sample drawn
        self._t_last = -np.inf    # newest sample time drawn
        self._gain = 1.0          # gain and DC (C,) the image was drawn with
        self._dc: np.ndarray | None = None
        self._bg = QtGui.QColor(PLOT_BG)
        self.full_redraws = 0     # whole-image redraws so far (tests, benches)

    def invalidate(self) -> None:
        """Draw the whole image again at the next paint."""
        self._key = None
        self.update()

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 (Qt naming)
        o = self.owner
        return QtCore.QRectF(-o.width_s, o.y_range[0], o.width_s, o.y_range[1] - o.y_range[0])

    def paint(self, p: QtGui.QPainter, *args) -> None:
        o = self.owner
        if o.t is None or len(o.t) == 0 or not o.n_channels:
            return
        dev = p.transform().mapRect(self.boundingRect())  # view area in viewport px
        dpr = p.device().devicePixelRatioF() if p.device() is not None else 1.0
        w, h = int(round(dev.width() * dpr)), int(round(dev.height() * dpr))
        if w < 2 or h < 2:
            return
        self._draw_new(w, h, dpr)
        p.save()
        p.resetTransform()
        x0, y0 = round(dev.left() * dpr) / dpr, round(dev.top() * dpr) / dpr
        split = (self._k_last + 1) % w   # image column of the oldest visible column
        left = w - split
        p.drawImage(QtCore.QRectF(x0, y0, left / dpr, h / dpr), self._img, QtCore.QRectF(split, 0, left, h))
        if split:
            p.drawImage(QtCore.QRectF(x0 + left / dpr, y0, split / dpr, h / dpr), self._img,
                        QtCore.QRectF(0, 0, split, h))
        p.restore()

    def _draw_new(self, w: int, h: int, dpr: float) -> None:
        """Bring the image up to the owner's newest data (only new columns unless it must start over)."""
        o = self.owner
        t, x = o.t, o.x
        c = x.shape[1]
        dt = o.width_s / w
        span = float(t[-1] - t[0])
        per_col = (len(t) - 1) / span * dt if len(t) >= 2 and span > 0 else 0.0   # samples per column
        # Min/max per column from 2 samples per column on (with some hysteresis: the estimate wobbles).
        was = self._key[4] if self._key is not None else None
        peaks = per_col >= 2.0 if was is None or not 1.8 < per_col < 2.2 else was
        lane_px = 0.45 * h / (o.y_range[1] - o.y_range[0])  # px of a full-scale (one gain) deflection
        full = (self._img is None or self._key != (w, h, dpr, c, peaks) or t[-1] < self._t_last
                or self._dc is None or len(self._dc) != c
                or abs(o.gain - self._gain) / self._gain * lane_px >= 0.5
                or float(np.max(np.abs(o.dc - self._dc))) / self._gain * lane_px >= 0.5)
        k_new = int(np.floor(t[-1] / dt))   # columns on a fixed grid: column k covers [k dt, (k + 1) dt)
        if not full and k_new - self._k_last >= w - 1:
            full = True   # everything drawn has scrolled out
        if full:
            if self._img is None or self._img.size() != QtCore.QSize(w, h):
                self._img = QtGui.QImage(w, h, QtGui.QImage.Format.Format_RGB32)
            self._key, self._gain, self._dc = (w, h, dpr, c, peaks), o.gain, o.dc.copy()
            s = k_new - w + 1
            self.full_redraws += 1
        else:
            s = self._k_last - 1   # the previous newest column may have grown; its left neighbour's line too
        # Samples from column s - 1 on, plus the one before (the lines into column s).
        i0 = max(int(np.searchsorted(t, (s - 1) * dt)) - 1, 0)
        px, y = column_points(t[i0:], x[i0:], 0.0, dt, peaks)
        # Image rows: view y range [y0, y1] is rows [h, 0]; channel k around y = c - 1 - k.
        ppu = h / (o.y_range[1] - o.y_range[0])
        scale = 0.45 / self._gain * ppu
        base = (o.y_range[1] - (c - 1 - np.arange(c))) * ppu + self._dc * scale
        yy = base[None, :] - y.astype(np.float64) * scale
        p = QtGui.QPainter(self._img)
        cs, ce = s % w, k_new % w
        passes = [(s - cs, cs, ce + 1)] if cs <= ce else [(s - cs, cs, w), (s - cs + w, 0, ce + 1)]
        for offset, a, b in passes:
            p.setClipRect(QtCore.QRect(a, 0, b - a, h))
            p.fillRect(QtCore.QRect(a, 0, b - a, h), self._bg)
            xs = px - offset
            for k in range(c):
                p.setPen(o.pens[k])
                p.drawPolyline(pg.functions.arrayToQPolygonF(xs, yy[:, k]))
        p.end()
        self._k_last, self._t_last = k_new, float(t[-1])


class _Tags(pg.GraphicsObject):
    """The channels' quality tags as one item: tag k (a text box, left end of lane k) is a pixmap
    made when its text or colour changes, drawn as pyqtgraph's TextItem draws it (a filled box, a
    QGraphicsTextItem), so a frame blits C pixmaps instead of painting C text items over the traces."""

    def __init__(self, owner: EmgPlot):
        super().__init__()
        self.owner = owner
        self.tags: list[tuple[str, str]] = []       # (text, colour) per channel
        self._pix: list[QtGui.QPixmap | None] = []
        self._fill = pg.mkBrush(16, 20, 24, 200)

    def set_tags(self, tags: list[tuple[str, str]]) -> None:
        self.tags = list(tags)
        self._pix = [None] * len(tags)
        self.update()

    def set_tag(self, k: int, text: str, color: str) -> None:
        if self.tags[k] != (text, color):
            self.tags[k] = (text, color)
            self._pix[k] = None
            self.update()

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 (Qt naming)
        o = self.owner
        return QtCore.QRectF(-o.width_s, o.y_range[0], o.width_s, o.y_range[1] - o.y_range[0])

    def paint(self, p: QtGui.QPainter, *args) -> None:
        dpr = p.device().devicePixelRatioF() if p.device() is not None else 1.0
        tr = p.transform()
        c = len(self.tags)
        p.save()
        p.resetTransform()
        for k in range(c):
            pix = self._pix[k]
            if pix is None or pix.devicePixelRatio() != dpr:
                pix = self._pix[k] = self._render(*self.tags[k], dpr)
            # Anchored like TextItem(anchor=(0, 0.5)) at (-width_s, lane + 0.38).
            pt = tr.map(QtCore.QPointF(-self.owner.width_s, c - 1 - k + 0.38))
            h = pix.height() / dpr
            p.drawPixmap(QtCore.QPointF(round(pt.x() * dpr) / dpr, round((pt.y() - h / 2) * dpr) / dpr), pix)
        p.restore()

    def _render(self, text: str, color: str, dpr: float) -> QtGui.QPixmap:
        item = QtWidgets.QGraphicsTextItem()
        item.setPlainText(text)
        item.setDefaultTextColor(pg.mkColor(color))
        r = item.boundingRect()
        pix = QtGui.QPixmap(max(1, int(np.ceil(r.width() * dpr))), max(1, int(np.ceil(r.height() * dpr))))
        pix.setDevicePixelRatio(dpr)
        pix.fill(QtCore.Qt.GlobalColor.transparent)
        q = QtGui.QPainter(pix)
        q.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
        q.setPen(QtCore.Qt.PenStyle.NoPen)
        q.setBrush(self._fill)
        q.drawRect(r)
        opt = QtWidgets.QStyleOptionGraphicsItem()
        opt.exposedRect = r
        item.paint(q, opt, None)
        q.end()
        return pix


class EmgPlot(pg.GraphicsLayoutWidget):
    """One plot with C stacked traces (channel k drawn around y = C - 1 - k, DC removed, one shared
    gain so amplitudes compare across channels); x is seconds before the newest sample, so the x
    range [-width_s, 0] never changes and the traces scroll. A coloured quality tag sits at the left
    of each trace.

    All traces are one item (``_Traces``) that scrolls a cached image and draws only the new
    columns per frame; successive ``update_data`` calls are taken as a sliding window over one
    stream (samples at times already drawn are not drawn again)."""

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
        self.pens: list[QtGui.QPen] = []
        self._names: list[str] = []
        self.t: np.ndarray | None = None   # the window last given to update_data: (n,) s, (n, C)
        self.x: np.ndarray | None = None
        self.y_range = (-0.6, 0.6)
        self.gain = 1.0           # raw units per lane half-height, adapted slowly
        self.dc = np.zeros(0)     # (C,) raw units removed from each channel (the window's mean)
        self._gain_t = 0.0
        self.auto_gain = True
        self._n_points = 0
        self._traces = _Traces(self)
        self._tag_item = _Tags(self)   # above the traces (added after them)
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
        return len(self._names)

    @property
    def n_points(self) -> int:
        """Samples per trace in the last redraw."""
        return self._n_points

    @property
    def full_redraws(self) -> int:
        """Times the traces were drawn whole (the other paints drew only new columns)."""
        return self._traces.full_redraws

    def set_channels(self, names: list[str]) -> None:
        """One trace and one quality tag per channel (call when the source changes)."""
        self.plot.clear()   # the message too
        self.message = ""
        self._names = list(names)
        c = len(names)
        self.pens = [pg.mkPen(CHANNEL_COLORS[k % len(CHANNEL_COLORS)], width=1) for k in range(c)]
        self.t = self.x = None
        self.dc = np.zeros(c)
        self._n_points = 0
        self.y_range = (-0.6, c - 0.4)
        self.plot.addItem(self._traces, ignoreBounds=True)
        self._traces.invalidate()
        self.plot.addItem(self._tag_item, ignoreBounds=True)
        self._tag_item.set_tags([(name, "#cccccc") for name in names])
        self.plot.hideAxis("left")  # the tags name the channels
        self.plot.setYRange(*self.y_range, padding=0)
        self.plot.setXRange(-self.width_s, 0, padding=0)
        self.plot.disableAutoRange()   # fixed ranges: no data-bounds pass over the items per frame

    def set_gain(self, half_height: float) -> None:
        """Fix the gain: raw units that fill half a lane; turns auto gain off."""
        self.auto_gain = False
        self.gain = max(float(half_height), 1e-12)
        self._traces.update()

    def update_data(self, t: np.ndarray, x: np.ndarray) -> None:
        """Show t (n,) host seconds and x (n, C) raw units (the newest ``width_s`` seconds); the
        traces are drawn at the next paint."""
        self._n_points = len(t)
        if not self._names or len(t) == 0:
            if self.t is not None:
                self.t = self.x = None
                self._traces.invalidate()
            return
        self.t, self.x = t, x
        self.dc = x.mean(axis=0, dtype=np.float64)
        if self.auto_gain and (t[-1] - self._gain_t > 0.5 or self._gain_t == 0.0):
            # A robust amplitude (99th percentile of |x|) over all channels, smoothed so the traces
            # do not jump with every burst.
            amp = float(np.percentile(np.abs(x - self.dc.astype(x.dtype)), 99)) if x.size else 1.0
            amp = max(amp, 1e-9)
            self.gain = amp if self._gain_t == 0.0 else 0.7 * self.gain + 0.3 * amp
            self._gain_t = t[-1]
        self._traces.update()

    def set_quality(self, quality: list[ChannelQuality]) -> None:
        """Colour each channel's tag by its quality and show its RMS (raw units) or the problem."""
        for k, q in enumerate(quality[: len(self._names)]):
            text = f"{self._names[k]}  rms {q.rms:.3g}"
            if q.reason:
                text += f"  {q.reason}"
            self._tag_item.set_tag(k, text, QUALITY_COLORS[q.level])

    @property
    def tags(self) -> list[tuple[str, str]]:
        """(text, colour) of each channel's tag."""
        return list(self._tag_item.tags)


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
