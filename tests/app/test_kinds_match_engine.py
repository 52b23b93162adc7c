"""The GUI's Armband list is the engine's table of EMG source kinds (recorder.sources.factory.EMG_SOURCES),
which also writes the CLI help (EMG_SPEC_HELP); each entry builds a spec the engine's factory accepts."""
import re

import pytest

from app.capture.view import EMG_KINDS, emg_spec, panel_choice
from recorder.sources.factory import EMG_SOURCES, EMG_SPEC_HELP, open_emg


def _engine_kinds() -> set[str]:
    return {re.split(r"[:\[]", s.strip())[0] for s in EMG_SPEC_HELP.split("|")}


def test_the_armband_list_is_the_engine_table():
    # every labelled row, in the table's order, then the free-form entry ("spec": typed in full)
    assert EMG_KINDS == [(k.label, k.kind) for k in EMG_SOURCES if k.label] + [("Other (source spec)", "spec")]
    assert {k for _, k in EMG_KINDS} - {"spec"} <= _engine_kinds()
    assert emg_spec("spec", " lsl:EMG ") == "lsl:EMG"


def test_the_help_is_the_engine_table():
    assert EMG_SPEC_HELP == " | ".join(k.usage for k in EMG_SOURCES)
    assert {k.kind for k in EMG_SOURCES} == _engine_kinds()


def test_the_gui_and_record_commands_show_the_engine_list():
    import argparse

    from recorder.cli.emgrec import build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for cmd in ("gui", "record"):
        emg = next(a for a in sub.choices[cmd]._actions if a.dest == "emg")
        assert EMG_SPEC_HELP in emg.help, cmd  # `gui --help` had lost brainflow and myo-ble


@pytest.mark.parametrize("row", [k for k in EMG_SOURCES if k.label], ids=lambda k: k.kind)
def test_every_armband_entry_builds_a_spec_the_factory_knows(row):
    # Creating a source does not open the device; a kind without its argument is refused with the
    # row's own question, and the Sources panel shows the spec back as the same entry.
    arg = {"PORT": "/dev/nonexistent", "FILE": "x.h5", "MAC": "AA:BB", "BOARD[,key=value...]": "SYNTHETIC_BOARD"}
    spec = emg_spec(row.kind, f" {arg.get(row.arg, '')} ")
    assert spec == (f"{row.kind}:{arg[row.arg]}" if row.arg else row.kind)
    assert panel_choice(spec) == (row.kind, arg.get(row.arg, ""))
    if row.arg and not row.optional:
        with pytest.raises(ValueError, match=re.escape(row.ask)):
            emg_spec(row.kind, "  ")
        assert row.ask and row.placeholder
    if row.kind in ("myo", "myo50", "cyton", "brainflow", "synthetic"):   # these need no file or Bluetooth
        assert open_emg(spec) is not None


def test_an_unlabelled_engine_kind_is_not_an_armband_entry():
    with pytest.raises(ValueError, match="unknown armband kind"):
        emg_spec("lsl", "EMG")
