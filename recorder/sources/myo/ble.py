"""The Myo over the computer's own Bluetooth (``--emg myo-ble[:MAC]``), no BLED112 dongle, with bleak
(optional extra ``[devices]``).

Raw 200 Hz int8 EMG only (the 50 Hz smoothed characteristic has no documented UUID). The GATT
sequence (identify, never sleep, subscribe, set mode; EMG off on stop) is :mod:`myo_gatt`'s, the
same the BLED112 driver runs, executed here by UUID. Indexing follows the round-robin of the four
raw characteristics (a skipped one = 2 lost samples per notification); after a reconnect the index
is placed by the fitted clock, so the outage is a recorded gap. Times: the same clock fit as
every driver (:meth:`EmgSource._emit`), from the arrival time of each notification.

bleak runs in an asyncio loop on this source's reader thread. ``client_factory`` and ``scanner``
are injectable: the tests use a fake client (there is no Bluetooth hardware in CI).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

import numpy as np

from recorder.core.clock import now
from recorder.core.types import DeviceState
from recorder.sources.myo import gatt as myo_gatt
from recorder.sources.base import DeviceError, DeviceLost, DeviceNotFound, EmgSource

log = logging.getLogger(__name__)

INSTALL_HINT = "the bleak package is not installed: pip install 'emgrec[devices]' (or pip install bleak)"
NO_ADAPTER = ("no Bluetooth adapter is available ({}): plug one in / switch Bluetooth on, or use the BLED112 "
              "dongle with --emg myo:PORT")
_POS = {c.uuid: k for k, c in enumerate(myo_gatt.RAW)}


def _bleak():
    try:
        import bleak
    except ImportError:
        raise DeviceError(INSTALL_HINT) from None
    return bleak


def _is_myo(adv) -> bool:
    uuids = [u.lower() for u in (getattr(adv, "service_uuids", None) or [])]
    return myo_gatt.CONTROL_SERVICE in uuids


async def scan_myos(timeout_s: float = 4.0, scanner=None) -> list[tuple[str, str, int | None]]:
    """(address, name, rssi) of the Myos advertising nearby. DeviceNotFound without an adapter."""
    if scanner is None:
        scanner = _bleak().BleakScanner
    try:
        found = await scanner.discover(timeout=timeout_s, return_adv=True)
    except Exception as e:  # BleakError, FileNotFoundError (no BlueZ/D-Bus), OSError, ...
        raise DeviceNotFound(NO_ADAPTER.format(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)) from None
    out = []
    for dev, adv in found.values():
        if _is_myo(adv):
            out.append((dev.address, dev.name or getattr(adv, "local_name", "") or "", getattr(adv, "rssi", None)))
    return sorted(out, key=lambda r: -(r[2] or -999))


def list_myos(timeout_s: float = 3.0) -> tuple[list[tuple[str, str, int | None]], str]:
    """For ``emgrec devices``: (Myos seen, message when Bluetooth cannot be used)."""
    try:
        _bleak()
        return asyncio.run(scan_myos(timeout_s)), ""
    except DeviceError as e:
        return [], str(e)


class MyoBleSource(EmgSource):
    """Myo raw EMG (n, 8) int8 at 200 Hz through bleak. address: "AA:BB:..." (or a platform id) of
    one armband, None for the strongest Myo seen."""

    kind = "myo-ble"
    sample_rate_hz = 200.0
    channel_names = [f"emg{i}" for i in range(1, 9)]
    units = "counts"
    scale_to_uV = float("nan")
    dtype = np.int8
    scan_timeout_s = 8.0
    lost_after_s = 1.0
    reconnect_interval_s = 0.5

    def __init__(self, address: str | None = None, reconnect: bool = True, *,
                 client_factory: Callable | None = None, scanner=None):
        super().__init__()
        self.address = address.strip() if address else None
        self.reconnect = reconnect
        self._client_factory = client_factory
        self._scanner = scanner
        if client_factory is None or scanner is None:
            b = _bleak()
            self._client_factory = client_factory or b.BleakClient
            self._scanner = scanner or b.BleakScanner
        self._cursor: int | None = None
        self._last_pos: int | None = None
        self._place_next = False
        self._last_data = 0.0
        self._disconnected: asyncio.Event | None = None
        self._status.info.update(address=self.address or "")

    def describe(self) -> dict:
        return {**super().describe(), "transport": "bleak"}

    # -- reader thread ------------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        first = True
        while not self._stop.is_set():
            self._set_state(DeviceState.CONNECTING if first else DeviceState.RECONNECTING)
            try:
                await self._session()
            except DeviceLost as e:
                log.warning("Myo (BLE) lost: %s", e)
                self._update_status(last_error=str(e))
            except DeviceNotFound as e:
                if first or not self.reconnect:
                    raise
                self._update_status(last_error=str(e))
            first = False
            if self._stop.is_set():
                break
            if not self.reconnect:
                raise DeviceLost("the Myo (BLE) was lost and reconnect is off")
            await asyncio.sleep(self.reconnect_interval_s)

    async def _find(self):
        if self.address:
            dev = await self._call(self._scanner.find_device_by_address(self.address, timeout=self.scan_timeout_s))
            if dev is None:
                raise DeviceNotFound(f"no Bluetooth device {self.address} found in {self.scan_timeout_s:.0f} s "
                                     "(is the Myo charged, awake, in range and not connected elsewhere?)")
            return dev
        myos = await scan_myos(self.scan_timeout_s, self._scanner)
        if not myos:
            raise DeviceNotFound(f"no Myo armband seen over Bluetooth in {self.scan_timeout_s:.0f} s "
                                 "(is it charged, awake, in range and not connected elsewhere?)")
        return myos[0][0]

    async def _call(self, coro):
        try:
            return await coro
        except (DeviceError, asyncio.CancelledError):
            raise
        except Exception as e:
            raise DeviceNotFound(NO_ADAPTER.format(f"{type(e).__name__}: {e}")) from None

    async def _session(self) -> None:
        target = await self._find()
        loop = asyncio.get_running_loop()
        self._disconnected = asyncio.Event()
        client = self._client_factory(target, disconnected_callback=lambda _c: loop.call_soon_threadsafe(
            self._disconnected.set))
        try:
            await client.connect()
        except Exception as e:
            raise DeviceLost(f"cannot connect to {self.address or target}: {type(e).__name__}: {e}") from None
        try:
            services = client.services
            if services is not None and services.get_service(myo_gatt.CONTROL_SERVICE) is None:
                raise DeviceError(f"Bluetooth device {self.address or target} is not a Myo armband "
                                  f"(no Myo control service {myo_gatt.CONTROL_SERVICE})")
            reads = {}
            self._place_next = self._status.samples_received > 0  # a restarted stream: place by the clock
            self._last_pos = None
            for step in myo_gatt.connect_steps(myo_gatt.EMG_MODE_RAW):
                if step.op == "read":
                    reads[step.char.name] = bytes(await client.read_gatt_char(step.char.uuid))
                elif step.op == "subscribe":
                    await client.start_notify(step.char.uuid, self._notified)
                else:
                    await client.write_gatt_char(step.char.uuid, step.data, response=True)
            info = myo_gatt.info_from_reads(reads)
            self._update_status(state=DeviceState.STREAMING, battery_pct=info.pop("battery_pct"),
                                info={"address": str(getattr(target, "address", target)), **info})
            self._last_data = now()
            while not self._stop.is_set():
                try:
                    await asyncio.wait_for(self._disconnected.wait(), 0.1)
                    raise DeviceLost(f"Myo {self.address or target} disconnected")
                except asyncio.TimeoutError:
                    pass
                if now() - self._last_data > self.lost_after_s:
                    raise DeviceLost(f"no data from the Myo for {now() - self._last_data:.1f} s")
            for step in myo_gatt.stop_steps():
                try:
                    await client.write_gatt_char(step.char.uuid, step.data, response=True)
                except Exception:
                    pass  # the link is going anyway
        except DeviceLost:
            raise
        except DeviceError:
            raise
        except Exception as e:  # bleak errors mid-session: the link is gone
            raise DeviceLost(f"Myo (BLE): {type(e).__name__}: {e}") from None
        finally:
            try:
                await client.disconnect()
            except Exception:
                pass

    # -- notifications (event-loop thread = reader thread) --------------------------------------
    def _notified(self, char, data: bytearray) -> None:
        arrival = now()
        uuid = str(getattr(char, "uuid", char)).lower()
        if uuid == myo_gatt.BATTERY.uuid:
            if data:
                self._update_status(battery_pct=int(data[0]))
            return
        pos = _POS.get(uuid)
        if pos is None or len(data) != 16:
            self._count_bad_packet()
            return
        self._last_data = arrival
        x = myo_gatt.raw_samples(data)
        if self._cursor is None:
            start = 2 * pos  # align the index with the round-robin phase
        elif self._place_next:
            e = self.clock.expected_index(arrival - 0.5 / self.sample_rate_hz, 2)
            start = max(self._cursor, e if e is not None else self._cursor)
        else:
            missing = (pos - self._last_pos - 1) % 4 if self._last_pos is not None else 0
            start = self._cursor + 2 * missing
        self._place_next = False
        self._cursor, self._last_pos = start + 2, pos
        self._emit(x, arrival, first_index=start)
