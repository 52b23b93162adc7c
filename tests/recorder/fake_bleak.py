"""A fake bleak (scanner + client) with Myo armbands behind it, for tests without Bluetooth hardware.

It implements the parts of bleak's API that MyoBleSource uses (BleakScanner.discover with
return_adv, find_device_by_address, BleakClient connect/services/read/write/start_notify/disconnect)
and the Myo's GATT behaviour: the characteristics of recorder.sources.myo.gatt, the command
characteristic (sleep mode, set mode), and raw EMG notifications round-robin over the four
characteristics every 10 ms once raw mode is set. Sample k's values are ``truth(k)``; the stream
index is a function of time (as on the armband: samples of an outage are lost).
"""
import asyncio
import time
from types import SimpleNamespace

import numpy as np

from recorder.sources.myo import gatt as myo_gatt


def truth(k: np.ndarray) -> np.ndarray:
    """(n,) sample indices -> (n, 8) int8 values."""
    k = np.asarray(k, np.int64)[:, None]
    return (((k * 7 + np.arange(8) * 13) % 256) - 128).astype(np.int8)


class FakeMyo:
    def __init__(self, address: str, name: str = "Myo", rssi: int = -50, is_myo: bool = True):
        self.address, self.name, self.rssi, self.is_myo = address, name, rssi, is_myo
        self.t_origin = time.monotonic()
        self.commands: list[bytes] = []
        # counted in notifications from the start of the first stream (whenever that is):
        self.drop: set[int] = set()     # notifications never sent (lost over the air)
        self.drop_link_at: int | None = None  # notification at which the link drops
        self.j_start: int | None = None  # notification number of the first stream's start
        self.sent: list[int] = []       # notification numbers sent
        self.battery = 77

    def j_now(self) -> int:
        return int((time.monotonic() - self.t_origin) * 100)  # 100 notifications/s = 200 Hz


class FakeScanner:
    def __init__(self, myos, fail: Exception | None = None):
        self.myos, self.fail = {m.address: m for m in myos}, fail

    async def discover(self, timeout=5.0, return_adv=False):
        if self.fail:
            raise self.fail
        out = {}
        for m in self.myos.values():
            uuids = [myo_gatt.CONTROL_SERVICE] if m.is_myo else ["0000180d-0000-1000-8000-00805f9b34fb"]
            out[m.address] = (SimpleNamespace(address=m.address, name=m.name),
                              SimpleNamespace(service_uuids=uuids, rssi=m.rssi, local_name=m.name))
        return out

    async def find_device_by_address(self, address, timeout=5.0):
        if self.fail:
            raise self.fail
        m = self.myos.get(address)
        return SimpleNamespace(address=m.address, name=m.name) if m else None


class _Services:
    def __init__(self, myo):
        self.myo = myo

    def get_service(self, uuid):
        return object() if (self.myo.is_myo and uuid == myo_gatt.CONTROL_SERVICE) else None


class FakeClient:
    """Made by ``FakeClient.factory(scanner)`` -> a callable like ``BleakClient(target, disconnected_callback=)``."""

    def __init__(self, myo: FakeMyo, disconnected_callback=None):
        self.myo, self.cb = myo, disconnected_callback
        self.notify: dict[str, object] = {}
        self.task = None
        self.connected = False

    @classmethod
    def factory(cls, scanner: FakeScanner):
        def make(target, disconnected_callback=None, **kw):
            addr = getattr(target, "address", target)
            return cls(scanner.myos[addr], disconnected_callback)
        return make

    @property
    def services(self):
        return _Services(self.myo)

    async def connect(self):
        self.connected = True

    async def disconnect(self):
        self.connected = False
        if self.task:
            self.task.cancel()

    async def read_gatt_char(self, uuid):
        m = self.myo
        return {myo_gatt.FIRMWARE.uuid: bytearray(np.array([1, 5, 1970, 2], "<u2").tobytes()),
                myo_gatt.NAME.uuid: bytearray(m.name.encode()), myo_gatt.BATTERY.uuid: bytearray([m.battery])}[uuid]

    async def write_gatt_char(self, uuid, data, response=True):
        assert uuid == myo_gatt.COMMAND.uuid
        self.myo.commands.append(bytes(data))
        if bytes(data) == myo_gatt.set_mode(myo_gatt.EMG_MODE_RAW) and self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._stream())
        elif bytes(data) == myo_gatt.set_mode(myo_gatt.EMG_MODE_OFF) and self.task:
            self.task.cancel()

    async def start_notify(self, uuid, callback):
        self.notify[uuid] = callback

    async def _stream(self):
        m = self.myo
        j = m.j_now()
        if m.j_start is None:
            m.j_start = j
        while self.connected:
            if m.drop_link_at is not None and j - m.j_start >= m.drop_link_at:
                m.drop_link_at = None
                self.connected = False
                if self.cb:
                    self.cb(self)
                return
            if j - m.j_start not in m.drop:
                ch = myo_gatt.RAW[j % 4]
                vals = truth(np.array([2 * j, 2 * j + 1]))
                self.notify[ch.uuid](SimpleNamespace(uuid=ch.uuid), bytearray(vals.tobytes()))
                m.sent.append(j)
            j += 1
            delay = m.t_origin + j / 100 - time.monotonic()
            await asyncio.sleep(max(0.0, delay))
