"""Session timeline: EMG traces, landmark traces, hand presence and an editable label lane on one
shared x axis (session seconds), with a cursor line through all of them.

The label lane only *presents* a :class:`recorder.session.annotations.AnnotationModel`: a drag or a rename
becomes a model edit, and the items follow the model's change events (so undo/redo just works).
EMG is loaded lazily for the visible range and reduced to min/max pairs per screen column, so an
hour-long session scrolls as fast as a ten-second one.
"""

from __future__ import annotations

import logging
import zlib

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QColor

from recorder.session.annotations import AnnotationError, AnnotationModel, Change, Marker, Segment
from recorder.core.types import FINGERS

log = logging.getLogger(__name__)

__all__ = ["minmax_downsample", "finger_distances_mm", "label_color", "TimeViewBox", "SegmentItem",
           "LabelLane", "LabelColors", "TimelineWidget"]

CHANNEL_COLORS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
                  "#9c755f", "#bab0ac")
FINGER_COLORS = {"thumb": "#e15759", "index": "#f28e2b", "middle": "#edc948", "ring": "#59a14f",
                 "pinky": "#4e79a7"}


#: Distinct label colours (Tableau 20, light and dark interleaved by hue).
LABEL_PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7",
                 "#9c755f", "#8cd17d", "#a0cbe8", "#ffbe7d", "#b6992d", "#86bcb6", "#d37295", "#d4a6c8",
                 "#79706e", "#f1ce63", "#499894", "#fabfd2")


class LabelColors:
    """Colour per label name: names get palette slots in alphabetical order when a session is
    loaded, new names take the next free slot, so colours are distinct within a session and stay
    put while editing."""

    def __init__(self, palette=LABEL_PALETTE):
        self.palette = tuple(palette)
        self._slot: dict[str, int] = {}

    def reset(self, names) -> None:
        self._slot = {n: k for k, n in enumerate(sorted(set(names)))}

    def color(self, name: str, alpha: int = 255) -> QColor:
        if name not in self._slot:
            self._slot[name] = len(self._slot)
        c = QColor(self.palette[self._slot[name] % len(self.palette)])
        c.setAlpha(alpha)
        return c


def label_color(name: str, alpha: int = 70) -> QColor:
    """A colour from the name alone (for places without a lane's :class:`LabelColors`)."""
    c = QColor(LABEL_PALETTE[zlib.crc32(name.encode()) % len(LABEL_PALETTE)])
    c.setAlpha(alpha)
    return c


def minmax_downsample(t: np.ndarray, x: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Reduce (N,) times and (N, C) values to at most 2 * n_bins points per channel, keeping each
    bin's minimum and maximum (so spikes survive, like pyqtgraph's 'peak' mode).

    Returns (t_out (M,), x_out (M, C)) with M = 2 * bins; input shorter than that is returned as is.
    """
    n = len(t)
    if n <= 2 * n_bins or n_bins < 1:
        return t, x
    per = -(-n // n_bins)  # samples per bin, rounded up so every sample lands in a bin
    nb = -(-n // per)
    pad = nb * per - n
    if pad:  # repeat the last sample: it changes no bin's min or max
        t = np.concatenate([t, np.repeat(t[-1:], pad)])
        x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)])
    xb = x.reshape(nb, per, -1)
    tb = t.reshape(nb, per)
    t_out = np.empty(2 * nb, dtype=np.float64)
    t_out[0::2], t_out[1::2] = tb[:, 0], tb[:, -1]
    x_out = np.empty((2 * nb, x.shape[1]), dtype=np.result_type(x.dtype, np.float32))
    x_out[0::2], x_out[1::2] = xb.min(axis=1), xb.max(axis=1)
    return t_out, x_out


def finger_distances_mm(world_mm: np.ndarray) -> dict[str, np.ndarray]:
    """Fingertip-to-wrist distance per finger from (F, 21, 3) world landmarks in mm -> {finger: (F,) mm},
    NaN where there is no hand. Flexing a finger shortens its distance, so the traces show gestures."""
    world = np.asarray(world_mm, dtype=np.float32)
    wrist = world[:, 0, :]
    return {f: np.linalg.norm(world[:, idx[-1], :] - wrist, axis=1) for f, idx in FINGERS.items()}


class TimeViewBox(pg.ViewBox):
    """A ViewBox that pans/zooms in x only and reports clicks (to move the cursor) and, when
    ``select_on_drag``, left drags on empty space as a time range selection."""

    sigClicked = Signal(float)  # session seconds
    sigSelecting = Signal(float, float, bool)  # start_s, end_s, finished

    def __init__(self, select_on_drag: bool = False, **kw):
        super().__init__(**kw)
        self.select_on_drag = select_on_drag
        self.setMouseEnabled(x=True, y=False)

    def mouseClickEvent(self, ev):
        if ev.button() == Qt.MouseButton.LeftButton and not ev.double():
            ev.accept()
            self.sigClicked.emit(float(self.mapSceneToView(ev.scenePos()).x()))
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None):
        if (self.select_on_drag and ev.button() == Qt.MouseButton.LeftButton
                and not ev.modifiers() & Qt.KeyboardModifier.ShiftModifier):
            ev.accept()
            x0 = self.mapSceneToView(ev.buttonDownScenePos()).x()
            x1 = self.mapSceneToView(ev.scenePos()).x()
            self.sigSelecting.emit(float(min(x0, x1)), float(max(x0, x1)), bool(ev.isFinish()))
        else:
            super().mouseDragEvent(ev, axis)


class SegmentItem(pg.LinearRegionItem):
    """One labelled segment: a draggable region (body moves, edges resize) with its name on top."""

    sigClicked = Signal(object)  # self
    sigDoubleClicked = Signal(object)

    def __init__(self, seg: Segment, bounds: tuple[float, float] | None, colors: LabelColors | None = None):
        super().__init__(values=(seg.start_s, seg.end_s), bounds=bounds, swapMode="block")
        self.colors = colors or LabelColors()
        self.segment_id = seg.id
        self.name = seg.name
        self.selected = False
        self.text = pg.TextItem(seg.name, color="#111", anchor=(0, 0))
        self.text.setParentItem(self)
        self.sigRegionChanged.connect(self._place_text)
        self.set_segment(seg)

    def set_segment(self, seg: Segment) -> None:
        self.name = seg.name
        self.text.setText(seg.name)
        self.setRegion((seg.start_s, seg.end_s))
        self._style()
        self._place_text()

    def set_selected(self, selected: bool) -> None:
        self.selected = selected
        self._style()

    def _style(self) -> None:
        col = self.colors.color
        self.setBrush(col(self.name, 150 if self.selected else 85))
        self.setHoverBrush(col(self.name, 170))
        edge = col(self.name, 255).darker(170 if self.selected else 115)
        for line in self.lines:
            line.setPen(pg.mkPen(edge, width=3 if self.selected else 1.5))
            line.setHoverPen(pg.mkPen("#000", width=3))
        self.update()

    def _place_text(self, *_):
        self.text.setPos(self.getRegion()[0], 1.0)

    def mouseClickEvent(self, ev):
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            (self.sigDoubleClicked if ev.double() else self.sigClicked).emit(self)
        else:
            super().mouseClickEvent(ev)


class LabelLane(QObject):
    """Presents an :class:`AnnotationModel` in a PlotItem (y 0..1) and turns drags into model edits.

    Segments are :class:`SegmentItem`; markers are vertical movable lines labelled with their text;
    a grey ``selection`` region shows the range picked by dragging on empty lane space (what "Add
    label" uses).
    """

    selection_changed = Signal(object)  # (start_s, end_s) or None
    segment_selected = Signal(object)  # segment id or None
    rename_requested = Signal(int)  # segment id (double-click)
    marker_edit_requested = Signal(int)  # marker id (double-click)
    edit_failed = Signal(str)
    MAX_ITEMS = 150  # interactive segment items at most; beyond, an overview bar item

    def __init__(self, plot: pg.PlotItem, parent: QObject | None = None):
        super().__init__(parent)
        self.plot = plot
        self.model: AnnotationModel | None = None
        self.items: dict[int, SegmentItem] = {}
        self.marker_items: dict[int, pg.InfiniteLine] = {}
        self.selected_id: int | None = None
        self.read_only = False  # a file being recorded: labels shown, not draggable
        self.colors = LabelColors()
        self._view: tuple[float, float] | None = None
        self.overview: pg.BarGraphItem | None = None
        self._unsubscribe = None
        self.selection = pg.LinearRegionItem((0, 0), brush=QColor(120, 120, 120, 50),
                                             pen=pg.mkPen("#777", style=Qt.PenStyle.DashLine))
        self.selection.setZValue(-10)
        self.selection.hide()
        self.selection.sigRegionChangeFinished.connect(
            lambda *_: self.selection_changed.emit(self.selection_range()))
        plot.addItem(self.selection)
        vb = plot.getViewBox()
        if isinstance(vb, TimeViewBox):
            vb.sigSelecting.connect(self._on_selecting)

    # ---------------------------------------------------------------- binding
    def set_model(self, model: AnnotationModel | None) -> None:
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None
        self.model = model
        self.colors.reset(model.names() if model else ())
        self.clear_selection()
        self.select(None)
        self._rebuild()
        if model is not None:
            self._unsubscribe = model.subscribe(self._on_model_changed)

    def set_view_range(self, x0: float, x1: float) -> None:
        """Tell the lane which span (session seconds) is on screen; only segments there get
        interactive items (see MAX_ITEMS)."""
        self._view = (float(x0), float(x1))
        self._sync()

    def _bounds(self):
        d = self.model.duration_s if self.model else None
        return None if d is None else (0.0, d)

    def _rebuild(self) -> None:
        for it in list(self.items.values()) + list(self.marker_items.values()):
            self.plot.removeItem(it)
        self.items.clear()
        self.marker_items.clear()
        self._sync()
        if self.model is not None:
            for m in self.model.markers_list():
                self._add_marker_item(m)

    def _sync(self) -> None:
        """Create items for the segments in view, drop the others; with more than MAX_ITEMS in view
        show one non-interactive bar item instead (zoom in to edit). Interactive items cost a few
        ms each, so an hour of labels stays quick to open and scroll."""
        segs = self.model.segments() if self.model is not None else []
        if self._view is not None:
            x0, x1 = self._view
            margin = 0.25 * (x1 - x0)
            visible = [sg for sg in segs if sg.end_s >= x0 - margin and sg.start_s <= x1 + margin]
        else:
            visible = segs
        overview = len(visible) > self.MAX_ITEMS
        want = {} if overview else {sg.id: sg for sg in visible}
        for sid in [k for k in self.items if k not in want]:
            self.plot.removeItem(self.items.pop(sid))
        for sid, sg in want.items():
            if sid not in self.items:
                self._add_item(sg)
        if overview:
            brushes = [self.colors.color(sg.name, 110) for sg in segs]
            if self.overview is None:
                self.overview = pg.BarGraphItem(x0=[0], width=[0], y0=0, height=1, pen=pg.mkPen(None))
                self.overview.setZValue(-5)
                self.plot.addItem(self.overview)
            self.overview.setOpts(x0=[sg.start_s for sg in segs], width=[sg.duration_s for sg in segs],
                                  y0=0, height=1, brushes=brushes)
            self.overview.show()
        elif self.overview is not None:
            self.overview.hide()

    @property
    def overview_shown(self) -> bool:
        return self.overview is not None and self.overview.isVisible()

    def _add_item(self, seg: Segment) -> None:
        it = SegmentItem(seg, self._bounds(), self.colors)
        if self.read_only:
            it.setMovable(False)
        it.sigRegionChangeFinished.connect(self.commit_region)
        it.sigClicked.connect(lambda item: self.select(item.segment_id))
        it.sigDoubleClicked.connect(lambda item: self.rename_requested.emit(item.segment_id))
        if seg.id == self.selected_id:
            it.set_selected(True)
        self.items[seg.id] = it
        self.plot.addItem(it)

    def _add_marker_item(self, m: Marker) -> None:
        line = pg.InfiniteLine(m.t_s, angle=90, movable=True, bounds=self._bounds(),
                               pen=pg.mkPen("#c0392b", width=2), hoverPen=pg.mkPen("#000", width=3),
                               label=m.text or "marker",
                               labelOpts=dict(position=0.2, color="#c0392b", fill=QColor(255, 255, 255, 200),
                                              anchors=[(-0.05, 0.5), (-0.05, 0.5)]))
        line.marker_id = m.id
        if self.read_only:
            line.setMovable(False)
        line.setZValue(20)  # above the segments, below the cursor
        line.sigPositionChangeFinished.connect(self.commit_marker)
        self.marker_items[m.id] = line
        self.plot.addItem(line)

    def _on_model_changed(self, changes: tuple[Change, ...]) -> None:
        if not changes:  # reset or save
            if self.model is not None and set(self.marker_items) != {m.id for m in self.model.markers_list()}:
                self._rebuild()
            else:
                self._sync()
            return
        for c in changes:
            item = c.after if c.after is not None else c.before
            if isinstance(item, Segment):
                if c.after is None:
                    it = self.items.pop(c.id, None)
                    if it is not None:
                        self.plot.removeItem(it)
                    if self.selected_id == c.id:
                        self.select(None)
                elif c.id in self.items:
                    self.items[c.id].set_segment(c.after)
            else:
                line = self.marker_items.pop(c.id, None)
                if line is not None:
                    self.plot.removeItem(line)
                if c.after is not None:
                    self._add_marker_item(c.after)
        self._sync()  # new segments in view get items; the overview follows edits

    # ------------------------------------------------------------ user edits
    def commit_region(self, item: SegmentItem) -> None:
        """Slot for a finished drag of a segment (body or edge): write the region to the model.
        The item is then put back to what the model holds (clamped, or unchanged on error)."""
        if self.model is None:
            return
        start, end = item.getRegion()
        try:
            self.model.set_segment(item.segment_id, start, end)
        except AnnotationError as e:
            self.edit_failed.emit(str(e))
        try:
            item.set_segment(self.model.segment(item.segment_id))
        except AnnotationError:
            return  # deleted meanwhile; its removal event already came
        self.select(item.segment_id)

    def commit_marker(self, line: pg.InfiniteLine) -> None:
        """Slot for a finished marker drag."""
        if self.model is None:
            return
        try:
            self.model.set_marker(line.marker_id, t_s=float(line.value()))
            line.setValue(self.model.marker(line.marker_id).t_s)
        except AnnotationError as e:
            self.edit_failed.emit(str(e))

    def select(self, sid: int | None) -> None:
        """Select a segment by id (None clears); it is highlighted once its item is in view."""
        if sid is not None and (self.model is None or sid not in {sg.id for sg in self.model.segments()}):
            sid = None
        if self.selected_id in self.items:
            self.items[self.selected_id].set_selected(False)
        self.selected_id = sid
        if sid in self.items:
            self.items[sid].set_selected(True)
        self.segment_selected.emit(sid)

    def _on_selecting(self, start: float, end: float, finished: bool) -> None:
        b = self._bounds()
        if b is not None:
            start, end = max(start, b[0]), min(end, b[1])
        self.set_selection(start, end, emit=finished)

    def set_selection(self, start: float, end: float, emit: bool = True) -> None:
        self.selection.setRegion((start, end))
        self.selection.show()
        if emit:
            self.selection_changed.emit(self.selection_range())

    def clear_selection(self) -> None:
        self.selection.hide()
        self.selection_changed.emit(None)

    def selection_range(self) -> tuple[float, float] | None:
        """The selected (start_s, end_s), or None when nothing (or nothing measurable) is selected."""
        if not self.selection.isVisible():
            return None
        a, b = self.selection.getRegion()
        return (a, b) if b - a > 1e-3 else None


class TimelineWidget(pg.GraphicsLayoutWidget):
    """Stacked plots sharing one x axis (session seconds): EMG (µV, one offset trace per channel),
    fingertip-to-wrist distances (mm), hand presence score, and the label lane.

    ``set_session(reader, model)`` shows a :class:`recorder.session.format.SessionReader`; the reader stays
    owned by the caller and is read lazily as the view moves.
    """

    cursor_moved = Signal(float)  # session seconds, when the user moves the cursor
    MAX_BINS = 1500  # min/max pairs per trace: about one per screen column

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground("w")
        self.ci.layout.setSpacing(2)
        self.ci.setContentsMargins(4, 4, 10, 4)
        self.reader = None
        self.emg_t: np.ndarray | None = None
        self._emg_scale = 1.0
        self._offsets = np.zeros(0)
        self._loaded: tuple[float, float, float] | None = None  # (t0, t1, bins) currently drawn
        self.loads = 0  # EMG range reads, for tests and measurements
        self.cursor_s = 0.0

        self.emg_plot = self.addPlot(row=0, col=0, viewBox=TimeViewBox(enableMenu=False), enableMenu=False)
        self.hand_plot = self.addPlot(row=1, col=0, viewBox=TimeViewBox(enableMenu=False), enableMenu=False)
        self.presence_plot = self.addPlot(row=2, col=0, viewBox=TimeViewBox(enableMenu=False), enableMenu=False)
        self.lane_plot = self.addPlot(row=3, col=0, viewBox=TimeViewBox(select_on_drag=True, enableMenu=False),
                                      enableMenu=False)
        self.plots = (self.emg_plot, self.hand_plot, self.presence_plot, self.lane_plot)
        for p in self.plots[1:]:
            p.setXLink(self.emg_plot)
        for p in self.plots:
            p.showGrid(x=True, y=False, alpha=0.25)
            p.getAxis("left").setWidth(62)
            p.hideButtons()
            p.setMenuEnabled(False)
            if p is not self.lane_plot:
                p.getAxis("bottom").setStyle(showValues=False)
            p.getViewBox().sigClicked.connect(self._clicked)
        self.ci.layout.setRowStretchFactor(0, 5)
        self.ci.layout.setRowStretchFactor(1, 3)
        self.presence_plot.setMaximumHeight(60)
        self.lane_plot.setMaximumHeight(80)
        self.lane_plot.setMinimumHeight(70)
        self.emg_plot.setLabel("left", "EMG")
        self.hand_plot.setLabel("left", "tip–wrist", units="mm")
        self.presence_plot.setLabel("left", "hand")
        self.lane_plot.setLabel("left", "labels")
        self.lane_plot.setLabel("bottom", "time", units="s")
        self.presence_plot.setYRange(0, 1.05, padding=0)
        self.presence_plot.getAxis("left").setTicks([[(0, "0"), (1, "1")]])
        self.lane_plot.setYRange(0, 1, padding=0)
        self.lane_plot.getAxis("left").setTicks([[]])
        self.hand_plot.addLegend(offset=(-6, 4), colCount=5, labelTextSize="8pt",
                                 brush=QColor(255, 255, 255, 210), pen=pg.mkPen("#ccc"))

        self.lane = LabelLane(self.lane_plot, self)
        self.emg_curves: list[pg.PlotDataItem] = []
        self.finger_curves: dict[str, pg.PlotDataItem] = {}
        for f, col in FINGER_COLORS.items():
            c = self.hand_plot.plot(pen=pg.mkPen(col, width=1.5), name=f, connect="finite")
            c.setDownsampling(auto=True, method="peak")
            c.setClipToView(True)
            self.finger_curves[f] = c
        self.presence_curve = self.presence_plot.plot(pen=pg.mkPen("#2c7", width=1), fillLevel=0,
                                                      brush=QColor(40, 180, 100, 90), stepMode=None)
        self.presence_curve.setDownsampling(auto=True, method="peak")

        self.cursors: list[pg.InfiniteLine] = []
        for p in self.plots:
            line = pg.InfiniteLine(0.0, angle=90, movable=True, pen=pg.mkPen("#d62728", width=2),
                                   hoverPen=pg.mkPen("#000", width=3))
            line.setZValue(50)
            line.sigPositionChanged.connect(self._cursor_dragged)
            p.addItem(line, ignoreBounds=True)
            self.cursors.append(line)

        self._reload_timer = QTimer(self, singleShot=True, interval=30)
        self._reload_timer.timeout.connect(self._view_changed)
        self.emg_plot.getViewBox().sigXRangeChanged.connect(lambda *_: self._reload_timer.start())

    # -------------------------------------------------------------- session
    def set_session(self, reader, model: AnnotationModel | None) -> None:
        """Show a session (a SessionReader, kept open by the caller) and bind the label model."""
        self.reader = reader
        self._loaded = None
        self.emg_t = np.asarray(reader.emg_t[:], dtype=np.float64)
        names = list(reader.channel_names)
        for c in self.emg_curves:
            self.emg_plot.removeItem(c)
        self.emg_curves = [self.emg_plot.plot(pen=pg.mkPen(CHANNEL_COLORS[i % len(CHANNEL_COLORS)], width=1))
                           for i in range(len(names))]
        scale = float(reader.scale_to_uV)
        known = np.isfinite(scale) and scale > 0  # NaN when the device has no calibration to µV
        self._emg_scale = scale if known else 1.0
        self.emg_plot.setLabel("left", "EMG (µV)" if known else f"EMG ({getattr(reader, 'units', 'raw')})")
        # Trace spacing from a robust amplitude estimate over a strided sample of the whole file.
        n = len(self.emg_t)
        step = max(1, n // 20000)
        sample = np.asarray(reader.emg_data[::step], dtype=np.float32) * self._emg_scale if n else np.zeros((1, len(names)))
        spread = np.percentile(np.abs(sample - np.median(sample, axis=0)), 99, axis=0) if len(sample) else np.ones(1)
        spacing = float(max(np.median(spread) * 2.2, 1e-6))
        self._offsets = -np.arange(len(names)) * spacing
        self._medians = np.median(sample, axis=0) if len(sample) else np.zeros(len(names))
        self.emg_plot.getAxis("left").setTicks([[(float(o), nm) for o, nm in zip(self._offsets, names)]])
        self.emg_plot.setYRange(self._offsets[-1] - spacing * 0.7, spacing * 0.7, padding=0) if len(names) else None

        vt = np.asarray(reader.video_t[:], dtype=np.float64) if len(reader.video_t) else np.zeros(0)
        if len(vt):
            dist = finger_distances_mm(np.asarray(reader.landmarks_world[:]))
            for f, c in self.finger_curves.items():
                c.setData(vt, dist[f])
            finite = np.concatenate([d[np.isfinite(d)] for d in dist.values()])
            if finite.size:
                self.hand_plot.setYRange(float(finite.min()) - 5, float(finite.max()) + 5, padding=0)
            score = np.nan_to_num(np.asarray(reader.landmarks_score[:], dtype=np.float32), nan=0.0)
            self.presence_curve.setData(vt, score)
        else:
            for c in self.finger_curves.values():
                c.setData([], [])
            self.presence_curve.setData([], [])

        duration = float(reader.duration_s)
        for p in self.plots:
            p.getViewBox().setLimits(xMin=-0.05 * duration - 0.5, xMax=duration * 1.05 + 0.5,
                                     minXRange=0.05)
        for line in self.cursors:
            line.setBounds((0.0, duration))
        self.emg_plot.setXRange(0.0, max(duration, 0.1), padding=0.01)
        self.lane.set_view_range(*self.emg_plot.getViewBox().viewRange()[0])
        self.lane.set_model(model)
        self.set_cursor(0.0)
        self.reload_emg()

    def clear_session(self) -> None:
        # (not ``clear``: GraphicsLayoutWidget binds ci.clear, which would remove the plots)
        self.reader = None
        self.emg_t = None
        for c in self.emg_curves:
            self.emg_plot.removeItem(c)
        self.emg_curves = []
        for c in list(self.finger_curves.values()) + [self.presence_curve]:
            c.setData([], [])
        self.lane.set_model(None)

    def _view_changed(self) -> None:
        self.reload_emg()
        self.lane.set_view_range(*self.emg_plot.getViewBox().viewRange()[0])

    def reload_emg(self) -> None:
        """Read and draw the EMG of the visible x range (plus a margin), min/max-reduced."""
        if self.reader is None or self.emg_t is None or not len(self.emg_t):
            return
        x0, x1 = self.emg_plot.getViewBox().viewRange()[0]
        width = max(1, int(self.emg_plot.getViewBox().width()))
        bins = min(self.MAX_BINS, max(200, width))
        if self._loaded and self._loaded[0] <= x0 and x1 <= self._loaded[1] and \
                (x1 - x0) > 0.4 * (self._loaded[1] - self._loaded[0]):
            return  # what is drawn covers the view at enough resolution
        margin = 0.25 * (x1 - x0)
        t0, t1 = x0 - margin, x1 + margin
        i0, i1 = np.searchsorted(self.emg_t, [t0, t1])
        i0, i1 = max(0, i0 - 1), min(len(self.emg_t), i1 + 1)
        # Very long spans: read every k-th sample so one read stays under ~1M samples.
        step = max(1, (i1 - i0) // 1_000_000)
        t = self.emg_t[i0:i1:step]
        x = np.asarray(self.reader.emg_data[i0:i1:step], dtype=np.float32)
        self.loads += 1
        t, x = minmax_downsample(t, x, bins)
        y = (x - self._medians) * self._emg_scale + self._offsets
        for k, c in enumerate(self.emg_curves):
            c.setData(t, y[:, k])
        self._loaded = (t0, t1, bins)

    # --------------------------------------------------------------- cursor
    def set_cursor(self, t: float, follow: bool = False) -> None:
        """Put the cursor at t session seconds (no cursor_moved emitted). follow: scroll the view
        so the cursor stays visible (playback)."""
        self.cursor_s = float(t)
        for line in self.cursors:
            line.blockSignals(True)
            line.setValue(self.cursor_s)
            line.blockSignals(False)
        if follow:
            x0, x1 = self.emg_plot.getViewBox().viewRange()[0]
            if not x0 <= self.cursor_s <= x1:
                span = x1 - x0
                self.emg_plot.setXRange(self.cursor_s - 0.1 * span, self.cursor_s + 0.9 * span, padding=0)

    def _cursor_dragged(self, line: pg.InfiniteLine) -> None:
        self.set_cursor(float(line.value()))
        self.cursor_moved.emit(self.cursor_s)

    def _clicked(self, x: float) -> None:
        if self.reader is None:
            return
        x = min(max(x, 0.0), float(self.reader.duration_s))
        self.set_cursor(x)
        self.cursor_moved.emit(x)

    def show_range(self, t0: float, t1: float) -> None:
        self.emg_plot.setXRange(t0, t1, padding=0)
