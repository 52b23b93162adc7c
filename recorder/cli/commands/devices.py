"""``emgrec devices``: list serial ports and say which look like a Myo dongle or an OpenBCI Cyton."""

from __future__ import annotations

import json


def register(subparsers) -> None:
    p = subparsers.add_parser("devices", help="list serial ports and recognised EMG dongles", description=__doc__)
    p.add_argument("--all", action="store_true", help="also list ports that are not a known dongle")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_devices)


def _devices(args) -> int:
    from recorder.sources.ports import list_ports

    ports = list_ports(recognised_only=not args.all)
    _brainflow_note(args)
    _ble_note(args)
    if args.json:
        print(json.dumps([p.to_dict() for p in ports], indent=2))
        return 0
    if args.all and not args.json:
        _brainflow_table()
    if not ports:
        what = "serial ports" if args.all else "Myo (BLED112) or OpenBCI (FTDI) dongles"
        print(f"No {what} found. The built-in synthetic armband needs none (EMG source 'synthetic').")
        return 0
    w = max(len(p.device) for p in ports)
    print(f"{'PORT':<{w}}  {'KIND':<6}  {'USB ID':<9}  DESCRIPTION")
    for p in ports:
        spec = p.kind or "-"
        print(f"{p.device:<{w}}  {spec:<6}  {p.usb_id:<9}  {p.description}")
    kinds = {p.kind for p in ports if p.kind}
    if kinds:
        example = next(p for p in ports if p.kind)
        print(f"\nUse e.g. --emg {example.kind}:{example.device}")
    return 0


def _brainflow_note(args) -> None:
    """One line (stderr, so --json stays parseable) on BrainFlow boards, or what to install."""
    import sys
    from recorder.sources.brainflow import INSTALL_HINT, list_boards
    boards = list_boards()
    if not boards:
        print(f"BrainFlow boards: unavailable, {INSTALL_HINT}", file=sys.stderr)
    elif not args.all:
        print(f"BrainFlow: {len(boards)} boards with EMG/EXG channels (--emg brainflow:BOARD[,serial_port=...]); "
              f"--all lists them", file=sys.stderr)


def _brainflow_table() -> None:
    from recorder.sources.brainflow import list_boards
    boards = list_boards()
    if boards:
        w = max(len(b[0]) for b in boards)
        print(f"{'BRAINFLOW BOARD':<{w}}  {'ID':>3}  {'CH':>3}  {'RATE':>6}  NAME")
        for name, bid, desc, n, rate in boards:
            print(f"{name:<{w}}  {bid:>3}  {n:>3}  {rate:>6g}  {desc}")
        print()


def _ble_note(args) -> None:
    """The Myos seen over the computer's own Bluetooth (a 3 s scan), or why none can be."""
    import sys
    from recorder.sources.base import DeviceError
    try:
        from recorder.sources.myo.ble import list_myos
        myos, problem = list_myos(3.0)
    except DeviceError as e:
        myos, problem = [], str(e)
    out = sys.stderr if args.json else sys.stdout
    if problem:
        print(f"Myo over Bluetooth: unavailable, {problem}", file=sys.stderr)
    elif not myos:
        print("Myo over Bluetooth: none seen in a 3 s scan", file=sys.stderr)
    for addr, name, rssi in myos:
        print(f"Myo over Bluetooth: {addr}  {name}  RSSI {rssi}  (--emg myo-ble:{addr})", file=out)
