#!/usr/bin/env python3
"""Issue 9, step 1: move the flat engine and GUI modules into one folder per stage.

Run from the repository root:   python scripts/relayout.py [--dry-run] [--allow-dirty] [--force-docs]

It was run once on main (the commit "Folder per stage"); it is kept for branches made before
that move: commit the branch, run it there, and it moves and rewrites what the branch has (a new
flat module makes it stop and name it: add it to MOVES). On main it prints "already moved".

What it does, in this order (all from the tables below, so the move can be rerun on a main that other
branches have changed since):
1. refuses to start on a dirty tree, on a half-moved tree, or when a module exists that MOVES does
   not place (it lists them; add them to MOVES and rerun); a MOVES entry whose module is not there
   (a branch not merged) is skipped with a warning;
2. computes the new text of every file that can name a module (*.py, *.toml, *.md, *.cfg, *.ini,
   *.txt, .ci/run, scripts/, bench/, tests/, docs/) BEFORE moving anything:
   - inside recorder/ and app/, relative imports become absolute (resolved against the file's own,
     old package);
   - ``from recorder import training, modelio as m`` style imports of modules are split per module
     (``from recorder.model import training`` / ``from recorder.model import folder as m``), keeping
     the name each one binds, so no other line of the file changes meaning;
   - everything else goes through ONE regex: the alternation of all old dotted names and file paths,
     longest first, word-boundary aware, applied in a single pass (replaced text is never looked at
     again, so ``recorder.session`` -> ``recorder.session.format`` cannot become ``...format.format``);
     an old leaf module's ``.X`` suffix is an attribute and follows the module;
   - ``Path(__file__).parents[N]`` in a moved file is corrected for its new depth;
3. ``git mv``s the files, removes the package __init__s that no longer exist, creates the new
   packages' __init__.py (one docstring line each, no imports except recorder/cli, which keeps
   ``main`` for ``emgrec`` scripts installed before the move);
4. writes pyproject.toml's import-linter contracts and docs/architecture.md's stage table and
   contract list from the same tables;
5. prints a summary. On an already-moved tree it prints that and changes nothing.
"""
from __future__ import annotations

import argparse
import ast
import collections
import hashlib
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

# ----------------------------------------------------------------------------------------------
# The tables. Old dotted module -> new dotted module. Every module of recorder/ and app/ must be
# placed here (or in KEEP, or inside a package of PACKAGE_MOVES), otherwise the script stops.
# ----------------------------------------------------------------------------------------------
MOVES = {
    # core: what every stage imports; imports nothing else of the engine
    "recorder.clock": "recorder.core.clock",
    "recorder.types": "recorder.core.types",
    "recorder.units": "recorder.core.units",
    "recorder.errors": "recorder.core.errors",
    # session: the file format sits low, since sources (replay), capture, imports, dataset, model
    # and export all read or write it
    "recorder.session": "recorder.session.format",
    "recorder.writelock": "recorder.session.writelock",
    "recorder.annotations": "recorder.session.annotations",
    "recorder.library": "recorder.session.library",
    # sources: the EMG source base, one folder per device with its emulator, other sources, factory
    "recorder.devices.base": "recorder.sources.base",
    "recorder.devices.ports": "recorder.sources.ports",
    "recorder.devices.replay": "recorder.sources.replay",
    "recorder.devices.brainflow_src": "recorder.sources.brainflow",
    "recorder.devices.myo": "recorder.sources.myo.driver",
    "recorder.devices.bgapi": "recorder.sources.myo.bgapi",
    "recorder.devices.myo_gatt": "recorder.sources.myo.gatt",
    "recorder.devices.myo_ble": "recorder.sources.myo.ble",
    "recorder.emulators.myo_fw": "recorder.sources.myo.emulator",
    "recorder.devices.cyton": "recorder.sources.cyton.driver",
    "recorder.emulators.cyton_fw": "recorder.sources.cyton.emulator",
    "recorder.emulators.pty_port": "recorder.sources.pty_port",   # shared by both emulators
    "recorder.synthetic": "recorder.sources.synthetic",
    "recorder.lsl": "recorder.sources.lsl",
    "recorder.sources": "recorder.sources.factory",   # open_emg: the one module above drivers and emulators
    # capture: one source + camera + landmarks on one clock
    "recorder.capture": "recorder.capture.engine",
    "recorder.ringbuffer": "recorder.capture.ringbuffer",
    "recorder.quality": "recorder.capture.quality",
    "recorder.protocol": "recorder.capture.protocol",
    "recorder.camera": "recorder.capture.camera",
    "recorder.landmarks": "recorder.capture.landmarks",
    "recorder.redetect": "recorder.capture.redetect",
    # imports: sessions written offline (other tools' files, synthetic sessions)
    "recorder.importers": "recorder.imports.tables",
    "recorder.xdf_import": "recorder.imports.xdf",
    "recorder.pose_import": "recorder.imports.pose",
    "recorder.folder_import": "recorder.imports.folder",
    # was simulate.py beside synthetic.py: the offline session writer, not a second synthetic subject
    "recorder.simulate": "recorder.imports.synthetic_sessions",
    "recorder.import_job": "recorder.imports.job",   # the one crash-safe import (CLI and dialog)
    # dataset: sessions -> windows and labels
    "recorder.dataset": "recorder.dataset.windows",
    "recorder.angles": "recorder.dataset.angles",
    "recorder.clean": "recorder.dataset.clean",
    "recorder.lag": "recorder.dataset.lag",
    # model (torch lives here and in live): models.py / modelio.py were a confusing pair
    "recorder.models": "recorder.model.architectures",
    "recorder.modelio": "recorder.model.folder",
    "recorder.predict": "recorder.model.predict",
    "recorder.training": "recorder.model.training",
    "recorder.calibrate": "recorder.model.calibrate",
    "recorder.metrics": "recorder.model.metrics",
    "recorder.guard": "recorder.model.guard",
    "recorder.baselines": "recorder.model.baselines",
    "recorder.streaming": "recorder.model.streaming",   # imports torch (a torch Dataset)
    "recorder.onnx_export": "recorder.model.onnx_export",
    # live and export: the two ends of the flow
    "recorder.live": "recorder.live.predictor",
    "recorder.live_runner": "recorder.live.runner",   # the prediction thread; no torch of its own
    "recorder.export": "recorder.export.files",
    "recorder.bids_export": "recorder.export.bids",
    # cli: not cli/main.py, so that recorder.cli can keep the name ``main`` (see INIT_BODY)
    "recorder.cli": "recorder.cli.emgrec",
    # --- GUI ---
    "app.bridge": "app.qt.bridge",
    "app.workers": "app.qt.workers",
    "app.settings": "app.qt.settings",
    "app.syslibs": "app.qt.syslibs",
    "app.errors": "app.qt.errors",                 # the one relay from an engine error to a message
    "app.skeleton": "app.widgets.skeleton",
    "app.camera_view": "app.widgets.camera_view",
    "app.emg_plot": "app.widgets.emg_plot",
    "app.capture_view": "app.capture.view",
    "app.capture_panels": "app.capture.panels",   # banner, Recording and Session boxes of the tab
    "app.labeling": "app.capture.labeling",
    "app.protocol_view": "app.capture.protocol_view",
    "app.review": "app.review.view",
    "app.timeline": "app.review.timeline",
    "app.library": "app.review.library",
    "app.train_view": "app.train.view",
    "app.plots": "app.train.plots",
    "app.live_preview": "app.train.live_preview",
    "app.calibrate_dialog": "app.train.calibrate_dialog",   # fine-tunes with the Train tab's runner
    "app.job_dialog": "app.dialogs.job_dialog",
    "app.export_dialog": "app.dialogs.export_dialog",
    "app.import_dialog": "app.dialogs.import_dialog",
}

# Whole packages that move as they are: files in them that MOVES does not list follow with their
# own name (a new ``emgrec`` subcommand needs no edit here).
PACKAGE_MOVES = {"recorder.commands": "recorder.cli.commands"}

# Packages that disappear. Their __init__ is removed. Prose naming the package bare maps to the
# folder that took its modules; ``pkg.NAME`` where NAME is no submodule is an attribute the old
# __init__ re-exported, so it maps to the module that defines NAME.
GONE_PACKAGES = {
    "recorder.devices": {"prose": "recorder.sources", "attrs": "recorder.sources.base",
                         "attr_overrides": {"open_emg": "recorder.sources.factory",
                                            "EMG_SPEC_HELP": "recorder.sources.factory"}},
    "recorder.emulators": {"prose": "recorder.sources", "attrs": None, "attr_overrides": {}},
}

# Modules that stay where they are.
KEEP = {"recorder", "recorder.__main__", "app", "app.__main__", "app.main_window"}

# The new packages: the one docstring line of each __init__.py (what the stage owns).
NEW_PACKAGES = {
    "recorder.core": "Core: the host clock, the records that cross threads (types), units and the engine's error root; imports no other stage.",
    "recorder.session": "Session files: the HDF5 format (format), one writer per file (writelock), label editing (annotations) and a folder of sessions (library).",
    "recorder.sources": "EMG sources: the EmgSource base, one folder per device with its emulator (myo/, cyton/), BrainFlow, replay, synthetic and LSL sources, and factory.open_emg over them all.",
    "recorder.sources.myo": "Thalmic Myo: the BLED112 driver and its BGAPI codec, the computer's own Bluetooth (ble), the GATT facts both share, and the firmware emulator.",
    "recorder.sources.cyton": "OpenBCI Cyton: the driver and its firmware emulator.",
    "recorder.capture": "Capture: one EMG source, camera and hand landmarks on one clock (engine), ring buffers, signal quality, the prompted protocol, and hand detection re-run on stored frames.",
    "recorder.imports": "Sessions written offline: other tools' files (CSV / text tables, XDF, paired EMG + pose, dataset folders) and synthetic sessions.",
    "recorder.dataset": "Datasets: session files -> training windows (N, T, C) with pose (N, 63) mm or gesture labels; joint angles, label cleaning, EMG-to-video lag.",
    "recorder.model": "Models: architectures, training and calibration, batched inference, metrics and baselines, the model folder (save, load, evaluate), ONNX export.",
    "recorder.live": "Live prediction: EMG chunks in, the current hand pose or gesture out, at display rate.",
    "recorder.export": "Exports of session files: training arrays, the seed project's CSV, MP4 video, EMG-BIDS.",
    "recorder.cli": "The ``emgrec`` command line (emgrec) and one module per subcommand (commands).",
    "app.qt": "Qt plumbing: the capture signal bridge, worker threads, persistent settings, and the system-library check run before Qt starts.",
    "app.widgets": "Widgets shared by the tabs: live EMG plot, camera view, hand skeleton drawing.",
    "app.capture": "The Capture tab: sources, live view, recording, labelling hotkeys, the prompted protocol.",
    "app.review": "The Review and Library tabs: scrub and relabel a stored session on its timeline; the session library.",
    "app.train": "The Train tab: training runs and their plots, and the live model preview.",
    "app.dialogs": "Dialogs that run one engine job in a worker: import, export, and their common base.",
}
# What an __init__ holds after its docstring. Only where a package must keep a public name.
INIT_BODY = {
    # ``emgrec`` scripts installed before the move call recorder.cli:main
    "recorder.cli": 'from recorder.cli.emgrec import main\n\n__all__ = ["main"]\n',
}

# The stages, top of the layers contract first: (folder, stage name, what it does). The stage table
# of docs/architecture.md and the layers contract are both made from this list.
STAGES = [
    ("cli", "Command line", "one module per `emgrec` subcommand"),
    ("live", "Live", "EMG chunks in, current pose / gesture out"),
    ("export", "Export", "sessions to arrays, CSV, MP4, EMG-BIDS (`docs/export.md`)"),
    ("model", "Model", "architectures, train, calibrate, save / load / evaluate the model folder, ONNX (`docs/models.md`)"),
    ("dataset", "Dataset", "sessions -> training windows (N, T, C) with pose (N, 63) mm or gesture labels"),
    ("imports", "Import", "CSV / XDF / paired EMG + pose / dataset folders / synthetic data into session files (`docs/import.md`)"),
    ("capture", "Capture", "one EMG source, camera and landmark worker on one clock; listeners; recording into a session; MediaPipe again over a stored session"),
    ("sources", "Sources", "`factory.open_emg(spec)` -> an `EmgSource`; one reader thread per device, explicit states, typed errors; emulators on a pty so tests and the demo run the real drivers"),
    ("session", "Session", "the HDF5 format `emg-hand-session` v1 (`docs/session-format.md`): one writer thread, one lazy reader; one writer per file; labels; the library folder"),
    ("core", "Core", "one host clock; the records (`EmgChunk`, `Frame`, `Landmarks`, `DeviceStatus`) that cross threads; `EmgrecError`, the root of the engine's exceptions"),
]
# Notes the stage table gives beside a module (old name -> text).
MODULE_NOTES = {
    "recorder.import_job": "`guess_format`, `import_to_session`: the one crash-safe import of `emgrec import` and the Import dialog",
    "recorder.live": "`LivePredictor`",
    "recorder.live_runner": "`LiveRunner`: the prediction thread the app and `emgrec lsl` share",
    "recorder.export": "`TARGETS`: the export formats, their suffixes, descriptions and writers, for `emgrec export` and the Export dialog",
    "recorder.sources": "`open_emg`, `EMG_SPEC_HELP`, the emulator-backed sources",
    "recorder.modelio": "model folders: save, load, evaluate",
    "recorder.models": "the architecture registry",
}

# Same-layer sibling order inside a stage, for the per-stage layers contracts (top first).
SUBLAYERS = {
    "recorder.sources": ("Inside sources: the factory over the devices and other sources, over their base",
                         ["factory", "synthetic : lsl : replay : brainflow : myo : cyton", "pty_port : base : ports"]),
    "recorder.model": ("Inside model: training over the model folder over architectures, inference and metrics",
                       ["calibrate : training", "folder",
                        "architectures : predict : onnx_export : metrics : guard : baselines : streaming"]),
}
# The layers contract over the stage folders, top first (":" joins stages of one layer).
LAYERS = ["cli", "live : export", "model", "dataset", "imports", "capture", "sources", "session", "core"]
APP_LAYERS = ["__main__", "main_window", "capture : review : train : dialogs", "widgets", "qt"]

# Sources that are emulators (or their pty), which no driver may import.
EMULATORS = ["recorder.sources.myo.emulator", "recorder.sources.cyton.emulator", "recorder.sources.pty_port"]
# What the GUI must not import itself (the old recorder.devices.* except ports, and the emulators).
GUI_FORBIDDEN_ENGINE = ["recorder.sources.myo", "recorder.sources.cyton", "recorder.sources.pty_port",
                        "recorder.sources.base", "recorder.sources.brainflow", "recorder.sources.replay"]
# Subcommands that must start without torch (old names; they are mapped).
TORCH_FREE_COMMANDS = ["record", "info", "import_", "devices", "repair", "redetect", "lag"]
# Modules outside those folders that must stay torch-free too (old names): the GUI imports the live
# runner at start-up, its predictor brings torch later.
TORCH_FREE_EXTRA = ["recorder.live_runner"]

# The contracts pyproject.toml held before the move, by name: each is rewritten below. A contract
# with another name (added on main since) stops the script, so that it is not lost.
KNOWN_CONTRACTS = {
    "The engine (recorder) never imports Qt, pyqtgraph, the GUI or the benchmarks",
    "A driver never imports an emulator (recorder.sources builds the emulated sources)",
    "The GUI owns no device, file format or training loop (no direct h5py, torch, serial, drivers)",
    "The model-folder reader never imports training",
    "Acquisition, session and dataset modules never import torch",
    "Engine stages are layers: devices -> capture -> session -> dataset -> model -> live/export",
    "No import cycles between sibling modules of a package",
}

# sha256 of the blocks this script regenerates, as they were when it was written (main at c97ed86).
# A different block means someone edited it since: the script still regenerates it, and says so.
KNOWN_SHA = {
    # from "# Import contracts" to the end
    "pyproject.toml": {"b72915467feddaa38badfb57abbfbde9b4dbc28fd050984f70a77169d543a576"},
    # the contract list 1.-7.: main, and main with s2-modelmeta's edit of item 2 (the Train tab runs
    # `emgrec train --jsonl-progress`; the regenerated text says "a child process", true of both)
    "docs/architecture.md": {"0fabd2bb9fd08aaff695c7cd0946623866bb2246a586f0d65ce13d63c1ddb403",
                             "25f188f26ff674696bc088136fff6ccfe4c83b7d933920544de770a1566aa00e"},
}

# One-off text edits on the OLD text of a file (before the regex), for sentences that would be
# wrong, not just renamed, after the move. (old path, old text, new text); the new text must not
# contain old module names, since the regex runs over it afterwards.
PRE_EDITS = [
    ("tests/recorder/test_layers.py",
     "the factory that left recorder.devices still answers there with a\nwarning, ", ""),
    ("docs/architecture.md",
     " The old names\n  still resolve from `recorder.devices` with a `DeprecationWarning` (a module `__getattr__`, so the\n"
     "  drivers' package does not import the factory).",
     " The forwarding\n  names the drivers' package kept for a while went with the folder-per-stage move."),
]
# Bare file names that the regex cannot know belong to the engine.
PRE_EDITS += [
    ("pyproject.toml", "(recorder/importers.py, pose_import.py)", "(recorder/importers.py, recorder/pose_import.py)"),
    # the data-flow drawing: same width, so the columns stay aligned
    ("docs/architecture.md", "\ndevices ------> capture", "\nsources ------> capture"),
    # a tuple of path prefixes under recorder/: the emulators are files now, not a folder
    ("tests/recorder/test_errors.py", 'INTERNAL_FOLDERS = ("emulators/",)',
     'INTERNAL_FOLDERS = ("sources/myo/emulator.py", "sources/cyton/emulator.py", "sources/pty_port.py")'),
    ("recorder/devices/myo.py", "shared with the bleak transport (myo_gatt.py)", "shared with the bleak transport (gatt.py)"),
]
# The same, by pattern, for paragraphs that describe the flat layout: (old path, regex, new text).
PRE_REGEX_EDITS = [
    ("README.md", r"- `recorder/` — the headless engine \(never imports Qt; a test enforces it\):.*?(?=\n- `app/`)",
     "- `recorder/` — the headless engine (never imports Qt; a test enforces it), one folder per stage of\n"
     "  the data flow (`docs/architecture.md` has the table): `core/` (clock, records, errors), `sources/`\n"
     "  (`base.py` with reconnect and typed errors; `myo/` and `cyton/`, each driver with its firmware\n"
     "  emulator on `pty.openpty()`; `synthetic.py`, a kinematic hand whose muscles make the EMG; LSL,\n"
     "  BrainFlow, replay; `factory.py`), `capture/` (threads, ring buffers, camera, landmarks, recording),\n"
     "  `session/` (HDF5), `imports/`, `dataset/`, `model/` (architectures, training, the model folder),\n"
     "  `live/`, `export/`, `cli/` (`commands/`: one module per `emgrec` subcommand)."),
    ("README.md", r"- `app/` — the PySide6 \+ pyqtgraph GUI: Capture, Review, Library and Train tabs\.",
     "- `app/` — the PySide6 + pyqtgraph GUI: Capture, Review, Library and Train tabs (`capture/`,\n"
     "  `review/`, `train/`, `dialogs/` over `widgets/` and `qt/`)."),
]
# Test functions removed (old path, function name), with why.
DROP_FUNCTIONS = [
    # tested the deprecated forwarding in recorder/devices/__init__.py; that package is gone, every
    # caller now names recorder.sources.factory
    ("tests/recorder/test_layers.py", "test_open_emg_moved_to_sources_and_the_old_name_warns"),
]

# Which files can name a module.
TEXT_SUFFIXES = (".py", ".toml", ".md", ".cfg", ".ini", ".txt")
TEXT_DIRS = ("scripts/", "bench/", "tests/", "docs/")
TEXT_FILES = (".ci/run",)

# ----------------------------------------------------------------------------------------------


def sh(*args: str, check: bool = True) -> str:
    return subprocess.run(args, check=check, capture_output=True, text=True).stdout


def mod_path(dotted: str, is_pkg: bool = False) -> str:
    return dotted.replace(".", "/") + ("/__init__.py" if is_pkg else ".py")


def module_of(path: str) -> str:
    p = path[:-3].replace("/", ".")
    return p[:-9] if p.endswith(".__init__") else p


def die(msg: str) -> None:
    print(f"relayout: {msg}", file=sys.stderr)
    sys.exit(1)


class Plan:
    """The complete old -> new mapping for this tree (MOVES plus the files PACKAGE_MOVES carries)."""

    def __init__(self, tracked: list[str]):
        self.tracked = tracked
        self.moves = dict(MOVES)           # leaf modules
        self.pkg_moves = dict(PACKAGE_MOVES)
        for old_pkg, new_pkg in PACKAGE_MOVES.items():
            prefix = old_pkg.replace(".", "/") + "/"
            for f in tracked:
                if f.startswith(prefix) and f.endswith(".py") and "/" not in f[len(prefix):]:
                    m = module_of(f)
                    if m != old_pkg:
                        self.moves.setdefault(m, new_pkg + m[len(old_pkg):])
        # file moves: old path -> new path
        self.files: dict[str, str] = {mod_path(o): mod_path(n) for o, n in self.moves.items()}
        for o, n in self.pkg_moves.items():
            self.files[mod_path(o, True)] = mod_path(n, True)
        self.removed = [mod_path(p, True) for p in GONE_PACKAGES]
        self.all_old_modules = set(self.moves) | set(self.pkg_moves) | set(GONE_PACKAGES)

    def map_dotted(self, dotted: str) -> str:
        """An old dotted name (module, or module.attribute) -> the new one; unchanged if not moved."""
        parts = dotted.split(".")
        for i in range(len(parts), 0, -1):
            head, rest = ".".join(parts[:i]), parts[i:]
            if head in self.moves or head in self.pkg_moves:
                new = self.moves.get(head) or self.pkg_moves[head]
                return ".".join([new, *rest])
            if head in GONE_PACKAGES:
                g = GONE_PACKAGES[head]
                if rest and (rest[0] in g["attr_overrides"] or g["attrs"]):
                    return ".".join([g["attr_overrides"].get(rest[0], g["attrs"]), *rest])
                return ".".join([g["prose"], *rest])
        return dotted

    def is_old_module(self, dotted: str) -> bool:
        return dotted in self.all_old_modules


# ---- the one regex -----------------------------------------------------------------------------

def build_regex(plan: Plan):
    """Alternation of every old dotted name and file path, longest first; a function returns the
    replacement of each match. Not preceded by a word character or a dot (so ``self.recorder.session``
    does not match), not followed by a word character (so ``recorder.sessions`` does not either)."""
    table: dict[str, str] = {}
    for o, n in plan.moves.items():
        table[o] = n
        table[mod_path(o)] = mod_path(n)
    for o, n in plan.pkg_moves.items():
        table[o] = n
        table[o.replace(".", "/")] = n.replace(".", "/")
        table[mod_path(o, True)] = mod_path(n, True)
    for o, g in GONE_PACKAGES.items():
        table[o] = g["prose"]          # the bare package; attributes are handled in repl()
        table[o.replace(".", "/")] = g["prose"].replace(".", "/")
        table[mod_path(o, True)] = mod_path(g["prose"], True)
    # the short paths the docs use for subpackage files: devices/myo.py, emulators/myo_fw.py, commands/lsl.py
    for o, n in plan.moves.items():
        for pkg in list(GONE_PACKAGES) + list(PACKAGE_MOVES):
            if o.startswith(pkg + "."):
                short_old = mod_path(o)[len("recorder/"):]
                table[short_old] = mod_path(n)[len("recorder/"):]
    # quoted paths relative to recorder/ ("angles.py", as tests/recorder/test_errors.py lists them)
    for o, n in plan.moves.items():
        rel = mod_path(o)[len("recorder/"):]
        if o.startswith("recorder.") and "/" not in rel:
            for q in "\"'":
                table[q + rel + q] = q + mod_path(n)[len("recorder/"):] + q
    keys = sorted(table, key=len, reverse=True)
    rx = re.compile(r"(?<![\w.])(" + "|".join(re.escape(k) for k in keys) + r")(?!\w)(\.\w+)?")
    counts: collections.Counter = collections.Counter()

    def repl(m: re.Match) -> str:
        key, suffix = m.group(1), m.group(2) or ""
        counts[key] += 1
        if key in GONE_PACKAGES and suffix:
            return plan.map_dotted(key + suffix)
        return table[key] + suffix

    return rx, repl, counts, table


# ---- Python imports ------------------------------------------------------------------------------

def line_offsets(text: str) -> list[int]:
    """Offset of each line start, counting lines as ast does (by "\n"; str.splitlines also splits
    at form feeds and other separators)."""
    return [0] + [m.end() for m in re.finditer("\n", text)]


def format_from(module: str, names: list[str], indent: str) -> str:
    line = f"from {module} import {', '.join(names)}"
    if len(indent) + len(line) <= 120:
        return line
    out, cur = [], f"from {module} import ("
    pad = " " * len(cur)
    for i, n in enumerate(names):
        piece = n + (", " if i < len(names) - 1 else ")")
        if len(indent) + len(cur) + len(piece.rstrip()) > 120 and cur.strip() != f"from {module} import (":
            out.append(cur.rstrip())
            cur = pad + piece
        else:
            cur += piece
    out.append(cur)
    return ("\n" + indent).join(out)


def rewrite_imports(text: str, old_path: str, plan: Plan, stats: collections.Counter, warnings: list[str]):
    """(start, end, replacement) for each import statement that needs more than a renamed module:
    relative imports in recorder/ and app/ (made absolute), and ``from PKG import a, b`` where a name
    is a submodule that moves (split per new parent package). Replacements use the NEW names."""
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        warnings.append(f"{old_path}: not parsed ({e}); only the regex ran")
        return []
    in_pkg = old_path.startswith(("recorder/", "app/"))
    this = module_of(old_path)
    package = this if old_path.endswith("__init__.py") else this.rpartition(".")[0]
    offs = line_offsets(text)
    spans = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.module == "__future__":
            continue
        if node.level:
            if not in_pkg:
                continue   # tests keep their own relative imports
            base = package.split(".")
            base = base[:len(base) - (node.level - 1)]
            absolute = ".".join(base + ([node.module] if node.module else []))
            stats["relative imports made absolute"] += 1
        else:
            absolute = node.module
        structural = any(plan.is_old_module(f"{absolute}.{a.name}") for a in node.names) or absolute in GONE_PACKAGES
        if not node.level and not structural:
            continue   # a plain ``from recorder.x import y``: the regex renames it
        # group the names by the module each is imported from after the move (first-seen order)
        groups: dict[str, list[str]] = {}
        for a in node.names:
            bind = a.asname or a.name
            full = f"{absolute}.{a.name}"
            if plan.is_old_module(full):
                new = plan.map_dotted(full)
                parent, leaf = new.rsplit(".", 1)
                item = leaf if leaf == bind else f"{leaf} as {bind}"
                stats["module imports split per package"] += 1
            else:
                parent = plan.map_dotted(full).rsplit(".", 1)[0] if absolute in GONE_PACKAGES else plan.map_dotted(absolute)
                item = a.name if a.asname is None else f"{a.name} as {a.asname}"
            groups.setdefault(parent, []).append(item)
        start = offs[node.lineno - 1] + node.col_offset
        end = offs[node.end_lineno - 1] + node.end_col_offset
        if "#" in text[start:end]:
            warnings.append(f"{old_path}:{node.lineno}: a comment inside this import was dropped")
        line_start = text[offs[node.lineno - 1]:start]
        indent = line_start if not line_start.strip() else ""
        sep = ("\n" + indent) if not line_start.strip() else "; "
        spans.append((start, end, sep.join(format_from(m, names, indent) for m, names in groups.items())))
    spans.sort()
    return spans


def fix_depth(text: str, old_path: str, new_path: str, stats: collections.Counter) -> str:
    """``Path(__file__)...parents[N]`` points at the same folder from the file's new depth."""
    delta = new_path.count("/") - old_path.count("/")
    if not delta:
        return text

    def f(m: re.Match) -> str:
        stats["Path(__file__).parents[N] corrected"] += 1
        return f"{m.group(1)}{int(m.group(2)) + delta}]"
    return re.sub(r"(Path\(__file__\)(?:\.resolve\(\))?\.parents\[)(\d+)\]", f, text)


def drop_function(text: str, name: str) -> str | None:
    tree = ast.parse(text)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            lines = text.splitlines(keepends=True)
            start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
            end = node.end_lineno
            while end < len(lines) and not lines[end].strip():
                end += 1
            return "".join(lines[:start] + lines[end:])
    return None


def rewrite_text(text: str, old_path: str, new_path: str, plan: Plan, rx, repl, stats, warnings) -> str:
    for p, old, new in PRE_EDITS:
        if p == old_path:
            if old in text:
                text = text.replace(old, new)
                stats["one-off sentence edits"] += 1
            else:
                warnings.append(f"{old_path}: one-off edit not applied (text changed on main?): {old[:60]!r}...")
    for p, pattern, new in PRE_REGEX_EDITS:
        if p == old_path:
            text, n = re.subn(pattern, lambda m: new, text, count=1, flags=re.S)
            stats["one-off paragraph edits"] += n
            if not n:
                warnings.append(f"{old_path}: paragraph edit not applied (text changed on main?): {pattern[:60]!r}...")
    for p, fn in DROP_FUNCTIONS:
        if p == old_path:
            t = drop_function(text, fn)
            if t is None:
                warnings.append(f"{old_path}: function {fn} to drop not found")
            else:
                text = t
                stats["obsolete tests dropped"] += 1
    spans = rewrite_imports(text, old_path, plan, stats, warnings) if old_path.endswith(".py") else []
    out, pos = [], 0
    for start, end, new in spans:
        out.append(rx.sub(repl, text[pos:start]))
        out.append(new)
        pos = end
    out.append(rx.sub(repl, text[pos:]))
    text = "".join(out)
    if old_path.endswith(".py"):
        text = fix_depth(text, old_path, new_path, stats)
    return text


# ---- contracts and docs --------------------------------------------------------------------------

def toml_list(items: list[str], indent: str = "    ", width: int = 110) -> str:
    lines, cur = [], indent
    for s in items:
        piece = f'"{s}", '
        if len(cur) + len(piece) > width and cur.strip():
            lines.append(cur.rstrip())
            cur = indent
        cur += piece
    lines.append(cur.rstrip())
    return "[\n" + "\n".join(lines) + "\n]"


def contracts(plan: Plan) -> str:
    new_mods = sorted(set(plan.moves.values()))
    sources = [m for m in new_mods if m.startswith("recorder.sources.")]
    drivers = [m for m in sources if m not in EMULATORS and m != "recorder.sources.factory"]
    torch_free = ([f"recorder.{f}" for f in ("core", "session", "sources", "capture", "imports", "dataset")]
                  + ["recorder.model.metrics", plan.map_dotted("recorder.cli")]
                  + [plan.map_dotted(f"recorder.commands.{c}") for c in TORCH_FREE_COMMANDS]
                  + [plan.map_dotted(m) for m in TORCH_FREE_EXTRA if m in plan.moves])
    not_torch_direct = [f"recorder.{f}" for f, _, _ in STAGES if f not in ("model", "live")]
    layers = "\n".join(f'    "{f}",' for f in LAYERS)

    def sub(container: str) -> str:
        name, rows = SUBLAYERS[container]
        body = "\n".join(f'    "{r}",' for r in rows)
        return (f'[[tool.importlinter.contracts]]\nname = "{name}"\ntype = "layers"\n'
                f'containers = ["{container}"]\nlayers = [\n{body}\n]\n')

    return f'''# Import contracts (docs/architecture.md), checked by `lint-imports` in .ci/run. Imports inside
# functions count. The layout is one folder per stage (recorder/<stage>/), so most contracts name
# folders and a new module joins them by where it is put.
[tool.importlinter]
root_packages = ["recorder", "app", "bench"]
include_external_packages = true

[[tool.importlinter.contracts]]
name = "The engine (recorder) never imports Qt, pyqtgraph, the GUI or the benchmarks"
type = "forbidden"
source_modules = ["recorder"]
forbidden_modules = ["PySide6", "shiboken6", "pyqtgraph", "app", "bench"]

# The stages of the data flow, top (may import anything below) to bottom (imports nothing above).
# The session format sits low: sources (replay), capture, imports, dataset, model and export all use it.
[[tool.importlinter.contracts]]
name = "Engine stages are layers: cli -> live/export -> model -> dataset -> imports -> capture -> sources -> session -> core"
type = "layers"
containers = ["recorder"]
layers = [
{layers}
]

{sub("recorder.sources")}
{sub("recorder.model")}
[[tool.importlinter.contracts]]
name = "A driver never imports an emulator (recorder.sources.factory builds the emulated sources)"
type = "forbidden"
source_modules = {toml_list(drivers)}
forbidden_modules = {toml_list(EMULATORS + ["recorder.sources.factory"])}

# Direct imports only: the GUI reaches devices, files and training through recorder (capture,
# session, training...), which import these themselves.
[[tool.importlinter.contracts]]
name = "The GUI owns no device, file format or training loop (no direct h5py, torch, serial, drivers)"
type = "forbidden"
source_modules = ["app"]
forbidden_modules = {toml_list(["h5py", "torch", "serial", "cv2", "mediapipe", "bleak", "brainflow", "pylsl"] + GUI_FORBIDDEN_ENGINE)}
allow_indirect_imports = true

[[tool.importlinter.contracts]]
name = "The GUI is layered: entry -> main window -> tabs and dialogs -> shared widgets -> Qt plumbing"
type = "layers"
containers = ["app"]
layers = [
{chr(10).join(f'    "{r}",' for r in APP_LAYERS)}
]

[[tool.importlinter.contracts]]
name = "The model-folder reader never imports training"
type = "forbidden"
source_modules = ["{plan.map_dotted("recorder.modelio")}"]
forbidden_modules = ["{plan.map_dotted("recorder.training")}"]

# The acquisition, session and dataset side must stay loadable without torch, directly or through
# another module. A new module under these folders is covered; a new command should be added.
[[tool.importlinter.contracts]]
name = "Acquisition, session and dataset modules never import torch"
type = "forbidden"
source_modules = {toml_list(torch_free)}
forbidden_modules = ["torch"]

# Direct imports: export and the model commands use torch through the model folder, which is fine.
# KNOWN VIOLATION, listed rather than hidden: `emgrec export-model` imports torch itself to silence
# torch.jit.TracerWarning; that belongs in recorder.model.folder.export_model.
[[tool.importlinter.contracts]]
name = "torch is imported only under recorder/model and recorder/live"
type = "forbidden"
source_modules = {toml_list(not_torch_direct)}
forbidden_modules = ["torch"]
allow_indirect_imports = true
ignore_imports = ["{plan.map_dotted("recorder.commands.export_model")} -> torch"]

[[tool.importlinter.contracts]]
name = "No import cycles between sibling modules of a package"
type = "acyclic_siblings"
ancestors = ["recorder", "app"]
'''


def check_contracts(original: str, force: bool) -> None:
    names = {c.get("name") for c in tomllib.loads(original).get("tool", {}).get("importlinter", {}).get("contracts", [])}
    unknown = names - KNOWN_CONTRACTS
    if unknown and not force:
        die("pyproject.toml has contracts this script does not know (added since?); add them to "
            f"contracts() and KNOWN_CONTRACTS, or rerun with --force-docs to drop them: {sorted(unknown)}")


def rewrite_pyproject(text: str, plan: Plan) -> str:
    i = text.find("# Import contracts")
    if i < 0:
        i = text.find("[tool.importlinter]")
    if i < 0:
        die("pyproject.toml: no [tool.importlinter] section found")
    rest = text[i:]
    # keep any section after the import-linter ones
    m = re.search(r"^\[(?!\[?tool\.importlinter)[^\]]+\]", rest, re.M)
    tail = rest[m.start():] if m else ""
    return text[:i] + contracts(plan) + ("\n" + tail if tail else "")


def stage_table(plan: Plan) -> str:
    by_pkg: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)
    for o, n in plan.moves.items():
        if n.startswith("recorder."):
            by_pkg[n.split(".")[1]].append((o, n))
    rows = ["| Stage | Folder | Modules | What it does |", "|---|---|---|---|"]
    for folder, name, what in STAGES:
        mods = []
        for o, n in sorted(by_pkg[folder], key=lambda x: x[1]):
            rel = n[len(f"recorder.{folder}."):].replace(".", "/")
            was = o[len("recorder."):].replace(".", "/")
            notes = ([] if was.split("/")[-1] == rel.split("/")[-1] else [f"was `{was}.py`"]) + \
                ([MODULE_NOTES[o]] if o in MODULE_NOTES else [])
            mods.append(f"`{rel}`" + (f" ({'; '.join(notes)})" if notes else ""))
        rows.append(f"| {name} | `recorder/{folder}/` | {', '.join(mods)} | {what} |")
    app_pkgs = collections.defaultdict(list)
    for o, n in plan.moves.items():
        if n.startswith("app."):
            app_pkgs[n.split(".")[1]].append(n.split(".", 2)[2])
    rows.append("| GUI | `app/` | " + ", ".join(f"`{p}/` ({', '.join(sorted(v))})" for p, v in sorted(app_pkgs.items()))
                + ", `main_window` | widgets and worker threads over the engine; owns no device, format or training loop |")
    return "\n".join(rows) + "\n"


ARCH_INTRO_OLD = re.compile(r"The layout is still flat.*?plan below\.\n", re.S)
ARCH_INTRO_NEW = ("One folder per stage (`recorder/<stage>/`), listed from the top of the layers contract to the\n"
                  "bottom; the session format sits low because every stage after the sources reads or writes it.\n")
ARCH_LIST = re.compile(r"^1\. \*\*The engine never imports Qt.*?(?=^When a contract breaks)", re.S | re.M)
ARCH_PLAN_ITEM = re.compile(r"^1\. \*\*Folder per stage\*\*.*?(?=^2\. )", re.S | re.M)


def contract_list(plan: Plan) -> str:
    layers = "\n".join(f"   {f}" for f in LAYERS)
    return f"""1. **The engine never imports Qt, pyqtgraph, the GUI or the benchmarks**: `recorder` (all of it)
   must not import `PySide6`, `shiboken6`, `pyqtgraph`, `app` or `bench`. `emgrec bench` runs
   `python -m bench` as a child process for that reason.
2. **The stages are layers**: a module may import only its own stage or a lower one
   (`containers = ["recorder"]`, top first):

   ```
{layers}
   ```

   Inside `sources/` the factory is on top and `base` at the bottom; inside `model/`,
   `calibrate : training` over `folder` over the rest (two more `layers` contracts).
3. **A driver never imports an emulator**: no module of `recorder/sources/` except `factory`
   imports `myo/emulator`, `cyton/emulator`, `pty_port` or `factory`. Emulators may import the
   protocol facts and the drivers' constants (they sit above): `myo/emulator.py` takes its handles
   from `myo/gatt.py`, `cyton/emulator.py` its microvolt and accelerometer scales from
   `cyton/driver.py` (defined once).
4. **The GUI owns no device, file format or training loop**: `app` must not import `h5py`,
   `torch`, `serial`, `cv2`, `mediapipe`, `bleak`, `brainflow`, `pylsl`, the emulators or the
   drivers (`recorder/sources/` except `ports`, `factory`, `synthetic` and `lsl`) itself; it goes
   through `recorder` (capture, session, live; training runs in a child process).
   Direct imports only (`allow_indirect_imports`), since the engine modules it uses import them.
   The GUI is layered too: `__main__` -> `main_window` -> `capture : review : train : dialogs`
   (the tabs and dialogs) -> `widgets` -> `qt`.
5. **The model-folder reader never imports training**: `{plan.map_dotted("recorder.modelio")}` must not import
   `{plan.map_dotted("recorder.training")}` (it predicts with `{plan.map_dotted("recorder.predict.predict_array")}`;
   training still re-exports that name).
6. **torch stays on the model side**: `core`, `session`, `sources`, `capture`, `imports`, `dataset`,
   `model/metrics`, `live/runner` (the GUI imports it at start-up), `cli/emgrec` and the `record`,
   `info`, `import`, `devices`, `repair`, `redetect` and `lag` commands must not import `torch`, directly or through another module; and no folder
   but `model` and `live` imports it directly. One known exception is listed in the contract:
   `cli/commands/export_model.py` imports torch to silence a tracer warning.
7. **No cycles between sibling modules** (`acyclic_siblings`) in `recorder` and `app`, at every
   depth.

"""


def rewrite_architecture(text: str, plan: Plan, warnings: list[str]) -> str:
    text, n = ARCH_INTRO_OLD.subn(ARCH_INTRO_NEW, text)
    if not n:
        warnings.append("docs/architecture.md: the 'layout is still flat' paragraph was not found")
    m = re.search(r"^\| Stage \|.*?\n(?=\n)", text, re.S | re.M)
    if m:
        text = text[:m.start()] + stage_table(plan) + text[m.end():]
    else:
        warnings.append("docs/architecture.md: stage table not found; not regenerated")
    m = ARCH_LIST.search(text)
    if m:
        text = text[:m.start()] + contract_list(plan) + text[m.end():]
    else:
        warnings.append("docs/architecture.md: contract list not found; not regenerated")
    plan_done = ("1. **Folder per stage**: done, by a script (`relayout.py`, issue 9): the table above and the\n"
                 "   layers contract name the folders. `models.py` / `modelio.py` are now\n"
                 "   `model/architectures.py` / `model/folder.py`; `simulate.py` is `imports/synthetic_sessions.py`\n"
                 "   (`sources/synthetic.py` is the synthetic subject).\n")
    text, n = ARCH_PLAN_ITEM.subn(plan_done, text)
    if not n:
        warnings.append("docs/architecture.md: plan item 1 (Folder per stage) not found")
    return text


# ---- main ------------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="print the plan and the summary, change nothing")
    ap.add_argument("--allow-dirty", action="store_true", help="run on a tree with uncommitted changes")
    ap.add_argument("--force-docs", action="store_true", help="replace contracts / doc blocks this script does not know")
    args = ap.parse_args()
    if not (Path("pyproject.toml").is_file() and Path("recorder").is_dir() and Path(".git").exists()):
        die("run from the repository root")
    tracked = sh("git", "ls-files").splitlines()
    plan = Plan(tracked)
    tset = set(tracked)
    old_present = [p for p in plan.files if p in tset]
    new_present = [n for n in plan.files.values() if n in tset]
    if not old_present:
        if new_present:
            print("relayout: already moved (no old module left): nothing to do")
            return 0
        die("neither the old nor the new modules are here: not this repository?")
    if new_present:
        die(f"half-moved tree: old {old_present[:5]}... and new {new_present[:5]}... both exist")
    missing = [o for o in plan.moves if mod_path(o) not in tset]
    for o in missing:   # a module of a branch not merged (or removed): nothing to move
        del plan.moves[o]
        del plan.files[mod_path(o)]
    plan.all_old_modules -= set(missing)
    if sh("git", "status", "--porcelain").strip() and not args.allow_dirty and not args.dry_run:
        die("the working tree has uncommitted changes (commit them, or --allow-dirty)")

    # every module must be placed
    placed = set(plan.files) | set(plan.removed) | {mod_path(k, k in ("recorder", "app")) for k in KEEP}
    unplaced = [f for f in tracked if f.startswith(("recorder/", "app/")) and f.endswith(".py") and f not in placed]
    if unplaced:
        die("these modules are not in MOVES (add them, then rerun):\n  " + "\n  ".join(unplaced))
    others = [f for f in tracked if f.startswith(("recorder/", "app/")) and not f.endswith(".py")]
    warnings: list[str] = [f"{f}: not a module, left where it is" for f in others]
    warnings += [f"MOVES names {o}, which this tree does not have: skipped" for o in missing]

    rx, repl, counts, table = build_regex(plan)
    stats: collections.Counter = collections.Counter()
    new_text: dict[str, str] = {}   # new path -> text
    changed: list[str] = []
    for f in tracked:
        if f in plan.removed:
            continue
        if not (f.endswith(TEXT_SUFFIXES) or f.startswith(TEXT_DIRS) or f in TEXT_FILES):
            continue
        try:
            text = Path(f).read_text(encoding="utf-8")
        except (UnicodeDecodeError, IsADirectoryError):
            continue
        dest = plan.files.get(f, f)
        t = rewrite_text(text, f, dest, plan, rx, repl, stats, warnings)
        if dest in KNOWN_SHA:
            if dest == "pyproject.toml":
                block = text[text.find("# Import contracts"):]
            else:
                m = ARCH_LIST.search(text)
                block = m.group(0) if m else ""
            if hashlib.sha256(block.encode()).hexdigest() not in KNOWN_SHA[dest]:
                warnings.append(f"{dest}: the block this script regenerates was edited since the script was written; "
                                f"compare `git show HEAD:{dest}` with the result and carry the edit over")
        if dest == "pyproject.toml":
            check_contracts(text, args.force_docs)
            t = rewrite_pyproject(t, plan)
        if dest == "docs/architecture.md":
            t = rewrite_architecture(t, plan, warnings)
        if t != text:
            new_text[dest] = t
            changed.append(dest)

    new_pkgs = sorted({n.rsplit(".", 1)[0] for n in plan.moves.values()} | set(NEW_PACKAGES))
    new_inits = [p for p in new_pkgs if mod_path(p, True) not in tset and mod_path(p, True) not in plan.files.values()]
    undocumented = [p for p in new_inits if p not in NEW_PACKAGES]
    if undocumented:
        die(f"new packages without a docstring in NEW_PACKAGES: {undocumented}")

    if not args.dry_run:
        for old, new in sorted(plan.files.items()):
            Path(new).parent.mkdir(parents=True, exist_ok=True)
            sh("git", "mv", old, new)
        for old in plan.removed:
            sh("git", "rm", "-q", old)
        for p in new_inits:
            doc = textwrap.fill(NEW_PACKAGES[p], width=100, break_on_hyphens=False)
            body = f'"""{doc}"""\n' + (("\n" + INIT_BODY[p]) if p in INIT_BODY else "")
            Path(mod_path(p, True)).write_text(body, encoding="utf-8")
        for path, t in new_text.items():
            Path(path).write_text(t, encoding="utf-8")
        sh("git", "add", "-A", "--", *sorted({p.split("/")[0] for p in plan.files.values()}),
           *sorted(new_text), *[mod_path(p, True) for p in new_inits])
        # folders the moves emptied (only __pycache__ left) would import as namespace packages
        for old in list(GONE_PACKAGES) + list(PACKAGE_MOVES):
            d = Path(old.replace(".", "/"))
            if d.is_dir() and all(c.name == "__pycache__" for c in d.iterdir()):
                for c in d.glob("__pycache__/*"):
                    c.unlink()
                for c in d.glob("__pycache__"):
                    c.rmdir()
                d.rmdir()

    # summary
    print(f"relayout: {len(plan.files)} modules moved, {len(plan.removed)} package __init__s removed "
          f"({', '.join(GONE_PACKAGES)}), {len(new_inits)} new packages, {len(changed)} files rewritten"
          + (" (dry run: nothing written)" if args.dry_run else ""))
    for k, v in sorted(stats.items()):
        print(f"  {k}: {v}")
    print(f"  references renamed by the regex: {sum(counts.values())} ({len(counts)} distinct old names)")
    for k, v in counts.most_common():
        print(f"    {v:4d}  {k} -> {table[k]}")
    # leftovers: old bare file names in prose (``modelio.py``), which the regex leaves alone on purpose
    bare = sorted({o.rsplit(".", 1)[1] for o, n in plan.moves.items() if o.rsplit(".", 1)[1] != n.rsplit(".", 1)[1]})
    rx_bare = re.compile(r"(?<![\w/.])(" + "|".join(map(re.escape, bare)) + r")\.py\b")
    hits = [f"{p}:{t[:m.start()].count(chr(10)) + 1}: {m.group(0)}" for p, t in sorted(new_text.items())
            for m in rx_bare.finditer(t)
            if not (p == "docs/architecture.md" and t[t.rfind(chr(10), 0, m.start()) + 1:].startswith("| "))]
    if hits:
        print(f"  bare old file names left in prose (check by hand; history is fine): {len(hits)}")
        for h in hits:
            print(f"    {h}")
    for w in warnings:
        print(f"  WARNING: {w}")
    print("next: PYTHONPATH=$PWD lint-imports --no-cache; python -c 'import recorder.cli'; emgrec --help; pytest")
    return 0


if __name__ == "__main__":
    sys.exit(main())
