"""Persistent GUI settings (QSettings): window geometry, last device choices, output folder, label
hotkeys and session metadata defaults. One typed accessor per setting, so no widget parses
QSettings values itself."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from PySide6 import QtCore


@dataclass(slots=True)
class Gesture:
    """A label the user can apply: ``name`` written to the session, ``key`` a QKeySequence string
    of one key ("1", "F", "Shift+2"), or "" for none."""

    name: str
    key: str = ""


DEFAULT_GESTURES = [Gesture("rest", "1"), Gesture("fist", "2"), Gesture("open", "3"),
                    Gesture("point", "4"), Gesture("pinch", "5"), Gesture("thumb-up", "6"),
                    Gesture("peace", "7"), Gesture("wrist-flex", "8"), Gesture("wrist-extend", "9")]


class Settings:
    """Typed wrapper over QSettings. ``path``: an INI file (tests, portable installs); default:
    the platform's user settings for organisation/application "emgrec"."""

    def __init__(self, path: str | Path | None = None):
        if path is None:
            self.q = QtCore.QSettings("emgrec", "emgrec")
        else:
            self.q = QtCore.QSettings(str(path), QtCore.QSettings.Format.IniFormat)

    def _get(self, key: str, default):
        v = self.q.value(key, default)
        return default if v is None else v

    # window ----------------------------------------------------------------------------------
    def geometry(self) -> QtCore.QByteArray | None:
        v = self.q.value("window/geometry")
        return v if isinstance(v, QtCore.QByteArray) and not v.isEmpty() else None

    def set_geometry(self, g: QtCore.QByteArray) -> None:
        self.q.setValue("window/geometry", g)

    # sources ---------------------------------------------------------------------------------
    def emg_choice(self) -> dict:
        """{"kind": "synthetic"|"myo"|"myo50"|"cyton"|"replay", "arg": port or file}."""
        return self._json("sources/emg", {"kind": "synthetic", "arg": ""})

    def set_emg_choice(self, kind: str, arg: str = "") -> None:
        self.q.setValue("sources/emg", json.dumps({"kind": kind, "arg": arg}))

    def realism_choice(self, default: str = "realistic") -> str:
        """The synthetic subject's realism preset last chosen ("realistic" | "none")."""
        return str(self._get("sources/realism", default))

    def set_realism_choice(self, name: str) -> None:
        self.q.setValue("sources/realism", name)

    def camera_choice(self) -> dict:
        """{"kind": "synthetic"|"none"|"webcam"|"file", "arg": index or path}."""
        return self._json("sources/camera", {"kind": "synthetic", "arg": ""})

    def set_camera_choice(self, kind: str, arg: str = "") -> None:
        self.q.setValue("sources/camera", json.dumps({"kind": kind, "arg": arg}))

    # recording -------------------------------------------------------------------------------
    def output_dir(self) -> Path:
        return Path(str(self._get("recording/output_dir", str(Path.home() / "emgrec-sessions"))))

    def set_output_dir(self, p: str | Path) -> None:
        self.q.setValue("recording/output_dir", str(p))

    def metadata(self) -> dict:
        """Last session metadata (subject, hand, placement, notes), prefilled into the form."""
        return self._json("recording/metadata", {"subject": "", "hand": "right", "placement": "", "notes": ""})

    def set_metadata(self, meta: dict) -> None:
        self.q.setValue("recording/metadata", json.dumps(meta))

    # labels ----------------------------------------------------------------------------------
    def gestures(self) -> list[Gesture]:
        raw = self._json("labels/gestures", None)
        if not raw:
            return [Gesture(g.name, g.key) for g in DEFAULT_GESTURES]
        return [Gesture(str(d["name"]), str(d.get("key", ""))) for d in raw if d.get("name")]

    def set_gestures(self, gestures: list[Gesture]) -> None:
        self.q.setValue("labels/gestures", json.dumps([asdict(g) for g in gestures]))

    def label_mode(self) -> str:
        """"hold" (press = on, release = off) or "toggle" (each press flips)."""
        v = str(self._get("labels/mode", "hold"))
        return v if v in ("hold", "toggle") else "hold"

    def set_label_mode(self, mode: str) -> None:
        self.q.setValue("labels/mode", mode)

    def protocol(self) -> dict:
        return self._json("protocol/params", {"reps": 5, "hold_s": 3.0, "rest_s": 3.0, "countdown_s": 3.0})

    def set_protocol(self, params: dict) -> None:
        self.q.setValue("protocol/params", json.dumps(params))

    def sync(self) -> None:
        self.q.sync()

    def _json(self, key: str, default):
        v = self.q.value(key)
        if not v:
            return default
        try:
            return json.loads(str(v))
        except json.JSONDecodeError:
            return default  # a hand-edited or old settings file must not stop the app from starting
