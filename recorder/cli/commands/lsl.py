"""``emgrec lsl``: publish a capture on Lab Streaming Layer, or list the visible LSL streams."""

from __future__ import annotations

import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser("lsl", help="Lab Streaming Layer: publish EMG/landmarks, list streams",
                              description=__doc__)
    sub = p.add_subparsers(dest="lsl_command", metavar="ACTION")
    pub = sub.add_parser("publish", help="stream an EMG source (and hand landmarks) to LSL outlets until Ctrl-C")
    pub.add_argument("--emg", default="synthetic", help="EMG source spec (default: synthetic)")
    pub.add_argument("--camera", default="none",
                     help="camera spec for a hand-landmark outlet: none (default) | synthetic | INDEX | FILE")
    pub.add_argument("--landmarks", default="auto", help="landmark mode when a camera is used (default: auto)")
    pub.add_argument("--name", default="emgrec", help="stream name prefix (default: emgrec -> emgrec-EMG, ...)")
    pub.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0: until Ctrl-C)")
    pub.add_argument("--seed", type=int, default=0, help="synthetic subject seed")
    from recorder.cli.commands import add_realism_argument
    add_realism_argument(pub)
    pub.add_argument("--model", metavar="DIR",
                     help="also publish this model's live predictions (pose: NAME-Predictions; gesture: markers)")
    pub.add_argument("--predict-hz", type=float, default=25.0, help="prediction rate with --model (default: 25)")
    pub.set_defaults(func=_publish)
    ls = sub.add_parser("list", help="list LSL streams visible on the network")
    ls.add_argument("--wait", type=float, default=1.0, help="seconds to listen for streams (default: 1)")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.set_defaults(func=_list)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _quiet_liblsl() -> None:
    """liblsl logs INFO lines to stderr when it loads; a user config (LSLAPICFG) wins over this."""
    import os
    import tempfile
    from pathlib import Path

    if "LSLAPICFG" in os.environ:
        return
    cfg = Path(tempfile.gettempdir()) / "emgrec-lsl_api.cfg"
    try:
        if not cfg.exists():
            cfg.write_text("[log]\nlevel = -2\n")   # warnings and errors only
        os.environ["LSLAPICFG"] = str(cfg)
    except OSError:
        pass   # only the INFO lines stay


def _publish(args) -> int:
    import threading

    _quiet_liblsl()

    from recorder.capture.engine import Capture
    from recorder.sources.lsl import LslOutlets

    predictor = None
    if args.model:
        from recorder.live.predictor import LivePredictor
        predictor = LivePredictor(args.model)
    capture = Capture.from_specs(emg=args.emg, camera=args.camera, landmarks=args.landmarks, seed=args.seed,
                                   realism=args.realism)
    if predictor is not None:
        predictor.check_source(capture.emg.sample_rate_hz, capture.emg.n_channels)
    outlets = LslOutlets(capture, name=args.name, landmarks=capture.landmarks is not None,
                         predictions=predictor is not None and predictor.task == "pose")
    runner = None
    if predictor is not None:
        from recorder.live.runner import LiveRunner

        def report_error(e: BaseException, n: int) -> None:
            if n == 1:  # the first at once; the count follows in the status lines
                print(f"prediction failed ({type(e).__name__}: {e}); still predicting", file=sys.stderr, flush=True)
        runner = LiveRunner(predictor, args.predict_hz, on_prediction=lambda p, _a, _t: outlets.push_live(p),
                            on_error=report_error, name="lsl-predict")
        capture.add_listener(runner)
    try:
        outlets.attach()
        capture.start()
        if runner is not None:
            runner.start()
        for o in outlets.outlets():
            print(f"publishing {o.name} ({o.info.type()}, {o.n_channels} ch, "
                  f"{o.info.nominal_srate():g} Hz)", flush=True)
        print("Ctrl-C to stop", flush=True)
        t_end = None if args.duration <= 0 else args.duration
        waited = 0.0
        ticker = threading.Event()
        while True:
            step = 5.0 if t_end is None else min(5.0, t_end - waited)
            if step <= 0:
                break
            ticker.wait(step)  # a timed wait, interrupted by Ctrl-C
            waited += step
            st = capture.emg.status()
            pred = ""
            if runner is not None:
                r = runner.stats()
                p = r["prediction"]
                pred = f", {r['predictions']} predictions" + (f" (EMG -> prediction p50 {p['p50_ms']:.0f} ms)"
                                                              if p.get("n") else "")
                if r["errors"]:
                    pred += f", {r['errors']} failed (last: {r['last_error']})"
            print(f"  {st.state.value}: {outlets.emg.samples_pushed} EMG samples pushed, "
                  f"{st.measured_rate_hz:.1f} Hz{pred}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        if runner is not None:
            runner.stop(2.0)
        capture.stop()
        outlets.close()
    return 0


def _list(args) -> int:
    _quiet_liblsl()
    from recorder.sources.lsl import list_streams

    streams = list_streams(args.wait)
    if args.json:
        json.dump(streams, sys.stdout, indent=1)
        print()
        return 0
    if not streams:
        print(f"no LSL streams found within {args.wait:g} s")
        return 0
    print(f"{'name':24} {'type':10} {'ch':>4} {'rate_hz':>8} {'format':8} {'host':16} source_id")
    for s in streams:
        print(f"{s['name']:24} {s['type']:10} {s['channels']:>4} {s['rate_hz']:>8g} {s['format']:8} "
              f"{s['host']:16} {s['source_id']}")
    return 0
