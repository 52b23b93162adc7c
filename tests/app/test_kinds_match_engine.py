"""The GUI's Armband list offers only EMG source kinds the engine's factory knows, and each builds a
spec it accepts (the kinds are listed in the engine once: recorder.sources.EMG_SPEC_HELP)."""
import re

from app.capture_view import EMG_KINDS, emg_spec
from recorder.sources import EMG_SPEC_HELP, open_emg


def _engine_kinds() -> set[str]:
    return {re.split(r"[:\[]", s.strip())[0] for s in EMG_SPEC_HELP.split("|")}


def test_every_armband_kind_is_an_engine_kind():
    # "spec" is the free-form entry: the typed spec goes to the engine as it is.
    assert {k for _, k in EMG_KINDS} - {"spec"} <= _engine_kinds()
    assert emg_spec("spec", " lsl:EMG ") == "lsl:EMG"


def test_the_gui_and_record_commands_show_the_engine_list():
    import argparse

    from recorder.cli import build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for cmd in ("gui", "record"):
        emg = next(a for a in sub.choices[cmd]._actions if a.dest == "emg")
        assert EMG_SPEC_HELP in emg.help, cmd  # `gui --help` had lost brainflow and myo-ble


def test_an_armband_spec_reaches_the_engine_factory():
    # A port-less kind is refused by the GUI helper with a message, a kind with its argument
    # parses in the engine (creating a source does not open the device).
    src = open_emg(emg_spec("cyton", "/dev/nonexistent"))
    assert type(src).__name__ == "CytonDriver"
