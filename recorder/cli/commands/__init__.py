"""Subcommand modules of ``emgrec``; each defines ``register(subparsers)``. Keep imports of heavy
libraries (torch, mediapipe) inside the handlers so ``emgrec --help`` stays fast."""



def add_realism_argument(p, default: str | None = "demo", default_text: str = "") -> None:
    """``--realism`` of the commands that can open the synthetic armband or camera; default "demo":
    :data:`recorder.sources.factory.DEMO_REALISM`; default_text: what the help says of a None default."""
    from recorder.sources.factory import DEMO_REALISM, REALISM_CHOICES, SYNTHETIC_REALISM
    default = DEMO_REALISM if default == "demo" else default
    what = "; ".join(f"{name}: {text}" for name, _, text in SYNTHETIC_REALISM)
    p.add_argument("--realism", default=default, choices=REALISM_CHOICES,
                   help=f"the synthetic subject of the synthetic armband and camera ({what}) "
                        f"(default: {default_text or default})")
