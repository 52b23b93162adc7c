"""Prompted recording protocol: a headless, clock-driven state machine.

The subject is prompted through ``countdown -> (hold gesture, rest) x reps`` for each gesture.
:meth:`Protocol.update` is called with the current host time (any rate; a late call catches up
through every step it missed) and returns what to show. Each finished hold and rest becomes a
label :class:`Segment` with its *scheduled* start and end (exact, independent of how often update is
called).

Redo: the most recent repetition (its hold and the rest after it) stays *pending* until the next
hold finishes, because :meth:`Protocol.redo_last` may still discard it. Only committed segments
come out of :meth:`Protocol.pop_committed`, so a consumer that writes labels to a session never has
to delete one. :meth:`Protocol.finish` commits what is pending (call it before the recording stops).
"""

from __future__ import annotations

from dataclasses import dataclass

from recorder.core.errors import UsageError

IDLE, COUNTDOWN, HOLD, REST, DONE = "idle", "countdown", "hold", "rest", "done"


@dataclass(frozen=True, slots=True)
class Segment:
    """A labelled span of host seconds: [start, end), gesture ``name``, repetition ``rep`` (1-based)."""

    start: float
    end: float
    name: str
    rep: int


@dataclass(frozen=True, slots=True)
class ProtocolState:
    """What to show now.

    phase: IDLE | COUNTDOWN | HOLD | REST | DONE.
    prompt: gesture to make (HOLD), gesture coming next (COUNTDOWN, REST), "" otherwise.
    remaining_s: seconds left in this phase.
    rep, reps: repetition number (1-based) of ``prompt`` and repetitions per gesture.
    step, n_steps: index of the current hold among all holds (1-based), and the number of holds.
    redo: True while re-doing a discarded repetition.
    """

    phase: str
    prompt: str = ""
    remaining_s: float = 0.0
    rep: int = 0
    reps: int = 0
    step: int = 0
    n_steps: int = 0
    redo: bool = False


@dataclass(frozen=True, slots=True)
class _Step:
    phase: str
    name: str  # gesture held (HOLD), or the gesture that comes next (COUNTDOWN, REST)
    rep: int
    duration: float
    redo: bool = False


class Protocol:
    """gestures: names to prompt, in order; reps: repetitions per gesture; hold_s, rest_s,
    countdown_s: seconds. rest_label: name of the label written for rest periods (None: none).
    """

    def __init__(self, gestures: list[str], reps: int = 5, hold_s: float = 3.0, rest_s: float = 3.0,
                 countdown_s: float = 3.0, rest_label: str | None = "rest"):
        gestures = [g.strip() for g in gestures if g and g.strip()]
        if not gestures:
            raise UsageError("protocol needs at least one gesture")
        if reps < 1:
            raise UsageError(f"reps must be >= 1, got {reps}")
        if hold_s <= 0 or rest_s < 0 or countdown_s < 0:
            raise UsageError(f"bad durations hold_s={hold_s} rest_s={rest_s} countdown_s={countdown_s}")
        self.gestures, self.reps = gestures, int(reps)
        self.hold_s, self.rest_s, self.countdown_s = float(hold_s), float(rest_s), float(countdown_s)
        self.rest_label = rest_label
        self._steps: list[_Step] = []
        self._i = 0
        self._t_step = 0.0
        self._started = False
        self._pending: list[Segment] = []    # the last repetition: hold (+ its rest), still redoable
        self._committed: list[Segment] = []  # final; not yet popped
        self._holds_done = 0

    @property
    def n_holds(self) -> int:
        return len(self.gestures) * self.reps

    @property
    def running(self) -> bool:
        return self._started and self._i < len(self._steps)

    def start(self, now: float) -> ProtocolState:
        """Begin (or begin again) at host time ``now``."""
        steps = [_Step(COUNTDOWN, self.gestures[0], 1, self.countdown_s)]
        for gi, g in enumerate(self.gestures):
            for r in range(1, self.reps + 1):
                steps.append(_Step(HOLD, g, r, self.hold_s))
                last = gi == len(self.gestures) - 1 and r == self.reps
                nxt = g if r < self.reps else (self.gestures[gi + 1] if not last else "")
                steps.append(_Step(REST, nxt, r, self.rest_s))
        self._steps = [s for s in steps if s.duration > 0]
        self._i, self._t_step, self._started = 0, float(now), True
        self._pending.clear()
        self._committed.clear()
        self._holds_done = 0
        return self.update(now)

    def update(self, now: float) -> ProtocolState:
        """Advance to host time ``now``; returns the state to show."""
        if not self._started:
            return ProtocolState(IDLE, reps=self.reps, n_steps=self.n_holds)
        while self._i < len(self._steps) and now >= self._t_step + self._steps[self._i].duration:
            self._complete(self._steps[self._i], self._t_step)
            self._t_step += self._steps[self._i].duration
            self._i += 1
        if self._i >= len(self._steps):
            return ProtocolState(DONE, reps=self.reps, step=self.n_holds, n_steps=self.n_holds)
        s = self._steps[self._i]
        step = min(self._holds_done + (1 if s.phase == HOLD else 0), self.n_holds)
        return ProtocolState(s.phase, s.name, self._t_step + s.duration - now, s.rep, self.reps,
                             max(step, 1), self.n_holds, s.redo)

    def _complete(self, s: _Step, start: float) -> None:
        end = start + s.duration
        if s.phase == HOLD:
            # A newer repetition is finished: the previous one can no longer be redone.
            self._committed.extend(self._pending)
            self._pending = [Segment(start, end, s.name, s.rep)]
            self._holds_done += 1
        elif s.phase == REST and self.rest_label and self._pending:
            self._pending.append(Segment(start, end, self.rest_label, s.rep))

    def redo_last(self, now: float) -> list[Segment]:
        """Discard the most recent finished repetition and prompt it again (after a countdown),
        then carry on where the protocol was. A hold in progress restarts after the redo.
        Returns the discarded segments ([] when there is nothing to redo)."""
        if not self._started or not self._pending:
            return []
        dropped, self._pending = self._pending, []
        last = dropped[0]
        self._holds_done -= 1
        rest = self._steps[self._i:] if self._i < len(self._steps) else []
        if rest and rest[0].phase == REST and rest[0].rep == last.rep:
            rest = rest[1:]  # the rest that followed the discarded hold is replaced below
        nxt = next((s.name for s in rest if s.phase == HOLD), "")
        redo = [_Step(COUNTDOWN, last.name, last.rep, max(self.countdown_s, 1.0), True),
                _Step(HOLD, last.name, last.rep, self.hold_s, True),
                _Step(REST, nxt, last.rep, self.rest_s, True)]
        self._steps = self._steps[:self._i] + [s for s in redo if s.duration > 0] + rest
        self._t_step = float(now)
        return dropped

    def pop_committed(self) -> list[Segment]:
        """Segments that became final since the last call (to write as labels)."""
        out, self._committed = self._committed, []
        return out

    def finish(self, now: float) -> list[Segment]:
        """Stop the protocol at ``now`` and return every segment not yet popped, pending included.
        A hold or rest in progress is not labelled (it was cut short)."""
        if self._started:
            self.update(now)
        out = self._committed + self._pending
        self._committed, self._pending = [], []
        self._steps, self._i, self._started = [], 0, False
        return out
