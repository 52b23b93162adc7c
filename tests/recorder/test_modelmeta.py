"""ModelMeta is the one definition of model.json: a written file round-trips byte for byte, its keys
stay in the documented order, model.json as the first version of the trainer wrote it still loads,
unknown keys survive, and malformed optional sections are refused."""
import dataclasses
import json

import numpy as np
import pytest

from recorder.model import folder as modelio
from recorder.model.folder import ModelFormatError, ModelMeta, load_model, read_meta
from recorder.imports.synthetic_sessions import make_synthetic_session
from recorder.model.training import train

#: Top-level keys of a model.json written by train(), in file order (byte compatibility).
WRITTEN_KEYS = ["format", "format_version", "created_utc", "task", "architecture", "config", "input",
                "normalisation", "targets", "class_names", "baseline", "split", "data", "metrics", "history",
                "training", "software", "baselines", "blend", "quality"]
#: Keys and sub-keys added to model.json after the first trainer (983fb19): an old file lacks them.
LATER_KEYS = ["baselines", "blend", "quality"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("mm")
    s = make_synthetic_session(d / "s.h5", duration_s=15, seed=3)
    cfg = {"model": {"name": "dense", "params": {"hidden": [16]}}, "data": {"window_ms": 100},
           "train": {"epochs": 1, "batch_size": 64, "threads": 1}}
    res = train(cfg, [s], d / "m")
    return d / "m", res


def _copy_with(src, dst, meta: dict):
    dst.mkdir()
    (dst / modelio.WEIGHTS_FILE).write_bytes((src / modelio.WEIGHTS_FILE).read_bytes())
    (dst / modelio.META_FILE).write_text(json.dumps(meta, indent=1))
    return dst


def test_written_model_json_round_trips_byte_for_byte(model):
    folder, res = model
    text = (folder / modelio.META_FILE).read_text()
    assert list(json.loads(text)) == WRITTEN_KEYS
    meta = read_meta(folder)
    assert isinstance(meta, ModelMeta) and isinstance(res.meta, ModelMeta)
    assert meta.to_json() == text == res.meta.to_json()
    assert ModelMeta.from_json(text) == meta == load_model(folder).meta
    # attributes, not keys
    assert meta.task == "pose" and meta.architecture_name == "dense" and meta.window_ms == 100.0
    assert meta.window_n == res.meta.input["window_n"] and meta.sample_rate_hz > 0
    assert meta.n_outputs == 63 and not meta.is_angles and meta.session_names == ["s.h5"]
    assert meta.no_skill == bool(meta.quality["no_skill"]) and meta.training["epochs_run"] == 1
    assert meta.data_config["window_ms"] == 100.0 and meta.calibration is None and meta.extra == {}


def test_first_version_model_json_still_loads(model, tmp_path):
    """model.json as the first trainer wrote it (no baselines, blend, quality, training.data,
    data.cleaning, targets.frame) loads, predicts, and is written back as it was."""
    folder, _ = model
    old = json.loads((folder / modelio.META_FILE).read_text())
    for k in LATER_KEYS:
        old.pop(k)
    old["training"].pop("data")
    old["data"].pop("cleaning")
    old["targets"].pop("frame")
    old["config"] = {"task": "pose", "data": {"window_ms": 100.0}}  # configs held fewer keys then
    d = _copy_with(folder, tmp_path / "old", old)
    m = load_model(d)
    assert m.meta.baselines is None and m.meta.blend is None and m.meta.quality is None and not m.meta.no_skill
    assert m.meta.to_dict() == old and list(m.meta.to_dict()) == list(old)
    assert m.predict(np.zeros((2, m.window_n, len(m.channel_names)), np.float32)).shape == (2, 63)
    # the optional top-level keys may be absent altogether
    for k in ("created_utc", "config"):
        old.pop(k)
    d2 = _copy_with(folder, tmp_path / "older", old)
    meta = read_meta(d2)
    assert meta.created_utc is None and meta.config is None and meta.data_config == {}
    assert "created_utc" not in meta.to_dict() and "config" not in meta.to_dict()


def test_unknown_keys_are_kept_and_written_last(model, tmp_path):
    folder, _ = model
    raw = json.loads((folder / modelio.META_FILE).read_text())
    raw["from_the_future"] = {"x": 1}
    meta = read_meta(_copy_with(folder, tmp_path / "future", raw))
    assert meta.extra == {"from_the_future": {"x": 1}}
    assert list(meta.to_dict())[-1] == "from_the_future" and meta.to_dict() == raw


@pytest.mark.parametrize("key, value, problem", [
    ("history", {"not": "a list"}, "history"),
    ("metrics", [1, 2], "metrics"),
    ("quality", "bad", "quality"),
    ("created_utc", 5, "created_utc"),
    ("format_version", 2, "version 2"),
    ("format", "other", "not an emgrec model"),
])
def test_malformed_sections_are_refused(model, tmp_path, key, value, problem):
    folder, _ = model
    raw = json.loads((folder / modelio.META_FILE).read_text())
    raw[key] = value
    d = _copy_with(folder, tmp_path / key, raw)
    with pytest.raises(ModelFormatError, match=problem):
        read_meta(d)
    with pytest.raises(ModelFormatError, match=problem):
        ModelMeta.from_json(json.dumps(raw))


def test_nan_is_written_as_null_and_replace_keeps_the_rest(model):
    _, res = model
    m = dataclasses.replace(res.meta, metrics={"val": {"ratio": float("nan")}})
    assert json.loads(m.to_json())["metrics"] == {"val": {"ratio": None}}
    assert m.input is res.meta.input and res.meta.metrics != m.metrics
