"""Headless label-editing model with undo/redo, for gesture segments and markers of one session.

The model knows nothing of widgets (ARCHITECTURE.md: models emit events, widgets subscribe). Every
edit is one undoable command made of (before, after) item states, so add, move, resize, rename and
delete all undo the same way. Times are session seconds (the times stored in /labels and /markers).

    model = AnnotationModel(reader.labels, reader.markers, duration_s=reader.duration_s)
    sid = model.add_segment(1.0, 2.5, "fist")
    model.move_segment(sid, 0.5); model.undo(); model.redo()
    save_annotations(path, model.labels(), model.markers()); model.mark_saved()
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Iterable

from recorder.core.errors import EmgrecError

__all__ = ["Segment", "Marker", "Change", "AnnotationModel", "AnnotationError"]


class AnnotationError(EmgrecError, ValueError):
    """An edit that would make the annotations invalid (empty name, end <= start, unknown id, ...)."""


@dataclass(frozen=True, slots=True)
class Segment:
    """A labelled time span [start_s, end_s) in session seconds."""

    id: int
    start_s: float
    end_s: float
    name: str

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class Marker:
    """A point annotation at t_s session seconds."""

    id: int
    t_s: float
    text: str


Item = Segment | Marker


@dataclass(frozen=True, slots=True)
class Change:
    """One item's state before and after an edit; None means absent (added or deleted)."""

    before: Item | None
    after: Item | None

    @property
    def id(self) -> int:
        return (self.after or self.before).id  # type: ignore[union-attr]

    def inverted(self) -> "Change":
        return Change(self.after, self.before)


@dataclass(slots=True)
class _Command:
    text: str
    changes: tuple[Change, ...]
    merge_key: object = None


Listener = Callable[[tuple[Change, ...]], None]


class AnnotationModel:
    """Segments and markers of one session with a linear undo/redo history.

    labels: iterable of (start_s, end_s, name); markers: iterable of (t_s, text).
    duration_s: when given, edits are clamped to [0, duration_s] so a drag cannot push a label
        outside the recording.
    min_duration_s: shortest segment an edit may produce.

    Listeners (``subscribe``) are called after every applied change set (edit, undo or redo) with
    the tuple of :class:`Change` that was applied, on the caller's thread.
    """

    def __init__(self, labels: Iterable = (), markers: Iterable = (), *, duration_s: float | None = None,
                 min_duration_s: float = 0.01):
        self.duration_s = None if duration_s is None else float(duration_s)
        self.min_duration_s = float(min_duration_s)
        self._segments: dict[int, Segment] = {}
        self._markers: dict[int, Marker] = {}
        self._next_id = 1
        self._undo: list[_Command] = []
        self._redo: list[_Command] = []
        self._clean_depth: int | None = 0
        self._listeners: list[Listener] = []
        self.reset(labels, markers)

    # ------------------------------------------------------------------ state
    def reset(self, labels: Iterable = (), markers: Iterable = ()) -> None:
        """Replace everything (e.g. after loading a file); clears the history and marks clean.
        Stored labels are taken as they are (not clamped): loading must not change data."""
        self._segments.clear()
        self._markers.clear()
        for row in labels:
            start, end, name = float(row[0]), float(row[1]), str(row[2])
            i = self._new_id()
            self._segments[i] = Segment(i, start, end, name)
        for row in markers:
            i = self._new_id()
            self._markers[i] = Marker(i, float(row[0]), str(row[1]))
        self._undo.clear()
        self._redo.clear()
        self._clean_depth = 0
        self._notify(())

    def segments(self) -> list[Segment]:
        """All segments sorted by start time."""
        return sorted(self._segments.values(), key=lambda s: (s.start_s, s.end_s, s.id))

    def markers_list(self) -> list[Marker]:
        return sorted(self._markers.values(), key=lambda m: (m.t_s, m.id))

    def segment(self, sid: int) -> Segment:
        try:
            return self._segments[sid]
        except KeyError:
            raise AnnotationError(f"no segment with id {sid}") from None

    def marker(self, mid: int) -> Marker:
        try:
            return self._markers[mid]
        except KeyError:
            raise AnnotationError(f"no marker with id {mid}") from None

    def labels(self) -> list[tuple[float, float, str]]:
        """[(start_s, end_s, name)] sorted by start, the form ``save_annotations`` takes."""
        return [(s.start_s, s.end_s, s.name) for s in self.segments()]

    def markers(self) -> list[tuple[float, str]]:
        """[(t_s, text)] sorted by time."""
        return [(m.t_s, m.text) for m in self.markers_list()]

    def segments_at(self, t_s: float) -> list[Segment]:
        return [s for s in self.segments() if s.start_s <= t_s < s.end_s]

    def names(self) -> list[str]:
        """Distinct segment names, most used first (for completion in a name box)."""
        counts: dict[str, int] = {}
        for s in self._segments.values():
            counts[s.name] = counts.get(s.name, 0) + 1
        return sorted(counts, key=lambda n: (-counts[n], n))

    # ---------------------------------------------------------------- history
    @property
    def dirty(self) -> bool:
        """True when the state differs from the last ``mark_saved`` (or load)."""
        return self._clean_depth != len(self._undo)

    def mark_saved(self) -> None:
        self._clean_depth = len(self._undo)
        for c in self._undo:  # a drag after saving must start a new undo step
            c.merge_key = None
        self._notify(())

    def can_undo(self) -> bool:
        return bool(self._undo)

    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo_text(self) -> str:
        return self._undo[-1].text if self._undo else ""

    def redo_text(self) -> str:
        return self._redo[-1].text if self._redo else ""

    def undo(self) -> bool:
        """Undo the last edit; False when there is nothing to undo."""
        if not self._undo:
            return False
        cmd = self._undo.pop()
        cmd.merge_key = None
        inverse = tuple(c.inverted() for c in reversed(cmd.changes))
        self._apply(inverse)
        self._redo.append(cmd)
        self._notify(inverse)
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        cmd = self._redo.pop()
        self._apply(cmd.changes)
        self._undo.append(cmd)
        self._notify(cmd.changes)
        return True

    def subscribe(self, fn: Listener) -> Callable[[], None]:
        """Call fn(changes) after every change; returns a function that unsubscribes."""
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn) if fn in self._listeners else None

    # ------------------------------------------------------------------ edits
    def add_segment(self, start_s: float, end_s: float, name: str) -> int:
        """Add a segment; returns its id. start/end are swapped if given in reverse order."""
        start_s, end_s = sorted((self._time(start_s), self._time(end_s)))
        start_s, end_s = self._clamp_span(start_s, end_s)
        seg = Segment(self._new_id(), start_s, end_s, self._name(name))
        self._do(f"Add label '{seg.name}'", (Change(None, seg),))
        return seg.id

    def set_segment(self, sid: int, start_s: float | None = None, end_s: float | None = None,
                    name: str | None = None, *, merge_key: object = None) -> None:
        """Set any of start, end, name of a segment in one undo step.

        merge_key: consecutive edits with the same non-None key (e.g. the live updates of one drag)
            collapse into one undo step.
        """
        old = self.segment(sid)
        start = old.start_s if start_s is None else self._time(start_s)
        end = old.end_s if end_s is None else self._time(end_s)
        if end < start:
            start, end = end, start
        start, end = self._clamp_span(start, end)
        new = replace(old, start_s=start, end_s=end, name=old.name if name is None else self._name(name))
        if new == old:
            return
        if name is not None and name != old.name and start_s is None and end_s is None:
            text = f"Rename label '{old.name}' to '{new.name}'"
        elif math.isclose(new.duration_s, old.duration_s, abs_tol=1e-9):
            text = f"Move label '{old.name}'"
        else:
            text = f"Resize label '{old.name}'"
        self._do(text, (Change(old, new),), merge_key)

    def move_segment(self, sid: int, dt_s: float, *, merge_key: object = None) -> None:
        """Shift a segment by dt_s seconds, keeping its length (clamped to the recording)."""
        old = self.segment(sid)
        dt = self._time(dt_s)
        if self.duration_s is not None:
            dt = min(max(dt, -old.start_s), self.duration_s - old.end_s)
        self.set_segment(sid, old.start_s + dt, old.end_s + dt, merge_key=merge_key)

    def resize_segment(self, sid: int, edge: str, t_s: float, *, merge_key: object = None) -> None:
        """Move one edge ('start' or 'end') of a segment to t_s; the other edge stays."""
        if edge == "start":
            self.set_segment(sid, start_s=min(t_s, self.segment(sid).end_s - self.min_duration_s),
                             merge_key=merge_key)
        elif edge == "end":
            self.set_segment(sid, end_s=max(t_s, self.segment(sid).start_s + self.min_duration_s),
                             merge_key=merge_key)
        else:
            raise AnnotationError(f"edge must be 'start' or 'end', got {edge!r}")

    def rename_segment(self, sid: int, name: str) -> None:
        self.set_segment(sid, name=name)

    def rename_all(self, old_name: str, new_name: str) -> int:
        """Rename every segment called old_name in one undo step; returns how many changed."""
        new_name = self._name(new_name)
        changes = tuple(Change(s, replace(s, name=new_name)) for s in self.segments()
                        if s.name == old_name and new_name != old_name)
        if changes:
            self._do(f"Rename {len(changes)} labels '{old_name}' to '{new_name}'", changes)
        return len(changes)

    def delete_segment(self, sid: int) -> None:
        old = self.segment(sid)
        self._do(f"Delete label '{old.name}'", (Change(old, None),))

    def add_marker(self, t_s: float, text: str) -> int:
        m = Marker(self._new_id(), self._clamp_t(self._time(t_s)), str(text).strip())
        self._do("Add marker", (Change(None, m),))
        return m.id

    def set_marker(self, mid: int, t_s: float | None = None, text: str | None = None, *,
                   merge_key: object = None) -> None:
        old = self.marker(mid)
        new = replace(old, t_s=old.t_s if t_s is None else self._clamp_t(self._time(t_s)),
                      text=old.text if text is None else str(text).strip())
        if new != old:
            self._do("Edit marker" if text is not None else "Move marker", (Change(old, new),), merge_key)

    def delete_marker(self, mid: int) -> None:
        old = self.marker(mid)
        self._do("Delete marker", (Change(old, None),))

    # --------------------------------------------------------------- internals
    def _new_id(self) -> int:
        i = self._next_id
        self._next_id += 1
        return i

    @staticmethod
    def _time(t) -> float:
        t = float(t)
        if not math.isfinite(t):
            raise AnnotationError(f"time must be finite, got {t}")
        return t

    @staticmethod
    def _name(name) -> str:
        name = str(name).strip()
        if not name:
            raise AnnotationError("label name must not be empty")
        return name

    def _clamp_t(self, t: float) -> float:
        if self.duration_s is None:
            return t
        return min(max(t, 0.0), self.duration_s)

    def _clamp_span(self, start: float, end: float) -> tuple[float, float]:
        start, end = self._clamp_t(start), self._clamp_t(end)
        if end - start < self.min_duration_s - 1e-12:
            raise AnnotationError(
                f"label must last at least {self.min_duration_s} s, got {start:.3f}..{end:.3f} s")
        return start, end

    def _do(self, text: str, changes: tuple[Change, ...], merge_key: object = None) -> None:
        top = self._undo[-1] if self._undo else None
        self._apply(changes)
        self._redo.clear()
        if (merge_key is not None and top is not None and top.merge_key == merge_key
                and len(self._undo) != self._clean_depth):
            # Fold into the previous step: keep its "before", take our "after".
            befores = {c.id: c.before for c in top.changes}
            merged = {c.id: c for c in top.changes}
            for c in changes:
                merged[c.id] = Change(befores.get(c.id, c.before), c.after)
            top.changes = tuple(merged.values())
        else:
            if self._clean_depth is not None and self._clean_depth > len(self._undo):
                self._clean_depth = None  # the saved state is no longer reachable
            self._undo.append(_Command(text, changes, merge_key))
        self._notify(changes)  # after the history is updated, so listeners see can_undo/dirty right

    def _apply(self, changes: tuple[Change, ...]) -> None:
        for c in changes:
            item = c.after if c.after is not None else c.before
            table = self._segments if isinstance(item, Segment) else self._markers
            if c.after is None:
                table.pop(c.id, None)
            else:
                table[c.id] = c.after  # type: ignore[assignment]

    def _notify(self, changes: tuple[Change, ...]) -> None:
        for fn in list(self._listeners):
            fn(changes)
