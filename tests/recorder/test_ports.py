"""Serial-port discovery and ``emgrec devices``."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from recorder.cli.emgrec import main
from recorder.sources import ports


def test_kind_for_known_dongles():
    assert ports.kind_for(0x2458, 0x0001) == "myo"
    assert ports.kind_for(0x0403, 0x6015) == "cyton"
    assert ports.kind_for(0x0403, 0x6001) is None  # another FTDI chip is not the OpenBCI dongle
    assert ports.kind_for(None, None) is None


def _fake_ports(monkeypatch, infos):
    from serial.tools import list_ports

    monkeypatch.setattr(list_ports, "comports", lambda: infos)


FAKE = [
    SimpleNamespace(device="/dev/ttyS0", description="n/a", vid=None, pid=None),
    SimpleNamespace(device="/dev/ttyUSB0", description="FT231X USB UART", vid=0x0403, pid=0x6015),
    SimpleNamespace(device="/dev/ttyACM0", description="Low Energy Dongle", vid=0x2458, pid=0x0001),
]


def test_list_ports_recognises_and_sorts(monkeypatch):
    _fake_ports(monkeypatch, FAKE)
    found = ports.list_ports()
    assert [(p.device, p.kind) for p in found] == [
        ("/dev/ttyACM0", "myo"), ("/dev/ttyUSB0", "cyton"), ("/dev/ttyS0", None)]
    assert found[0].usb_id == "2458:0001" and found[2].usb_id == "-"
    assert found[2].description == ""
    assert [p.device for p in ports.list_ports(recognised_only=True)] == ["/dev/ttyACM0", "/dev/ttyUSB0"]


def test_devices_command_lists_dongles(monkeypatch, capsys):
    _fake_ports(monkeypatch, FAKE)
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "/dev/ttyACM0" in out and "myo" in out and "2458:0001" in out and "cyton" in out
    assert "/dev/ttyS0" not in out
    assert main(["devices", "--all", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["device"]: r["kind"] for r in rows}["/dev/ttyS0"] is None


@pytest.mark.parametrize("args", [["devices"], ["devices", "--all"]])
def test_devices_command_says_when_there_are_none(monkeypatch, capsys, args):
    _fake_ports(monkeypatch, [] if "--all" in args else FAKE[:1])
    assert main(args) == 0
    assert "No " in capsys.readouterr().out
