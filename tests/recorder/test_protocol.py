"""Prompted protocol state machine, driven by a fake clock."""
import pytest

from recorder.capture.protocol import COUNTDOWN, DONE, HOLD, IDLE, REST, Protocol


def run(p, t0, t1, dt=0.1):
    """Call update every dt from t0 to t1; return the states seen."""
    out, t = [], t0
    while t <= t1 + 1e-9:
        out.append(p.update(t))
        t += dt
    return out


def test_sequence_and_segments():
    p = Protocol(["fist", "open"], reps=2, hold_s=2, rest_s=1, countdown_s=3)
    assert p.update(0).phase == IDLE
    s = p.start(100.0)
    assert (s.phase, s.prompt, s.remaining_s) == (COUNTDOWN, "fist", pytest.approx(3))
    s = p.update(103.5)
    assert (s.phase, s.prompt, s.rep, s.step, s.n_steps) == (HOLD, "fist", 1, 1, 4)
    assert s.remaining_s == pytest.approx(1.5)
    assert p.update(105.2).phase == REST
    s = p.update(106.0)
    assert (s.phase, s.prompt, s.rep, s.step) == (HOLD, "fist", 2, 2)
    s = p.update(108.5)
    assert (s.phase, s.prompt) == (REST, "open")   # rest announces what comes next
    assert p.update(115.0).phase == DONE          # one late call catches up through every step
    segs = p.pop_committed() + p.finish(115.0)
    assert [(g.name, g.rep) for g in segs] == [("fist", 1), ("rest", 1), ("fist", 2), ("rest", 2),
                                               ("open", 1), ("rest", 1), ("open", 2), ("rest", 2)]
    # Scheduled times, not the times update() happened to be called at.
    assert (segs[0].start, segs[0].end) == (103.0, 105.0)
    assert (segs[-2].start, segs[-2].end) == (112.0, 114.0)
    assert p.update(120).phase == IDLE


def test_last_repetition_is_pending_until_the_next_hold_ends():
    p = Protocol(["fist"], reps=3, hold_s=1, rest_s=1, countdown_s=0)
    p.start(0.0)
    p.update(1.5)          # hold 1 done, resting
    assert p.pop_committed() == []
    p.update(3.2)          # hold 2 done: rep 1 (hold + rest) is now final
    assert [(g.name, g.rep) for g in p.pop_committed()] == [("fist", 1), ("rest", 1)]
    assert p.pop_committed() == []


def test_redo_last_discards_and_reprompts():
    p = Protocol(["fist", "open"], reps=2, hold_s=2, rest_s=1, countdown_s=1)
    p.start(0.0)
    run(p, 0.0, 3.5)        # countdown 0-1, hold fist#1 1-3, now resting
    dropped = p.redo_last(3.5)
    assert [(g.name, g.rep, g.start, g.end) for g in dropped] == [("fist", 1, 1.0, 3.0)]
    s = p.update(3.6)
    assert (s.phase, s.prompt, s.rep, s.redo) == (COUNTDOWN, "fist", 1, True)
    s = p.update(4.6)
    assert (s.phase, s.prompt, s.rep, s.step) == (HOLD, "fist", 1, 1)
    run(p, 4.6, 30.0)
    segs = p.finish(30.0)
    names = [(g.name, g.rep) for g in segs if g.name != "rest"]
    assert names == [("fist", 1), ("fist", 2), ("open", 1), ("open", 2)]
    assert segs[0].start == pytest.approx(4.5)    # the redone hold, not the discarded one
    assert p.redo_last(31.0) == []                # nothing left after finish


def test_redo_during_hold_restarts_it_and_nothing_to_redo_at_start():
    p = Protocol(["a", "b"], reps=1, hold_s=2, rest_s=1, countdown_s=1)
    p.start(0.0)
    assert p.redo_last(0.5) == []
    p.update(4.5)            # hold a 1-3, rest 3-4, hold b in progress since 4
    assert [g.name for g in p.redo_last(4.5)] == ["a", "rest"]
    states = run(p, 4.5, 20.0)
    holds = []
    for s in states:
        if s.phase == HOLD and (not holds or holds[-1] != s.prompt):
            holds.append(s.prompt)
    assert holds == ["a", "b"]                    # a again, then b from its start
    assert [g.name for g in p.finish(20.0)] == ["a", "rest", "b", "rest"]


def test_bad_arguments():
    with pytest.raises(ValueError):
        Protocol([], reps=1)
    with pytest.raises(ValueError):
        Protocol(["x"], reps=0)
    with pytest.raises(ValueError):
        Protocol(["x"], hold_s=0)
