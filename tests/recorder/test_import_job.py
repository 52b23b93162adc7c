"""recorder.imports.job: the one crash-safe import of `emgrec import` and the Import dialog.

Hostile cases: an existing output without force, a cancel at each check, a damaged input (the
error names the file), a failure in a folder the import created, a folder import cancelled between
its sessions; the write lock is held while the import writes; the CLI goes through the function."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from recorder.imports import job as import_job
from recorder.core.errors import Cancelled
from recorder.imports.job import guess_format, import_to_session
from recorder.imports.tables import ImportFormatError
from recorder.session.format import SessionReader
from recorder.session.writelock import holder


def _csv(path: Path, n: int = 200, bad_line: int | None = None) -> Path:
    rows = ["t,a,b"] + [f"{i / 100:.2f},{i % 7},{-(i % 5)}" for i in range(n)]
    if bad_line is not None:
        rows[bad_line - 1] = "0.5,1"
    path.write_text("\n".join(rows) + "\n")
    return path


CSV_OPTS = dict(emg_columns="a,b", time_column="t")


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_imports_and_summarises(tmp_path):
    r = import_to_session(_csv(tmp_path / "e.csv"), tmp_path / "lib" / "e.h5", "csv", **CSV_OPTS)
    assert r.paths == [tmp_path / "lib" / "e.h5"] and r.format == "csv" and r.alignment is None
    assert r.summaries[0]["samples"] == 200 and r.summaries[0]["channels"] == 2
    assert _files(tmp_path / "lib") == ["e.h5"]  # no temporary or lock file left


def test_existing_output_is_kept_without_force(tmp_path):
    src = _csv(tmp_path / "e.csv")
    out = tmp_path / "e.h5"
    out.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match=str(out)):
        import_to_session(src, out, "csv", **CSV_OPTS)
    assert out.read_bytes() == b"precious" and _files(tmp_path) == ["e.csv", "e.h5"]
    import_to_session(src, out, "csv", force=True, **CSV_OPTS)
    with SessionReader(out) as r:
        assert r.n_samples == 200


def test_output_that_is_the_input_is_refused_even_with_force(tmp_path):
    src = _csv(tmp_path / "e.csv")
    with pytest.raises(ValueError, match="also an input"):
        import_to_session(src, src, "csv", force=True, **CSV_OPTS)
    assert src.read_text().startswith("t,a,b")


@pytest.mark.parametrize("at", [1, 2])  # 1: before reading; 2: after writing, before the rename
def test_cancel_leaves_nothing(tmp_path, at):
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) >= at

    out = tmp_path / "new" / "deeper" / "e.h5"
    src = _csv(tmp_path / "e.csv")
    with pytest.raises(Cancelled):
        import_to_session(src, out, "csv", cancel=cancel, **CSV_OPTS)
    assert len(calls) == at
    assert not (tmp_path / "new").exists()  # the folders it made are gone too
    assert _files(tmp_path) == ["e.csv"]


def test_cancel_event_before_start(tmp_path):
    ev = threading.Event()
    ev.set()
    with pytest.raises(Cancelled):
        import_to_session(_csv(tmp_path / "e.csv"), tmp_path / "e.h5", "csv", cancel=ev, **CSV_OPTS)
    assert _files(tmp_path) == ["e.csv"]


def test_write_lock_held_while_writing(tmp_path):
    out = tmp_path / "e.h5"
    seen = []

    def progress(p):
        seen.append((p.fraction, p.text, holder(out)))

    import_to_session(_csv(tmp_path / "e.csv"), out, "csv", progress=progress, **CSV_OPTS)
    assert seen[0][2]["purpose"] == "an import" and seen[1][2]["purpose"] == "an import"
    assert seen[-1][0] == 1.0 and seen[-1][2] is None and str(out) in seen[-1][1]


def test_damaged_input_names_the_file_and_leaves_nothing(tmp_path):
    src = _csv(tmp_path / "damaged.csv", bad_line=6)
    with pytest.raises(ImportFormatError, match=r"damaged\.csv line 6"):
        import_to_session(src, tmp_path / "lib" / "d.h5", "csv", **CSV_OPTS)
    binary = tmp_path / "noise.txt"
    binary.write_bytes(bytes(range(256)) * 8)
    for fmt in ("csv", "myo-readings", "neurotron", None):
        opts = CSV_OPTS if fmt == "csv" else {}
        with pytest.raises(ImportFormatError, match=r"noise\.txt"):
            import_to_session(binary, tmp_path / "lib" / "d.h5", fmt, **opts)
    assert not (tmp_path / "lib").exists()


def test_error_without_a_file_name_gets_the_source_name(tmp_path, monkeypatch):
    """An importer error that names no file (or only the hidden temporary) is re-raised naming one."""
    from recorder.imports import tables as importers

    def nameless(src, dst, **kw):
        Path(dst).write_bytes(b"partial")
        raise ValueError("values out of range")

    monkeypatch.setattr(importers, "import_neurotron", nameless)
    src = _csv(tmp_path / "e.csv")
    with pytest.raises(ImportFormatError, match=r"e\.csv: values out of range") as ei:
        import_to_session(src, tmp_path / "e.h5", "neurotron")
    assert isinstance(ei.value, ValueError)

    def names_tmp(src, dst, **kw):
        raise OSError(f"writing {dst} failed: disk full")

    monkeypatch.setattr(importers, "import_neurotron", names_tmp)
    with pytest.raises(OSError, match=r"writing .*/e\.h5 failed: disk full$"):
        import_to_session(src, tmp_path / "e.h5", "neurotron")
    assert _files(tmp_path) == ["e.csv"]


def test_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="unknown import format 'xls'"):
        import_to_session(_csv(tmp_path / "e.csv"), tmp_path / "e.h5", "xls")


def _dataset(root: Path, folders=("s1", "s2"), n=40) -> Path:
    for s in folders:
        (root / s).mkdir(parents=True)
        for c in range(2):
            np.savetxt(root / s / f"R_1_C_{c}.csv", np.full((n, 3), c), fmt="%d", delimiter=",")
    return root


def test_folder_import_all_or_nothing(tmp_path):
    src = _dataset(tmp_path / "d")
    out = tmp_path / "out"
    calls = []

    def cancel():  # checked before each of the 2 sessions and before the renames: stop at the second
        calls.append(1)
        return len(calls) >= 2

    with pytest.raises(Cancelled):
        import_to_session(src, out, "folder", cancel=cancel, pattern="R_{rep}_C_{class}.csv", sample_rate_hz=100)
    assert not out.exists()
    r = import_to_session(src, out, "folder", pattern="R_{rep}_C_{class}.csv", sample_rate_hz=100)
    assert r.paths == [out / "s1.h5", out / "s2.h5"] and [s["samples"] for s in r.summaries] == [80, 80]
    assert _files(out) == ["s1.h5", "s2.h5"]
    with pytest.raises(FileExistsError, match="s1.h5"):
        import_to_session(src, out, "folder", pattern="R_{rep}_C_{class}.csv", sample_rate_hz=100)


def test_folder_import_failure_keeps_the_old_sessions(tmp_path):
    src = _dataset(tmp_path / "d")
    out = tmp_path / "out"
    import_to_session(src, out, "folder", pattern="R_{rep}_C_{class}.csv", sample_rate_hz=100)
    before = (out / "s1.h5").read_bytes()
    (src / "s2" / "R_1_C_1.csv").write_text("1,2,3\nx,y\n")  # s2 fails after s1 was written (staged)
    with pytest.raises(ImportFormatError, match="R_1_C_1.csv"):
        import_to_session(src, out, "folder", force=True, pattern="R_{rep}_C_{class}.csv", sample_rate_hz=100)
    assert (out / "s1.h5").read_bytes() == before and _files(out) == ["s1.h5", "s2.h5"]


def test_guess_format(tmp_path, shared_data):
    neuro = shared_data / "emg" / "neurotron"
    assert guess_format(neuro / "emg50.csv") == "neurotron"
    assert guess_format(neuro / "emg_data_001_alex.csv") == "neurotron"
    folder = shared_data / "emg" / "myo-readings" / "_readings_left_hand" / "44444-1"
    assert guess_format(folder) == "myo-readings" and guess_format(folder / "3.txt") == "myo-readings"
    (tmp_path / "x.csv").write_text("time;emg\n0;1\n")
    assert guess_format(tmp_path / "x.csv") == "csv"
    assert guess_format(_dataset(tmp_path / "d")) == "folder"
    (tmp_path / "rec.xdf").write_bytes(b"XDF:" + bytes(20))
    assert guess_format(tmp_path / "rec.xdf") == "xdf"
    (tmp_path / "empty.txt").write_text("")
    assert guess_format(tmp_path / "empty.txt") == "csv"
    with pytest.raises(ImportFormatError, match="empty.txt"):
        guess_format(tmp_path / "empty.txt", strict=True)
    with pytest.raises(ImportFormatError, match="0.txt"):
        guess_format(tmp_path / "d", strict=True)
    with pytest.raises(FileNotFoundError, match="nothing.csv"):
        guess_format(tmp_path / "nothing.csv", strict=True)


def test_cli_imports_through_import_to_session(tmp_path, monkeypatch, capsys):
    from recorder.cli.emgrec import main

    calls = []
    real = import_job.import_to_session

    def spy(*a, **kw):
        calls.append((a, kw))
        return real(*a, **kw)

    monkeypatch.setattr(import_job, "import_to_session", spy)
    src = _csv(tmp_path / "e.csv")
    out = tmp_path / "e.h5"
    assert main(["import", str(src), "--emg-columns", "a,b", "--time-column", "t", "--out", str(out)]) == 0
    assert len(calls) == 1 and calls[0][0][:3] == (str(src), str(out), "csv") and calls[0][1]["force"] is False
    assert "format: csv (detected" in capsys.readouterr().out
    assert main(["import", str(src), "--emg-columns", "a,b", "--time-column", "t", "--out", str(out)]) == 1
    assert "exists" in capsys.readouterr().err and len(calls) == 2
