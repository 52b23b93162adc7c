"""Capture: one EMG source, camera and hand landmarks on one clock (engine), ring buffers, signal
quality, the prompted protocol, and hand detection re-run on stored frames."""
