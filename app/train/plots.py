"""Training plots: live loss / validation curves, a confusion matrix and per-finger errors (pyqtgraph).

Widgets keep their plot items and only call ``setData`` when new points arrive (one call per epoch).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

TRAIN_COLOR = "#4cc9f0"
VAL_COLOR = "#ffb703"
BASE_COLOR = "#6c757d"


def _plot(title: str, left: str, bottom: str = "epoch") -> pg.PlotWidget:
    w = pg.PlotWidget(background="#12161a", enableMenu=False)  # no menu: quicker start-up
    w.setTitle(title, color="#c8d0d8", size="10pt")
    w.setLabel("left", left)
    w.getAxis("left").enableAutoSIPrefix(False)   # "loss (x0.001)" read as a unit; plain numbers
    w.setLabel("bottom", bottom)
    w.showGrid(x=True, y=True, alpha=0.2)
    w.setMenuEnabled(False)
    return w


class CurvesPlot(QtWidgets.QWidget):
    """Loss (train, validation; normalised units) and the validation metric (MPJPE mm for pose,
    accuracy for gestures) per epoch. ``add_epoch(event)`` takes one ``{"event": "epoch", ...}``
    record of :func:`recorder.model.training.train`."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.loss = _plot("Loss", "loss")
        self.loss.addLegend(offset=(-10, 10))
        self.metric = _plot("Validation", "MPJPE (mm)")
        self._train = self.loss.plot([], [], pen=pg.mkPen(TRAIN_COLOR, width=2), symbol="o", symbolSize=5,
                                     symbolBrush=TRAIN_COLOR, name="train")
        self._val = self.loss.plot([], [], pen=pg.mkPen(VAL_COLOR, width=2), symbol="o", symbolSize=5,
                                   symbolBrush=VAL_COLOR, name="validation")
        self.metric.addLegend(offset=(-10, 10))
        self._metric = self.metric.plot([], [], pen=pg.mkPen(VAL_COLOR, width=2), symbol="o", symbolSize=5,
                                        symbolBrush=VAL_COLOR, name="validation")
        # The kept model is chosen by validation loss, which need not be the epoch with the best
        # metric: the dashed line (on both plots) is the kept epoch, the star the best metric.
        self._best_metric = self.metric.plot([], [], pen=None, symbol="star", symbolSize=14,
                                             symbolBrush="#80ed99", symbolPen=None, name="best")
        self._best_lines = []
        for plot in (self.loss, self.metric):
            line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#80ed99", style=QtCore.Qt.PenStyle.DashLine),
                                   label="kept (lowest val loss)",
                                   labelOpts=dict(position=0.92, color="#80ed99", anchors=[(1, 0), (1, 0)]))
            line.setVisible(False)
            plot.addItem(line)
            self._best_lines.append(line)
        self._best = self._best_lines[1]
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.loss)
        lay.addWidget(self.metric)
        self.reset("pose")

    def reset(self, task: str, target: str = "landmarks") -> None:
        """task "pose" | "gesture"; target (pose) "landmarks" (MPJPE, mm) | "angles" (MAE, deg)."""
        self.task = task
        self.epochs: list[int] = []
        self.train_loss: list[float] = []
        self.val_loss: list[float] = []
        self.val_metric: list[float] = []
        name, unit = (("angle MAE", "deg") if target == "angles" else ("MPJPE", "mm")) if task == "pose" else ("", "")
        self.metric.setLabel("left", f"{name} ({unit})" if task == "pose" else "accuracy")
        self.metric.setTitle(f"Validation {name}" if task == "pose" else "Validation accuracy",
                             color="#c8d0d8", size="10pt")
        legend = self.metric.plotItem.legend
        if legend is not None:
            legend.removeItem(self._best_metric)
            legend.addItem(self._best_metric, f"lowest {name}" if task == "pose" else "highest accuracy")
        for line in self._best_lines:
            line.setVisible(False)
        self._redraw()

    @property
    def n_points(self) -> int:
        return len(self.epochs)

    def add_epoch(self, e: dict) -> None:
        self.epochs.append(int(e["epoch"]))
        self.train_loss.append(float(e["train_loss"]))
        self.val_loss.append(float(e["val_loss"]))
        key = "val_mpjpe_mm" if self.task == "pose" else "val_acc"
        self.val_metric.append(float(e.get(key, e.get("val_mae_deg", np.nan))))  # angle models: MAE deg
        if e.get("best"):
            for line in self._best_lines:
                line.setValue(int(e["epoch"]))
                line.setVisible(True)
        self._redraw()

    @property
    def best_metric_epoch(self) -> int | None:
        """Epoch with the lowest validation MPJPE (pose) or highest accuracy (gesture)."""
        m = np.asarray(self.val_metric, float)
        if not np.isfinite(m).any():
            return None
        k = int(np.nanargmin(m) if self.task == "pose" else np.nanargmax(m))
        return self.epochs[k]

    def _redraw(self) -> None:
        x = np.asarray(self.epochs, float)
        self._train.setData(x, np.asarray(self.train_loss, float))
        self._val.setData(x, np.asarray(self.val_loss, float))
        self._metric.setData(x, np.asarray(self.val_metric, float))
        b = self.best_metric_epoch
        if b is None:
            self._best_metric.setData([], [])
        else:
            k = self.epochs.index(b)
            self._best_metric.setData([b], [self.val_metric[k]])


class ConfusionMatrixPlot(pg.PlotWidget):
    """Rows: true class, columns: predicted class; cells coloured by row-normalised recall and
    labelled with counts."""

    def __init__(self, parent=None):
        super().__init__(parent, background="#12161a", enableMenu=False)
        self.setMenuEnabled(False)
        self.setMouseEnabled(False, False)
        self.setTitle("Confusion matrix (rows: true)", color="#c8d0d8", size="10pt")
        self.getViewBox().invertY(True)
        self.setAspectLocked(True)
        self.image = pg.ImageItem()
        self.image.setLookupTable(pg.colormap.get("viridis").getLookupTable(nPts=256))
        self.addItem(self.image)
        self._texts: list[pg.TextItem] = []
        self.matrix = np.zeros((0, 0), np.int64)
        self.class_names: list[str] = []

    def set_matrix(self, cm, class_names: list[str]) -> None:
        cm = np.asarray(cm, dtype=np.int64)
        k = len(class_names)
        if cm.shape != (k, k):
            raise ValueError(f"confusion matrix {cm.shape} does not match {k} class names")
        self.matrix, self.class_names = cm, list(class_names)
        for t in self._texts:
            self.removeItem(t)
        self._texts = []
        rows = cm.sum(axis=1, keepdims=True)
        frac = np.divide(cm, rows, out=np.zeros(cm.shape, float), where=rows > 0)
        # ImageItem indexes [x, y]: transpose so that x = predicted column, y = true row.
        self.image.setImage(frac.T, levels=(0.0, 1.0))
        self.image.setRect(QtCore.QRectF(0, 0, k, k))
        for i in range(k):
            for j in range(k):
                t = pg.TextItem(str(cm[i, j]), color="#000000" if frac[i, j] > 0.6 else "#ffffff", anchor=(0.5, 0.5))
                t.setPos(j + 0.5, i + 0.5)
                self.addItem(t)
                self._texts.append(t)
        ticks = [[(i + 0.5, n) for i, n in enumerate(class_names)]]
        self.getAxis("bottom").setTicks(ticks)
        self.getAxis("left").setTicks(ticks)
        self.setLabel("bottom", "predicted")
        self.setLabel("left", "true")
        self.setRange(QtCore.QRectF(0, 0, max(k, 1), max(k, 1)), padding=0.02)


class FingerErrorPlot(pg.PlotWidget):
    """Per-finger MPJPE (mm) of the model beside the mean-pose baseline, as grouped bars."""

    def __init__(self, parent=None):
        super().__init__(parent, background="#12161a", enableMenu=False)
        self.setMenuEnabled(False)
        self.setMouseEnabled(False, False)
        self.setTitle("Per-finger MPJPE (mm): model vs mean-pose baseline", color="#c8d0d8", size="10pt")
        self.showGrid(y=True, alpha=0.2)
        self.addLegend(offset=(-10, 10))
        self._model = pg.BarGraphItem(x=[], height=[], width=0.38, brush=TRAIN_COLOR, name="model")
        self._base = pg.BarGraphItem(x=[], height=[], width=0.38, brush=BASE_COLOR, name="baseline")
        self.addItem(self._model)
        self.addItem(self._base)
        self.values: dict[str, tuple[float, float]] = {}

    def set_errors(self, model_mm: dict[str, float], baseline_mm: dict[str, float]) -> None:
        names = list(model_mm)
        x = np.arange(len(names), dtype=float)
        m = np.array([model_mm[n] if model_mm[n] is not None else np.nan for n in names], float)
        b = np.array([baseline_mm.get(n) if baseline_mm.get(n) is not None else np.nan for n in names], float)
        self.values = {n: (float(m[i]), float(b[i])) for i, n in enumerate(names)}
        self._model.setOpts(x=x - 0.2, height=np.nan_to_num(m), width=0.38)
        self._base.setOpts(x=x + 0.2, height=np.nan_to_num(b), width=0.38)
        self.getAxis("bottom").setTicks([[(float(i), n) for i, n in enumerate(names)]])
        top = np.nanmax(np.concatenate([m, b, [1.0]]))
        self.setRange(xRange=(-0.6, len(names) - 0.4), yRange=(0, top * 1.1), padding=0)


def table_item(text: str, align_right: bool = True) -> QtWidgets.QTableWidgetItem:
    it = QtWidgets.QTableWidgetItem(text)
    it.setFlags(it.flags() & ~QtCore.Qt.ItemFlag.ItemIsEditable)
    if align_right:
        it.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
    return it


def bold(item: QtWidgets.QTableWidgetItem) -> QtWidgets.QTableWidgetItem:
    f = QtGui.QFont(item.font())
    f.setBold(True)
    item.setFont(f)
    return item
