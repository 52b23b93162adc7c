"""recorder.core.types.Progress, the one progress type of the engine's long jobs: its fraction and
clipping, and that export, the folder scan and redetect report with it."""
import dataclasses

import pytest

from recorder.session.library import scan
from recorder.imports.synthetic_sessions import make_synthetic_session
from recorder.core.types import Progress


def test_fraction_clips_and_knows_an_unknown_total():
    assert Progress(3, 4, "files").fraction == 0.75
    assert Progress(5, 4).fraction == 1.0 and Progress(-1, 4).fraction == 0.0
    assert Progress(3).fraction is None and Progress(3).total is None  # busy: no total
    assert Progress(0, 0).fraction == 1.0  # nothing to do is done
    p = Progress.of_fraction(1.7, "writing")
    assert (p.done, p.total, p.text, p.fraction) == (1.0, 1.0, "writing", 1.0)
    assert Progress.of_fraction(-0.5).fraction == 0.0
    assert Progress.of_fraction(0.25) == Progress(0.25, 1.0, "")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.done = 0.5


def test_scan_and_export_report_progress_objects(tmp_path):
    from recorder.export.files import export

    a = make_synthetic_session(tmp_path / "a.h5", duration_s=2.0, seed=1)
    b = make_synthetic_session(tmp_path / "b.h5", duration_s=2.0, seed=2)
    seen = []
    scan(tmp_path, progress=seen.append)
    assert seen == [Progress(1, 2, "a.h5"), Progress(2, 2, "b.h5")]
    seen = []
    export([a, b], tmp_path / "csv", "csv", progress=seen.append)
    assert seen and all(isinstance(p, Progress) and p.total == 1.0 for p in seen)
    fr = [p.fraction for p in seen]
    assert fr == sorted(fr) and fr[-1] == 1.0
    assert seen[-1].text.startswith("b.h5")  # the second file's own message, as a share of both files
    assert any(p.text.startswith("a.h5") and p.fraction <= 0.5 for p in seen)
