"""EMG sources: the :class:`EmgSource` base and its errors (``base``), and one driver per device
(``myo``, ``myo_ble``, ``cyton``, ``brainflow_src``, ``replay``).

Turning a spec string (``--emg synthetic``, ``myo:PORT``...) into a source is
:func:`recorder.sources.open_emg`, one level above: it also builds emulator-backed and
in-process synthetic sources and the LSL inlet, which a driver must not import
(``docs/architecture.md``, import contracts in ``pyproject.toml``).
"""

from __future__ import annotations

from .base import DeviceError, DeviceLost, DeviceNotFound, EmgSource, SerialEmgSource

__all__ = ["EmgSource", "SerialEmgSource", "DeviceError", "DeviceLost", "DeviceNotFound"]


def __getattr__(name: str):
    # ``open_emg`` and ``EMG_SPEC_HELP`` lived here until the factory moved to recorder.sources;
    # forwarded at first use (not imported at module level, which would make every driver
    # depend on the emulators) so callers not yet updated keep working.
    if name in ("open_emg", "EMG_SPEC_HELP"):
        import importlib
        import warnings
        warnings.warn(f"recorder.devices.{name} moved to recorder.sources.{name}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module("recorder.sources"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
