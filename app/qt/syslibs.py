"""Before Qt starts: find the system libraries Qt's X11 (xcb) platform plugin needs and which are missing.

Qt's own message on a fresh Linux desktop names only ``libxcb-cursor0`` and then aborts; the plugin
needs about a dozen more. This module imports no Qt (it runs before Qt would abort): it asks the
dynamic linker (``ldd``) what the xcb plugin in the installed PySide6 cannot resolve and turns the
sonames into package names and one install command.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# Debian/Ubuntu names where the soname rule (libfoo.so.N -> libfooN, libfoo1.so.N -> libfoo1-N) is wrong.
_DEBIAN_OVERRIDES = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libpng16.so.16": "libpng16-16",
    "libstdc++.so.6": "libstdc++6",
}

# What the README lists, per platform (kept here so the message and the docs agree).
DEBIAN_PACKAGES = ("libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 "
                   "libxcb-render-util0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libxcb-shape0 "
                   "libxcb-xfixes0 libegl1 libgl1 libfontconfig1 libdbus-1-3").split()


def debian_package(soname: str) -> str:
    """Debian/Ubuntu package that ships ``soname`` ("libxcb-icccm.so.4" -> "libxcb-icccm4")."""
    if soname in _DEBIAN_OVERRIDES:
        return _DEBIAN_OVERRIDES[soname]
    m = re.fullmatch(r"(lib.+?)\.so\.(\d+)(?:\..*)?", soname)
    if not m:
        return soname
    base, major = m.group(1).lower(), m.group(2)
    return f"{base}-{major}" if base[-1].isdigit() else f"{base}{major}"


def parse_ldd(text: str) -> list[str]:
    """Sonames that ``ldd`` output reports as "not found", in order, without repeats."""
    out: list[str] = []
    for line in text.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+not found", line)
        if m and m.group(1) not in out:
            out.append(m.group(1))
    return out


def xcb_plugin() -> Path | None:
    """The installed PySide6's ``libqxcb.so`` (None if PySide6 or the plugin is absent)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return p if p.exists() else None


def missing_xcb_libraries(plugin: Path | None = None) -> list[str]:
    """Sonames the xcb plugin needs that the dynamic linker cannot find ([] when none or unknown)."""
    plugin = plugin or xcb_plugin()
    ldd = shutil.which("ldd")
    if plugin is None or ldd is None:
        return []
    try:
        res = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    missing = parse_ldd(res.stdout)
    # Qt >= 6.5 loads xcb-cursor at run time (ldd of older builds does not list it).
    if "libxcb-cursor.so.0" not in res.stdout and not _loadable("libxcb-cursor.so.0"):
        missing.append("libxcb-cursor.so.0")
    return missing


def _loadable(soname: str) -> bool:
    import ctypes
    try:
        ctypes.CDLL(soname)
        return True
    except OSError:
        return False


def install_command(missing: list[str]) -> str:
    """The one command that installs what is missing on this system ("" where we cannot tell)."""
    pkgs = sorted({debian_package(s) for s in missing})
    if shutil.which("apt-get"):
        sudo = "" if os.geteuid() == 0 else "sudo "
        return f"{sudo}apt-get install -y " + " ".join(pkgs)
    return ""


def uses_xcb(env=os.environ) -> bool:
    """Whether Qt will try the X11 (xcb) plugin in this environment."""
    if not sys.platform.startswith("linux"):
        return False
    plat = env.get("QT_QPA_PLATFORM", "")
    if plat:
        return plat.split(":")[0] == "xcb"
    return not env.get("WAYLAND_DISPLAY")


def check(env=os.environ) -> str:
    """An error message to print instead of starting Qt, or "" when the GUI can start."""
    if not uses_xcb(env):
        return ""
    missing = missing_xcb_libraries()
    if missing:
        cmd = install_command(missing)
        msg = ("emgrec gui: Qt's X11 platform plugin cannot load; these system libraries are missing: "
               + " ".join(missing) + "\n")
        if cmd:
            msg += f"Install them with:\n    {cmd}\n"
        else:
            msg += "Install the packages that provide them (the README lists them per platform).\n"
        return msg
    if not env.get("DISPLAY"):
        return ("emgrec gui: no X display (DISPLAY is not set). Run it from a desktop session, over "
                "`ssh -X`, or under a virtual display: xvfb-run emgrec gui\n")
    return ""
