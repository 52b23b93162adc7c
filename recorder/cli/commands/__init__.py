"""Subcommand modules of ``emgrec``; each defines ``register(subparsers)``. Keep imports of heavy
libraries (torch, mediapipe) inside the handlers so ``emgrec --help`` stays fast."""
