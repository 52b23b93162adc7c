"""EMG sources. :func:`open_emg` turns a user-facing spec string into a source.

Specs: ``synthetic`` (synthetic subject through the Myo emulator and the real Myo driver),
``synthetic-cyton`` (same subject through the Cyton emulator), ``synthetic:RATExCH`` (in-process
synthetic stream, e.g. ``synthetic:2000x16``), ``myo:PORT``, ``myo50:PORT`` (50 Hz smoothed mode),
``cyton:PORT``, ``replay:FILE`` (a session file, at real speed), ``lsl:NAME`` (a Lab Streaming Layer
EMG stream by name), ``brainflow:BOARD[,key=value...]`` (any BrainFlow board with EMG/EXG channels,
e.g. ``brainflow:SYNTHETIC_BOARD`` or ``brainflow:GANGLION_BOARD,serial_port=/dev/ttyACM0``),
``myo-ble[:MAC]`` (the Myo over the computer's own Bluetooth with bleak, no dongle).
"""

from __future__ import annotations

from .base import DeviceError, DeviceLost, DeviceNotFound, EmgSource, SerialEmgSource

__all__ = ["open_emg", "EmgSource", "SerialEmgSource", "DeviceError", "DeviceLost", "DeviceNotFound",
           "EMG_SPEC_HELP"]

EMG_SPEC_HELP = ("synthetic | synthetic-cyton | synthetic:RATExCH | myo:PORT | myo50:PORT | cyton:PORT | "
                 "replay:FILE | lsl:NAME | brainflow:BOARD[,key=value...] | myo-ble[:MAC]")


def open_emg(spec: str, subject=None, seed: int = 0) -> EmgSource:
    """Create (not start) the EMG source named by ``spec``. ``subject`` is the synthetic subject that
    synthetic sources (and the synthetic camera) share, so EMG and hand move together."""
    kind, _, arg = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "synthetic" and not arg:
        from .myo import open_synthetic_myo
        return open_synthetic_myo(subject=subject, seed=seed)
    if kind == "synthetic":
        from ..synthetic import SyntheticEmgSource
        try:
            rate, ch = (float(arg.lower().split("x")[0]), int(arg.lower().split("x")[1]))
        except (ValueError, IndexError):
            raise ValueError(f"bad synthetic spec {spec!r}: expected synthetic:RATExCHANNELS, e.g. synthetic:2000x16") from None
        if subject is not None and subject.n_channels != ch:
            # Same person and motion (seed, time origin), an armband with another electrode count.
            from ..synthetic import SyntheticSubject
            subject = SyntheticSubject(seed=subject.seed, n_channels=ch, t_origin=subject.t_origin, emg_rate_hz=rate)
        return SyntheticEmgSource(subject=subject, sample_rate_hz=rate, n_channels=ch, seed=seed)
    if kind == "myo-ble":  # the MAC is optional: the strongest Myo seen
        from .myo_ble import MyoBleSource
        return MyoBleSource(arg or None)
    if kind == "synthetic-cyton":
        from .cyton import open_synthetic_cyton
        return open_synthetic_cyton(subject=subject, seed=seed)
    if not arg:
        raise ValueError(f"EMG source {spec!r} needs a port or file: {EMG_SPEC_HELP}")
    if kind in ("myo", "myo50"):
        from .myo import MyoDriver
        return MyoDriver(arg, mode="emg50" if kind == "myo50" else "raw")
    if kind == "cyton":
        from .cyton import CytonDriver
        return CytonDriver(arg)
    if kind == "replay":
        from .replay import ReplaySource
        return ReplaySource(arg, realtime=True)
    if kind == "lsl":
        from ..lsl import LslEmgSource
        return LslEmgSource(name=arg)
    if kind == "brainflow":
        from .brainflow_src import BrainFlowSource, parse_spec
        board, params = parse_spec(arg)
        return BrainFlowSource(board, params)
    raise ValueError(f"unknown EMG source {spec!r}: expected {EMG_SPEC_HELP}")
