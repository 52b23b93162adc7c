"""Import dialog: a real myo-readings session folder through the real dialog; a malformed CSV whose
error names the line and leaves no file; Cancel leaves no file; the main window refreshes the
library after an import and can open the new session in Review."""
import functools

import numpy as np
import pytest

from app.dialogs.import_dialog import ImportDialog, guess_format
from recorder.session.format import SessionReader


@pytest.fixture
def make_dialog(open_dialog):
    return functools.partial(open_dialog, ImportDialog, shutdown_timeout_s=30)


def _finish(qtbot, dlg, w, timeout=30000):
    qtbot.waitUntil(lambda: w.done and dlg.import_button.isEnabled(), timeout=timeout)


def test_import_myo_readings_folder(qtbot, make_dialog, shared_data, tmp_path):
    src = shared_data / "emg" / "myo-readings" / "_readings_right_hand" / "12345-1"
    if not src.is_dir():
        pytest.skip(f"{src} not available")
    lib = tmp_path / "library"
    dlg = make_dialog(lib, src)
    assert dlg.fmt() == "myo-readings" and not dlg.csv_box.isVisible()
    first = (src / "0.txt").read_text().splitlines()
    assert dlg.preview.toPlainText().splitlines()[:5] == first[:5]  # preview of the folder's first file
    assert dlg.out_edit.text() == str(lib / "12345-1.h5")
    with qtbot.waitSignal(dlg.imported, timeout=60000) as sig:
        w = dlg.start_import()
        assert w is not None, dlg.error_label.text()
    out = lib / "12345-1.h5"
    assert sig.args == [str(out)] and not dlg.error_label.text()
    n_lines = sum(len((src / f"{k}.txt").read_text().splitlines()) for k in range(8))
    with SessionReader(out) as r:
        s = r.summary()
        names = {n for _, _, n in r.labels}
        x = np.asarray(r.emg_data[:5])
    assert s["samples"] == n_lines and s["channels"] == 8 and s["sample_rate_hz"] == 200.0
    assert s["gaps"] == 7  # one recorded gap between each of the 8 concatenated files
    assert {"rest", "wrist flexion", "fist"} <= names
    np.testing.assert_array_equal(x, np.array([[int(v) for v in ln.split(",")[:8]] for ln in first[:5]]))
    assert [p.name for p in lib.iterdir()] == ["12345-1.h5"]  # no temporary file left
    assert f"{n_lines} samples" in dlg.status.text()
    with qtbot.waitSignal(dlg.open_requested, timeout=1000) as sig:
        dlg.open_button.click()
    assert sig.args == [str(out)]


def test_malformed_csv_names_line(qtbot, make_dialog, tmp_path):
    src = tmp_path / "bad.csv"
    rows = ["t,a,b,c,label"] + [f"{i * 10},{i},{-i},{2 * i},0" for i in range(6)]
    rows.insert(4, "40,1,2")  # line 5 (the header is line 1): 3 fields instead of 5
    src.write_text("\n".join(rows) + "\n")
    lib = tmp_path / "lib"
    dlg = make_dialog(lib, src)
    assert dlg.fmt() == "csv" and dlg.csv_box.isVisible()
    assert "0: t" in dlg.columns_hint.text() and "4: label" in dlg.columns_hint.text()
    dlg.emg_columns.setText("a,b,c")
    dlg.time_column.setText("t")
    assert dlg.rate.value() == 0  # a time column: the rate is measured unless given
    dlg.time_unit.setCurrentIndex(dlg.time_unit.findData("ms"))
    dlg.label_column.setText("label")
    w = dlg.start_import()
    assert w is not None, dlg.error_label.text()
    _finish(qtbot, dlg, w)
    msg = dlg.error_label.text()
    assert "bad.csv line 5" in msg and "expected 5 fields, got 3" in msg and "Not a valid csv file" in msg
    assert "failed" in dlg.status.text() and not dlg.open_button.isVisible()
    assert not lib.exists() or list(lib.iterdir()) == []
    # Fixed file: the same mapping imports, times in ms become 100 Hz.
    src.write_text("\n".join(r for r in rows if r != "40,1,2") + "\n")
    with qtbot.waitSignal(dlg.imported, timeout=20000) as sig:
        dlg.start_import()
    with SessionReader(sig.args[0]) as r:
        assert r.channel_names == ["a", "b", "c"] and r.n_samples == 6
        assert abs(r.sample_rate_hz - 100.0) < 1e-9


def test_validation_and_cancel(qtbot, make_dialog, tmp_path):
    lib = tmp_path / "lib"
    dlg = make_dialog(lib)
    assert dlg.start_import() is None and "Choose a file" in dlg.error_label.text()
    src = tmp_path / "plain.csv"
    src.write_text("\n".join(f"{i},{i + 1}" for i in range(2000)) + "\n")
    dlg.set_source(src)
    assert dlg.fmt() == "csv" and dlg.out_edit.text() == str(lib / "plain.h5")
    dlg.emg_columns.setText("0-1")
    dlg.rate.setValue(0)
    assert dlg.start_import() is None and "sample rate" in dlg.error_label.text()
    dlg.rate.setValue(500)
    w = dlg.start_import()
    assert dlg.cancel_button.isEnabled() and not dlg.import_button.isEnabled()
    dlg.cancel_button.click()  # honoured when the importer returns: its file is discarded
    _finish(qtbot, dlg, w)
    assert w.cancelled and "cancelled" in dlg.status.text()
    assert not lib.exists() or list(lib.iterdir()) == []


def test_guess_format(shared_data, tmp_path):
    neuro = shared_data / "emg" / "neurotron"
    if neuro.is_dir():
        assert guess_format(neuro / "emg50.csv") == "neurotron"
        assert guess_format(neuro / "emg_data_001_alex.csv") == "neurotron"
    one = shared_data / "emg" / "myo-readings" / "_readings_left_hand" / "44444-1" / "3.txt"
    if one.is_file():
        assert guess_format(one) == "myo-readings"
    (tmp_path / "x.csv").write_text("time;emg\n0;1\n")
    assert guess_format(tmp_path / "x.csv") == "csv"


def test_main_window_import_refreshes_library(qtbot, tmp_path, monkeypatch):
    from app.main_window import MainWindow
    from app.qt.settings import Settings

    settings = Settings(tmp_path / "settings.ini")
    lib = tmp_path / "sessions"
    lib.mkdir()
    settings.set_output_dir(lib)
    win = MainWindow(settings)
    qtbot.addWidget(win)
    try:
        assert {"Import…", "Export…"} <= {a.text() for a in win.menuBar().actions()[0].menu().actions()}
        src = tmp_path / "emg.csv"
        src.write_text("\n".join(f"{i % 7},{-(i % 5)}" for i in range(400)) + "\n")
        win.library.import_button.click()
        dlg = win.import_dlg
        assert dlg is not None and dlg.folder == lib
        dlg.set_source(src)
        dlg.emg_columns.setText("0-1")
        dlg.rate.setValue(200)
        with qtbot.waitSignal(win.library.scan_finished, timeout=20000):
            with qtbot.waitSignal(dlg.imported, timeout=20000):
                dlg.start_import()
        qtbot.waitUntil(lambda: win.library.selected_path() == lib / "emg.h5", timeout=5000)
        assert [i.name for i in win.library.infos] == ["emg.h5"]
        opened = []
        monkeypatch.setattr(win, "open_session", opened.append)
        dlg.open_requested.disconnect()
        dlg.open_requested.connect(win.open_session)
        dlg.open_button.click()
        assert opened == [str(lib / "emg.h5")]
        # Export from the library selection: the dialog comes preselected with that session.
        win.tabs.setCurrentWidget(win.library)
        win.library.export_button.click()
        assert win.export_dlg.sessions() == [lib / "emg.h5"]
    finally:
        win.close()


def test_csv_with_time_first_defaults_to_time_column(qtbot, make_dialog, tmp_path):
    """Seen in use: the default EMG columns 0-7 took the time column as EMG and dropped ch8."""
    src = tmp_path / "timed.csv"
    src.write_text("time,c1,c2,c3,c4,c5,c6,c7,c8,label\n"
                   + "".join(f"{i / 200:.3f},{i},1,2,3,4,5,6,{i % 7},rest\n" for i in range(40)))
    dlg = make_dialog(tmp_path / "lib", src)
    assert dlg.fmt() == "csv"
    assert dlg.emg_columns.text() == "1-8" and dlg.time_column.text() == "time" and dlg.label_column.text() == "label"
    with qtbot.waitSignal(dlg.imported, timeout=30000):
        assert dlg.start_import() is not None, dlg.error_label.text()
    with SessionReader(tmp_path / "lib" / "timed.h5") as r:
        assert r.channel_names == [f"c{i}" for i in range(1, 9)]
        assert np.asarray(r.emg_data[:, 7]).tolist() == [i % 7 for i in range(40)]
        assert [n for *_, n in r.labels] == ["rest"]


def test_paired_emg_and_pose_files_with_alignment_preview(qtbot, make_dialog, tmp_path):
    emg = tmp_path / "emg.csv"
    emg.write_text("time,c1,c2\n" + "".join(f"12:25:{17 + i / 100:06.3f},{i % 5},{i % 3}\n" for i in range(300)))
    pose = tmp_path / "angles.csv"
    pose.write_text("timestamp,thumb,index\n"
                    + "".join(f"23/06/22 00:25:{16 + i / 20:06.3f},{100 + i},{120 + i}\n" for i in range(80)))
    dlg = make_dialog(tmp_path / "lib", emg)
    assert not dlg.pose_box.isVisible()
    dlg.set_pose(pose)
    assert dlg.fmt() == "paired" and dlg.pose_box.isVisible() and not dlg.csv_box.isVisible()
    assert "read as 2023-06-22T00:25:17" in dlg.alignment.text()  # the 12-hour clock resolved
    assert "# pose: angles.csv" in dlg.preview.toPlainText()
    with qtbot.waitSignal(dlg.imported, timeout=30000) as sig:
        assert dlg.start_import() is not None, dlg.error_label.text()
    with SessionReader(sig.args[0]) as r:
        assert r.n_frames == 80 and r.angle_names == ["thumb", "index"] and r.sample_rate_hz == 50.0


def test_paired_clock_and_offset_fields(qtbot, make_dialog, tmp_path):
    """The clocks, date, date order and pose offset of `emgrec import --pose` (CLI defaults)."""
    emg = tmp_path / "emg.csv"
    emg.write_text("time,c1,c2\n" + "".join(f"{1700000000 + i / 100:.2f},{i % 5},{i % 3}\n" for i in range(300)))
    pose = tmp_path / "angles.csv"
    pose.write_text("time,thumb\n" + "".join(f"{1700000000 + i / 20:.2f},{100 + i}\n" for i in range(60)))
    dlg = make_dialog(tmp_path / "lib", emg)
    dlg.set_pose(pose)
    assert [dlg.emg_clock.currentData(), dlg.pose_clock.currentData(), dlg.date_order.currentData()] == \
        ["auto", "auto", "ymd"] and dlg.pose_offset.value() == 0.0 and not dlg.date.text()
    assert "pose offset +0 s" in dlg.alignment.text()
    dlg.emg_clock.setCurrentIndex(dlg.emg_clock.findData("unix"))
    dlg.pose_clock.setCurrentIndex(dlg.pose_clock.findData("unix"))
    dlg.pose_offset.setValue(0.5)
    assert "pose offset +0.5 s" in dlg.alignment.text() and "(unix clock)" in dlg.alignment.text()
    with qtbot.waitSignal(dlg.imported, timeout=30000) as sig:
        assert dlg.start_import() is not None, dlg.error_label.text()
    import json
    with SessionReader(sig.args[0]) as r:
        al = json.loads(r.attrs["alignment"])
        assert al["pose_offset_s"] == 0.5 and al["emg_clock"] == "unix" and al["pose_clock"] == "unix"
        assert r.video_t[0] == pytest.approx(0.5, abs=1e-6)  # the pose clock moved by the offset


def test_one_table_of_emg_and_joints(qtbot, make_dialog, tmp_path):
    src = tmp_path / "joined.csv"
    header = ["t", "e1", "e2"] + [f"{a}{j}" for j in range(21) for a in "xyz"]
    rows = [[i / 100, i % 9, -(i % 4)] + list(np.arange(63) + 10.0 * (i // 4)) for i in range(40)]
    src.write_text(",".join(header) + "\n" + "\n".join(",".join(str(v) for v in r) for r in rows) + "\n")
    dlg = make_dialog(tmp_path / "lib", src)
    dlg.set_format("table")
    assert dlg.table_box.isVisible() and not dlg.csv_box.isVisible()
    assert dlg.joints.currentData() == "seed" and dlg.layout_combo.currentData() == "interleaved"
    assert dlg.start_import() is None and "EMG columns of the table" in dlg.error_label.text()
    dlg.table_emg_columns.setText("e1,e2")
    dlg.table_time_column.setText("t")
    dlg.joints.setCurrentIndex(dlg.joints.findData("numbered"))
    with qtbot.waitSignal(dlg.imported, timeout=30000) as sig:
        assert dlg.start_import() is not None, dlg.error_label.text()
    with SessionReader(sig.args[0]) as r:
        assert r.n_samples == 40 and r.n_frames == 10 and r.channel_names == ["e1", "e2"]
        np.testing.assert_allclose(np.asarray(r.landmarks_world)[2], (np.arange(63) + 20.0).reshape(21, 3))


def test_dataset_folder(qtbot, make_dialog, tmp_path):
    src = tmp_path / "dataset"
    for s in ("s1", "s2"):
        (src / s).mkdir(parents=True)
        for c in range(2):
            np.savetxt(src / s / f"R_1_C_{c}.csv", np.full((30, 3), c), fmt="%d", delimiter=",")
    lib = tmp_path / "lib"
    dlg = make_dialog(lib, src)
    assert dlg.fmt() == "folder" and dlg.folder_box.isVisible() and dlg.out_edit.text() == str(lib)
    assert dlg.per.currentData() == "folder" and dlg.dat_dtype.text() == "<i2" and dlg.channels.value() == 0
    assert dlg.start_import() is None and "pattern" in dlg.error_label.text()
    dlg.pattern.setText("R_{rep}_C_{class}.csv")
    assert dlg.start_import() is None and "sample rate" in dlg.error_label.text()
    dlg.folder_rate.setValue(100)
    dlg.folder_columns.setText("0-1")
    with qtbot.waitSignal(dlg.imported, timeout=30000) as sig:
        assert dlg.start_import() is not None, dlg.error_label.text()
    assert sig.args == [str(lib / "s1.h5")] and sorted(p.name for p in lib.iterdir()) == ["s1.h5", "s2.h5"]
    assert "and 1 more sessions" in dlg.status.text()
    with SessionReader(lib / "s2.h5") as r:
        assert r.n_samples == 60 and r.channel_names == ["ch1", "ch2"]
    # Again: the sessions exist; a folder import never replaces them, and says which one.
    w = dlg.start_import()
    _finish(qtbot, dlg, w)
    assert "s1.h5" in dlg.error_label.text() and "exists" in dlg.error_label.text()


def test_xdf_is_guessed_and_imported(qtbot, make_dialog, tmp_path):
    from tests.recorder.xdf_writer import XdfWriter

    w = XdfWriter()
    w.stream(1, "EMG", "EMG", 2, 100.0, "int16", labels=["a", "b"], unit="microvolts")
    ts = np.arange(50) / 100.0
    w.samples(1, ts, np.arange(100).reshape(50, 2), "int16")
    w.footer(1, ts[0], ts[-1], 50, 100.0)
    w.save(tmp_path / "rec.xdf")
    dlg = make_dialog(tmp_path / "lib", tmp_path / "rec.xdf")
    assert dlg.fmt() == "xdf"
    with qtbot.waitSignal(dlg.imported, timeout=30000) as sig:
        assert dlg.start_import() is not None, dlg.error_label.text()
    with SessionReader(sig.args[0]) as r:
        assert r.n_samples == 50 and r.channel_names == ["a", "b"]


def test_dialog_and_cli_import_through_the_same_function(qtbot, make_dialog, tmp_path, monkeypatch):
    from recorder.imports import job as import_job
    from recorder.cli.emgrec import main

    calls = []
    real = import_job.import_to_session

    def spy(*a, **kw):
        calls.append(a[2])
        return real(*a, **kw)

    monkeypatch.setattr(import_job, "import_to_session", spy)
    src = tmp_path / "e.csv"
    src.write_text("".join(f"{i % 7},{-(i % 5)}\n" for i in range(100)))
    dlg = make_dialog(tmp_path / "lib", src)
    dlg.emg_columns.setText("0-1")
    with qtbot.waitSignal(dlg.imported, timeout=20000):
        assert dlg.start_import() is not None, dlg.error_label.text()
    assert main(["import", str(src), "--format", "csv", "--emg-columns", "0-1", "--rate", "200",
                 "--out", str(tmp_path / "cli.h5")]) == 0
    assert calls == ["csv", "csv"]
