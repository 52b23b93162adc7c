"""recorder.export.files.TARGETS: the one table of export formats behind `emgrec export` (choices, help,
the suffix rule, the unit printed) and the Export dialog (labels, suffixes, default names)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from recorder.export import files as ex
from recorder.cli.emgrec import build_parser, main


def test_table_is_complete():
    assert ex.FORMATS == ("npz", "h5", "csv", "mp4", "bids")
    for name, t in ex.TARGETS.items():
        assert t.name == name and t.description and t.unit and callable(t.writer)
        assert t.extension == ("" if name == "bids" else f".{name}")
    assert [n for n, t in ex.TARGETS.items() if t.per_session] == ["csv", "mp4"]


def test_cli_choices_and_help_come_from_the_table(capsys):
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    p = sub.choices["export"]
    fmt = next(a for a in p._actions if a.dest == "fmt")
    assert tuple(fmt.choices) == ex.FORMATS
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = "".join(capsys.readouterr().out.split())  # argparse wraps lines (also at hyphens)
    for t in ex.TARGETS.values():
        assert "".join(f"{t.name}: {t.description}".split()) in out


def test_format_from_suffix_and_output_paths(tmp_path):
    assert [ex.format_from_suffix(f"a{s}") for s in (".npz", ".h5", ".HDF5", ".csv", ".mp4", ".txt", "")] == \
        ["npz", "h5", "h5", "csv", "mp4", None, None]
    one, two = [tmp_path / "a.h5"], [tmp_path / "a.h5", tmp_path / "b.h5"]
    out = tmp_path / "o"
    assert ex.output_paths(two, out, "npz") == [out]
    assert ex.output_paths(one, tmp_path / "a.csv", "csv") == [tmp_path / "a.csv"]
    assert ex.output_paths(two, out, "mp4") == [out / "a.mp4", out / "b.mp4"]
    assert ex.written_files(two, tmp_path / "w.h5", "h5") == [tmp_path / "w.h5", tmp_path / "w.h5.json"]
    assert ex.written_files(two, out, "bids") == [out]


def test_default_output_names(tmp_path):
    lib = tmp_path / "sessions"
    a, b = lib / "a.h5", lib / "b.h5"
    base = tmp_path / "sessions-exports"
    assert ex.default_output([a], "h5") == base / "a_windows.h5"
    assert ex.default_output([a, b], "npz") == base / "a_and_1_more_windows.npz"
    assert ex.default_output([a], "mp4") == base / "a.mp4"
    assert ex.default_output([a, b], "csv") == base / "export_csv"
    assert ex.default_output([a], "bids") == base / "a_bids"
    base.mkdir()
    (base / "a.mp4").write_bytes(b"")
    assert ex.default_output([a], "mp4") == base / "a_2.mp4"  # never an existing name
    with pytest.raises(ex.ExportError):
        ex.default_output([], "h5")


def test_export_runs_the_tables_writer(tmp_path, monkeypatch):
    from recorder.imports.synthetic_sessions import make_synthetic_session

    s = make_synthetic_session(tmp_path / "s.h5", duration_s=2, seed=0)
    called = []

    def writer(session, out, **kw):
        called.append((Path(session), Path(out)))
        return ex.ExportResult(Path(out), "csv", 7)

    monkeypatch.setitem(ex.TARGETS, "csv", dataclasses.replace(ex.TARGETS["csv"], writer=writer, unit="lines"))
    assert main(["export", str(s), "--out", str(tmp_path / "o.csv"), "-q"]) == 0
    assert called == [(s, tmp_path / "o.csv")]
    with pytest.raises(ex.ExportError, match="unknown export format 'xls'"):
        ex.export([s], tmp_path / "o.xls", "xls")
