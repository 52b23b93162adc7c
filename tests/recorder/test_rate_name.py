"""One name for the EMG sampling rate in the engine's Python: ``sample_rate_hz`` (the session
attribute's own name). ``rate_hz``, ``emg_rate`` and ``emg_rate_hz`` stay only where they are a
stored or printed format, or another rate (a clock's fit, an LSL stream, predictions per second)."""
import re
import warnings
from pathlib import Path

import pytest

import recorder
from recorder.session.format import SessionReader
from recorder.imports.synthetic_sessions import make_synthetic_session

ROOT = Path(recorder.__file__).parent.parent

# the files where the old names may appear, and why (a set: other branches edit these files)
ALLOWED = {
    "recorder/core/clock.py",            # SampleClock.rate_hz: the fitted rate beside nominal_rate_hz
    "recorder/sources/replay.py",   # its stand-in for SampleClock
    "recorder/sources/lsl.py",              # LSL streams of any kind (landmarks too) and the `lsl list` keys
    "recorder/cli/commands/lsl.py",     # the `emgrec lsl --list` column
    "recorder/session/format.py",          # the emg_resampling JSON attribute's key (file format)
    "recorder/imports/pose.py",      # the same key, written and read
    "recorder/imports/synthetic_sessions.py",         # the deprecated keyword and the metadata key "emg_rate" (file)
    "bench/acquisition.py",         # a key of the bench's result JSON
    "bench/gui.py",                 # live preview: predictions per second
    "app/train/live_preview.py",          # predictions per second, not the EMG rate
    "recorder/live/runner.py",      # predictions per second, not the EMG rate
}


def test_old_rate_names_only_where_they_are_formats():
    found = {p.relative_to(ROOT).as_posix() for top in ("recorder", "app", "bench") for p in (ROOT / top).rglob("*.py")
             if re.search(r"\b(?:rate_hz|emg_rate|emg_rate_hz)\b", p.read_text())}
    assert found <= ALLOWED, sorted(found - ALLOWED)


def test_synthetic_session_takes_sample_rate_hz(tmp_path):
    p = make_synthetic_session(tmp_path / "a.h5", duration_s=1.0, sample_rate_hz=500.0)
    with SessionReader(p) as r:
        assert r.sample_rate_hz == 500.0


def test_the_old_keyword_still_works_with_a_warning(tmp_path):
    with pytest.warns(DeprecationWarning, match="sample_rate_hz"):
        p = make_synthetic_session(tmp_path / "b.h5", duration_s=1.0, emg_rate=400.0)
    with SessionReader(p) as r:
        assert r.sample_rate_hz == 400.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_synthetic_session(tmp_path / "c.h5", duration_s=0.5)


def test_dataset_and_model_use_the_name():
    from recorder.dataset.windows import SessionArrays, WindowSet
    assert "sample_rate_hz" in SessionArrays.__dataclass_fields__
    assert "sample_rate_hz" in WindowSet.__dataclass_fields__
