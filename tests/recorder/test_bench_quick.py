"""Smoke test of the benchmark harness: target judging, one short real soak (synthetic source through
a full Capture, checked against its ground truth), the report writer, and a corrupt-file probe."""
import json

import numpy as np
import pytest

from bench.__main__ import write_markdown
from bench.acquisition import _check_against_firmware, rows_from, soak
from bench.core import FAIL, INFO, MISS, PASS, Row, judge
from bench.faults import _attempt_session


def test_judge_hard_and_soft_targets():
    assert judge(0, "== 0", hard=True) == PASS
    assert judge(3, "== 0", hard=True) == FAIL
    assert judge(0.7, "< 0.5", hard=False) == MISS
    assert judge(0.97, ">= 0.95", hard=False) == PASS
    assert judge(float("nan"), "< 1", hard=True) == FAIL
    assert Row("g", "x", 1.0).status == INFO


def test_firmware_check_finds_missing_and_wrong_samples():
    log = np.arange(100 * 8).reshape(100, 8)

    def sent(first, n):
        if first + n > 90:  # the firmware never produced 90..99
            raise KeyError(first)
        return log[first:first + n]

    idx = np.array([10, 11, 13, 14])          # 12 is missing
    x = log[idx].copy()
    x[3, 0] += 1                               # 14 holds a wrong value
    assert _check_against_firmware(idx, x, sent) == (1, 0, 1, 0)


def test_short_soak_loses_nothing_and_reports(tmp_path):
    res = soak("synthetic", 2.0, tmp_path)
    assert res["file_samples"] > 3000 and res["missing_in_file"] == 0 and res["unmatched"] == 0
    rows = rows_from(res, 2.0)
    lost = rows[0]
    assert lost.hard and lost.value == 0 and lost.status == PASS
    group = {"group": "acquisition", "seconds": 1, "loadavg_end": [0, 0, 0],
             "rows": [r.__dict__ for r in rows]}
    info = {"date_utc": "now", "git_commit": "x", "cpu_model": "cpu", "logical_cores": 2, "physical_cores": 1,
            "memory_gib": 1, "platform": "p", "loadavg_start": [0, 0, 0], "loadavg_end": [0, 0, 0],
            "versions": {"python": "3"}}
    out = tmp_path / "R.md"
    write_markdown(out, info, [group], quick=True, wall_s=1.0)
    text = out.read_text()
    assert "| SyntheticEmgSource 2 kHz x 16: EMG samples lost | 0 | samples | == 0 | PASS |" in text
    json.dumps(group, default=str)


def test_corrupt_session_probe_is_clear(tmp_path):
    p = tmp_path / "notes.h5"
    p.write_text("not hdf5")
    status, detail = _attempt_session(p)
    assert status == "clear" and "notes.h5" in detail
