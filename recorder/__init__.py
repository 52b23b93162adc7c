"""emgrec headless engine: devices, camera, landmarks, one clock, HDF5 sessions, models.

This package never imports Qt, pyqtgraph or ``app`` (a test enforces it).
"""

__version__ = "0.1.0"
