"""The quality bench group's pieces that need no training: the confusion summary in the notes and
the skipped rows when the real Myo recordings are absent."""
from bench import quality
from bench.core import SKIP, Context


def test_main_errors_lists_the_largest_off_diagonal_cells():
    m = {"class_names": ["rest", "fist", "flexion"],
         "confusion": [[50, 3, 0], [7, 40, 1], [0, 0, 30]]}
    assert quality._main_errors(m, k=2) == "fist->rest 7, rest->fist 3"
    assert quality._main_errors({"class_names": ["a", "b"], "confusion": [[5, 0], [0, 4]]}) == "none"


def test_gesture_rows_are_skipped_with_a_reason_without_the_data(tmp_path, monkeypatch):
    monkeypatch.setattr(quality, "MYO_ROOT", tmp_path / "absent")
    rows = quality.gesture_rows(Context(quick=True, workdir=tmp_path, soak_s=0.0))
    assert len(rows) == 4
    assert all(r.status == SKIP and r.value is None and "not found" in r.note for r in rows)
    assert {r.name.split(" ")[1] for r in rows} == {"(right", "(left"}
