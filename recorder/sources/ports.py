"""Serial-port discovery: which plugged-in ports look like an EMG device we can drive.

Recognition is by USB VID:PID only (the BLED112 and the OpenBCI FTDI dongle report fixed ids), so it
works without opening a port. The spec strings ``myo:PORT`` / ``cyton:PORT`` of
:func:`recorder.sources.factory.open_emg` take the ``device`` of a :class:`PortInfo`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: USB (VID, PID) -> device kind.
KNOWN_DONGLES: dict[tuple[int, int], str] = {
    (0x2458, 0x0001): "myo",    # Bluegiga BLED112 (the Myo's Bluetooth dongle)
    (0x0403, 0x6015): "cyton",  # FTDI FT231X (the OpenBCI USB dongle)
}


@dataclass(frozen=True, slots=True)
class PortInfo:
    """One serial port. vid/pid are None for ports that are not USB; kind is "myo", "cyton" or None."""

    device: str
    description: str
    vid: int | None
    pid: int | None
    kind: str | None

    @property
    def usb_id(self) -> str:
        return f"{self.vid:04x}:{self.pid:04x}" if self.vid is not None and self.pid is not None else "-"

    def to_dict(self) -> dict:
        return asdict(self)


def kind_for(vid: int | None, pid: int | None) -> str | None:
    """Device kind of a USB (VID, PID), or None when it is not a dongle we know."""
    if vid is None or pid is None:
        return None
    return KNOWN_DONGLES.get((int(vid), int(pid)))


def list_ports(recognised_only: bool = False) -> list[PortInfo]:
    """Serial ports on this machine, recognised dongles first (then by device name)."""
    from serial.tools import list_ports as lp

    out = []
    for p in lp.comports():
        kind = kind_for(p.vid, p.pid)
        if recognised_only and kind is None:
            continue
        desc = p.description if p.description and p.description != "n/a" else ""
        out.append(PortInfo(p.device, desc, p.vid, p.pid, kind))
    out.sort(key=lambda p: (p.kind is None, p.device))
    return out
