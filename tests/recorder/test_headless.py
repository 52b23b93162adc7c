"""The engine must never import the GUI (ARCHITECTURE.md)."""
import subprocess
import sys


def test_recorder_imports_no_gui():
    code = (
        "import sys, importlib, pkgutil, recorder\n"
        "for m in pkgutil.walk_packages(recorder.__path__, 'recorder.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'app', 'shiboken6')]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"recorder imported GUI modules: {out.stdout}"
