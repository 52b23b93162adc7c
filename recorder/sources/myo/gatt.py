"""The Myo's GATT layer, shared by both transports: the BLED112 dongle (``myo.py``, by handle) and
the computer's own Bluetooth through bleak (``myo_ble.py``, by UUID).

Characteristics (myohw.h, Thalmic's public header): each :class:`Char` has its UUID and the ATT
handle the firmware gives it (the BLED112 path addresses by handle; its CCCD is handle + 1).
Commands are the bytes written to the command characteristic. :func:`connect_steps` is the one
connect sequence both transports execute (read firmware, name, battery; never sleep; subscribe;
set the EMG mode) and :func:`info_from_reads` turns its reads into the device info.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

_BASE = "d506{:04x}-a904-deb9-4748-2c7f4a124842"


def myo_uuid(short: int) -> str:
    """Full 128-bit UUID of a Myo-specific 16-bit id (myohw.h's MYO_SERVICE_BASE_UUID)."""
    return _BASE.format(short)


@dataclass(frozen=True)
class Char:
    name: str
    uuid: str | None
    handle: int

    @property
    def cccd(self) -> int:
        return self.handle + 1


CONTROL_SERVICE = myo_uuid(0x0001)
NAME = Char("name", "00002a00-0000-1000-8000-00805f9b34fb", 0x03)        # GAP device name
BATTERY = Char("battery", "00002a19-0000-1000-8000-00805f9b34fb", 0x11)  # battery level, %
FIRMWARE = Char("firmware", myo_uuid(0x0201), 0x17)
COMMAND = Char("command", myo_uuid(0x0401), 0x19)
#: 50 Hz smoothed EMG (undocumented in myohw.h; the handle myo-raw and pyomyo use). BLED112 only.
EMG50 = Char("emg50", None, 0x27)
#: Raw EMG, 200 Hz: notifications of 2 samples x 8 int8 rotate over these four, in this order.
RAW = tuple(Char(f"emg{k}", myo_uuid(0x0105 + 0x100 * k), h) for k, h in enumerate((0x2B, 0x2E, 0x31, 0x34)))

EMG_MODE_OFF, EMG_MODE_50HZ, EMG_MODE_FILTERED, EMG_MODE_RAW = 0x00, 0x01, 0x02, 0x03
#: The end of a Myo's advert data: AD type 0x06 + the control service UUID, little-endian.
MYO_SERVICE_AD = bytes.fromhex("06 42 48 12 4A 7F 2C 48 47 B9 DE 04 A9 01 00 06 D5")


def set_mode(emg: int, imu: int = 0, classifier: int = 0) -> bytes:
    """Command 0x01 (set mode): EMG mode, IMU mode, classifier mode."""
    return bytes([0x01, 0x03, emg, imu, classifier])


def sleep_mode(never: bool = True) -> bytes:
    """Command 0x09: 1 = never sleep (while we stream), 0 = normal (sleeps when not worn)."""
    return bytes([0x09, 0x01, 0x01 if never else 0x00])


def vibrate(kind: int = 1) -> bytes:
    """Command 0x03: 1 short, 2 medium, 3 long."""
    return bytes([0x03, 0x01, kind])


def deep_sleep() -> bytes:
    """Command 0x04: off until plugged into USB."""
    return bytes([0x04, 0x00])


def parse_firmware(value: bytes) -> tuple[int, int, int, int]:
    """(major, minor, patch, hardware revision) of the firmware characteristic."""
    return struct.unpack("<4H", bytes(value)[:8])


def raw_samples(value: bytes) -> np.ndarray:
    """One raw EMG notification (16 bytes) -> (2, 8) int8 samples, oldest first."""
    return np.frombuffer(bytes(value), dtype=np.int8).reshape(2, 8)


@dataclass(frozen=True)
class Step:
    """One GATT operation: op "read" | "write" | "subscribe" | "mode" ("mode" is the set-mode write:
    EMG data may follow it at once, so transports may prepare for data before executing it)."""

    op: str
    char: Char
    data: bytes = b""


def connect_steps(emg_mode: int) -> list[Step]:
    """The connect sequence after the link is up: identify, keep awake, subscribe, start EMG."""
    data_chars = RAW if emg_mode in (EMG_MODE_RAW, EMG_MODE_FILTERED) else (EMG50,)
    return ([Step("read", FIRMWARE), Step("read", NAME), Step("read", BATTERY),
             Step("write", COMMAND, sleep_mode(never=True))]
            + [Step("subscribe", c) for c in data_chars]
            + [Step("subscribe", BATTERY), Step("mode", COMMAND, set_mode(emg_mode))])


def stop_steps() -> list[Step]:
    return [Step("write", COMMAND, set_mode(EMG_MODE_OFF))]


def info_from_reads(reads: dict[str, bytes]) -> dict:
    """{"firmware", "hardware_rev", "name", "battery_pct"} from the reads of :func:`connect_steps`."""
    major, minor, patch, hw = parse_firmware(reads["firmware"])
    return {"firmware": f"{major}.{minor}.{patch}", "hardware_rev": hw,
            "name": bytes(reads["name"]).decode("utf-8", errors="replace"), "battery_pct": int(reads["battery"][0])}
