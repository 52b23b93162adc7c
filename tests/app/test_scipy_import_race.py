"""The spectrogram's background scipy.signal import survives torch being half-imported by another
thread at that moment (seen on a fresh venv: scipy probes sys.modules['torch'] and its import failed
with AttributeError, leaving the spectrogram empty for the whole session)."""
import subprocess
import sys

CHILD = r"""
import sys, time, types
sys.modules["torch"] = types.ModuleType("torch")   # what another thread's unfinished import leaves
from app.widgets import emg_plot
assert "scipy.signal" not in sys.modules
emg_plot._scipy_signal()
time.sleep(1.2)
del sys.modules["torch"]                          # that import has finished (here: gone)
emg_plot._signal_thread.join(30)
print("loaded" if emg_plot._signal_module is not None else "not loaded")
"""


def test_scipy_signal_import_retries_while_torch_is_half_imported():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "loaded", out.stdout + out.stderr
