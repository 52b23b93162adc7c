"""EMG source factory: :func:`open_emg` turns a user-facing spec string into a source.

It sits above the drivers (``recorder.sources``), the emulators (``recorder.sources``), the
in-process synthetic stream (``recorder.sources.synthetic``) and the LSL inlet (``recorder.sources.lsl``), so
none of those imports another to build a source (``docs/architecture.md``).

Specs: ``synthetic`` (synthetic subject through the Myo emulator and the real Myo driver),
``synthetic-cyton`` (same subject through the Cyton emulator), ``synthetic:RATExCH`` (in-process
synthetic stream, e.g. ``synthetic:2000x16``), ``myo:PORT``, ``myo50:PORT`` (50 Hz smoothed mode),
``cyton:PORT``, ``replay:FILE`` (a session file, at real speed), ``lsl:NAME`` (a Lab Streaming Layer
EMG stream by name), ``brainflow:BOARD[,key=value...]`` (any BrainFlow board with EMG/EXG channels,
e.g. ``brainflow:SYNTHETIC_BOARD`` or ``brainflow:GANGLION_BOARD,serial_port=/dev/ttyACM0``),
``myo-ble[:MAC]`` (the Myo over the computer's own Bluetooth with bleak, no dongle).

:data:`EMG_SOURCES` is the one table of these kinds: it writes :data:`EMG_SPEC_HELP` (the ``--emg``
help of ``emgrec record`` and ``emgrec gui``), the GUI's Armband list and its :func:`emg_spec`.
"""

from __future__ import annotations

from dataclasses import dataclass

from recorder.sources.base import EmgSource, SourceConfigError

__all__ = ["open_emg", "EMG_SPEC_HELP", "EMG_SOURCES", "EmgKind", "emg_spec", "open_synthetic_myo",
           "open_synthetic_cyton", "SYNTHETIC_REALISM", "REALISM_CHOICES", "DEMO_REALISM"]


@dataclass(frozen=True)
class EmgKind:
    """One way to write an EMG source spec: ``kind``, ``kind:ARG`` or ``kind[:ARG]`` (``optional``)."""

    kind: str              # what the spec starts with: "myo"
    label: str             # its entry in the GUI's Armband list; "" = not listed there (typed as a spec)
    arg: str = ""          # the argument's name in the help: "PORT"; "" = none
    placeholder: str = ""  # what the GUI's argument field suggests
    ask: str = ""          # what the GUI says when the argument is missing
    help: str = ""         # what the source is
    optional: bool = False

    @property
    def usage(self) -> str:
        """``myo:PORT``, ``myo-ble[:MAC]`` or ``synthetic``."""
        if not self.arg:
            return self.kind
        return f"{self.kind}[:{self.arg}]" if self.optional else f"{self.kind}:{self.arg}"


_PORT = "serial port, e.g. /dev/ttyACM0"

#: Every EMG source spec :func:`open_emg` accepts, in the order of the CLI help and the Armband list.
EMG_SOURCES = (
    EmgKind("synthetic", "Synthetic", help="synthetic subject through the Myo emulator and the real Myo driver"),
    EmgKind("synthetic-cyton", "", help="the same synthetic subject through the Cyton emulator"),
    EmgKind("synthetic", "", "RATExCH", help="in-process synthetic stream, e.g. synthetic:2000x16"),
    EmgKind("myo", "Myo (raw 200 Hz)", "PORT", _PORT, "choose a serial port for myo",
            "Thalmic Myo through a BLED112 dongle, raw 200 Hz"),
    EmgKind("myo50", "Myo (50 Hz)", "PORT", _PORT, "choose a serial port for myo50",
            "Thalmic Myo through a BLED112 dongle, 50 Hz smoothed mode"),
    EmgKind("cyton", "OpenBCI Cyton", "PORT", _PORT, "choose a serial port for cyton", "OpenBCI Cyton board"),
    EmgKind("replay", "Replay file", "FILE", "session .h5 or EMG file", "choose a file to replay",
            "a session file, at real speed"),
    EmgKind("lsl", "", "NAME", help="a Lab Streaming Layer EMG stream by name"),
    EmgKind("brainflow", "BrainFlow board", "BOARD[,key=value...]",
            "BOARD[,key=value...], e.g. GANGLION_BOARD,serial_port=/dev/ttyACM0",
            "name a BrainFlow board, e.g. SYNTHETIC_BOARD", "any BrainFlow board with EMG/EXG channels"),
    EmgKind("myo-ble", "Myo over Bluetooth (no dongle)", "MAC", "MAC address (empty: the strongest Myo seen)",
            help="the Myo over the computer's own Bluetooth (bleak), no dongle", optional=True),
)

EMG_SPEC_HELP = " | ".join(k.usage for k in EMG_SOURCES)

#: The synthetic subject's realism presets (``--realism`` of ``emgrec gui``/``record``/``lsl publish``
#: and the GUI's Subject list, for the synthetic armband and camera): (name, label, what it is).
SYNTHETIC_REALISM = (
    ("realistic", "Realistic subject",
     "band shifted between sessions, gain drift, fatigue, 50 Hz hum, motion artefacts, 50 ms "
     "electromechanical delay; camera latency 30-120 ms, MediaPipe-measured landmark jitter, dropouts, "
     "wrong-hand frames"),
    ("none", "Ideal subject", "exact EMG and landmarks, no latency: the ground truth tests check against"),
)
REALISM_CHOICES = tuple(name for name, _, _ in SYNTHETIC_REALISM)
#: The demo's subject (``emgrec gui``, ``emgrec record``, the app): every effect on (issue 11).
DEMO_REALISM = "realistic"


def emg_spec(kind: str, arg: str = "") -> str:
    """The spec of an Armband-list entry (a labelled row of :data:`EMG_SOURCES`) and its argument:
    ("myo", " /dev/x ") -> "myo:/dev/x"; ValueError saying what is missing."""
    row = next((k for k in EMG_SOURCES if k.kind == kind and k.label), None)
    if row is None:
        raise SourceConfigError(f"unknown armband kind {kind!r}")
    arg = arg.strip()
    if not row.arg or (row.optional and not arg):
        return row.kind
    if not arg:
        raise SourceConfigError(row.ask)
    return f"{row.kind}:{arg}"


def open_emg(spec: str, subject=None, seed: int = 0) -> EmgSource:
    """Create (not start) the EMG source named by ``spec``. ``subject`` is the synthetic subject that
    synthetic sources (and the synthetic camera) share, so EMG and hand move together."""
    kind, _, arg = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "synthetic" and not arg:
        return open_synthetic_myo(subject=subject, seed=seed)
    if kind == "synthetic":
        from recorder.sources.synthetic import SyntheticEmgSource
        try:
            rate, ch = (float(arg.lower().split("x")[0]), int(arg.lower().split("x")[1]))
        except (ValueError, IndexError):
            raise SourceConfigError(f"bad synthetic spec {spec!r}: expected synthetic:RATExCHANNELS, e.g. synthetic:2000x16") from None
        if subject is not None and subject.n_channels != ch:
            # Same person, motion and effects (seed, time origin, realism, session), an armband with
            # another electrode count.
            from recorder.sources.synthetic import SyntheticSubject
            subject = SyntheticSubject(seed=subject.seed, n_channels=ch, t_origin=subject.t_origin, sample_rate_hz=rate,
                                       realism=subject.realism, session=subject.session)
        return SyntheticEmgSource(subject=subject, sample_rate_hz=rate, n_channels=ch, seed=seed)
    if kind == "myo-ble":  # the MAC is optional: the strongest Myo seen
        from recorder.sources.myo.ble import MyoBleSource
        return MyoBleSource(arg or None)
    if kind == "synthetic-cyton":
        return open_synthetic_cyton(subject=subject, seed=seed)
    if not arg:
        raise SourceConfigError(f"EMG source {spec!r} needs a port or file: {EMG_SPEC_HELP}")
    if kind in ("myo", "myo50"):
        from recorder.sources.myo.driver import MyoDriver
        return MyoDriver(arg, mode="emg50" if kind == "myo50" else "raw")
    if kind == "cyton":
        from recorder.sources.cyton.driver import CytonDriver
        return CytonDriver(arg)
    if kind == "replay":
        from recorder.sources.replay import ReplaySource
        return ReplaySource(arg, realtime=True)
    if kind == "lsl":
        from recorder.sources.lsl import LslEmgSource
        return LslEmgSource(name=arg)
    if kind == "brainflow":
        from recorder.sources.brainflow import BrainFlowSource, parse_spec
        board, params = parse_spec(arg)
        return BrainFlowSource(board, params)
    raise SourceConfigError(f"unknown EMG source {spec!r}: expected {EMG_SPEC_HELP}")


def open_synthetic_myo(subject=None, seed: int = 0, **emulator_options):
    """A :class:`~recorder.sources.myo.driver.MyoDriver` (raw, 200 Hz) on a running
    :class:`~recorder.sources.myo.emulator.MyoEmulator`.

    subject: any object with ``emg(t (n,) seconds) -> (n, 8)`` (the synthetic subject); None for
    the emulator's band-limited noise. The driver owns the emulator: ``driver.close()`` closes it.
    """
    from recorder.sources.myo.driver import MyoDriver
    from recorder.sources.myo.emulator import MyoEmulator

    gen = subject.emg if subject is not None else None
    emu = MyoEmulator(generator=gen, seed=seed, **emulator_options).start()
    try:
        drv = MyoDriver(emu.port, mode="raw", reconnect=True)
    except Exception:
        emu.close()
        raise
    drv.emulator, drv._emulated = emu, True
    return drv


def open_synthetic_cyton(subject=None, seed: int = 0, **emulator_options):
    """A real :class:`~recorder.sources.cyton.driver.CytonDriver` talking to a
    :class:`~recorder.sources.cyton.emulator.CytonEmulator` on a pty. With ``subject`` (anything with
    ``emg(t) -> (n, 8)`` of about int8 scale) the EMG follows it, scaled x 5 to microvolts;
    otherwise band-limited noise. ``driver.close()`` closes the emulator too."""
    import numpy as np

    from recorder.sources.cyton.driver import CytonDriver
    from recorder.sources.cyton.emulator import CytonEmulator

    generator = None
    if subject is not None:
        def generator(t: np.ndarray) -> np.ndarray:
            return np.asarray(subject.emg(t), dtype=np.float64) * 5.0
    emu = CytonEmulator(generator, seed=seed, **emulator_options).start()
    try:
        drv = CytonDriver(emu.port)
    except BaseException:
        emu.close()
        raise
    drv._emulator = emu
    return drv
