"""Hostile inputs to training and model folders (issue 15): non-finite data never reaches a model, a
diverged model is never saved, model folders are validated before anything is built."""

from __future__ import annotations

import json
import os
import shutil

import h5py
import numpy as np
import pytest
import torch

from recorder.dataset import windows as ds
from recorder.model import folder as modelio
from recorder.model.folder import ModelFormatError, load_model, read_meta
from recorder.model.training import train

TINY = {"model": {"name": "dense", "params": {"hidden": [16]}}, "data": {"window_ms": 100},
        "train": {"epochs": 2, "batch_size": 64, "threads": 1}}


@pytest.fixture(scope="module")
def session(synthetic_session):
    return synthetic_session


@pytest.fixture(scope="module")
def model(session, tmp_path_factory):
    return train(TINY, [session], tmp_path_factory.mktemp("hm") / "m").out_dir


def _copy(model, tmp_path, name="m2"):
    d = tmp_path / name
    shutil.copytree(model, d)
    return d


@pytest.mark.parametrize("what", ["emg nan", "emg inf", "time nan", "time inf", "landmark inf"])
def test_training_refuses_non_finite_inputs(session, tmp_path, what):
    p = tmp_path / "nonfinite.h5"
    shutil.copyfile(session, p)
    with h5py.File(p, "r+") as f:
        if what.startswith("emg"):
            attrs = dict(f["emg/data"].attrs)
            x = f["emg/data"][:].astype(np.float32)
            x[500, 2] = np.nan if what == "emg nan" else np.inf
            del f["emg/data"]
            f.create_dataset("emg/data", data=x, maxshape=(None, x.shape[1]), chunks=(1024, x.shape[1])).attrs.update(attrs)
        elif what.startswith("time"):
            f["emg/t"][700] = np.nan if what == "time nan" else np.inf
        else:
            f["landmarks/world"][40, 3, 1] = np.inf
    out = tmp_path / "m"
    with pytest.raises(ds.DatasetError, match="non-finite|infinite") as ei:
        train(TINY, [p], out)
    assert "nonfinite.h5" in str(ei.value)
    assert not out.exists()


def test_a_model_with_nan_weights_is_never_saved(model, tmp_path):
    m = load_model(model)
    with torch.no_grad():
        next(m.module.net.parameters()).fill_(float("nan"))
    out = tmp_path / "nan-model"
    with pytest.raises(ValueError, match="NaN or inf"):
        modelio.save_model(out, m.module, m.meta)
    assert not out.exists()


def test_diverged_training_saves_nothing(session, tmp_path):
    out = tmp_path / "diverged"
    cfg = {**TINY, "train": {**TINY["train"], "lr": 1e30, "clip_grad": 0}}
    with pytest.raises((RuntimeError, ValueError), match="diverged"):
        train(cfg, [session], out)
    assert not (out / modelio.WEIGHTS_FILE).exists()


def test_links_out_of_the_folder_are_refused(model, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    d = _copy(model, tmp_path, "wlink")
    shutil.move(d / modelio.WEIGHTS_FILE, outside / modelio.WEIGHTS_FILE)
    os.symlink(outside / modelio.WEIGHTS_FILE, d / modelio.WEIGHTS_FILE)
    with pytest.raises(ModelFormatError, match="outside the model folder"):
        load_model(d)
    d = _copy(model, tmp_path, "jlink")
    shutil.move(d / modelio.META_FILE, outside / modelio.META_FILE)
    os.symlink(outside / modelio.META_FILE, d / modelio.META_FILE)
    with pytest.raises(ModelFormatError, match="outside the model folder"):
        load_model(d)


@pytest.mark.parametrize("edit, problem", [
    (lambda m: m["input"].pop("window_n"), "window_n"),
    (lambda m: m["input"].pop("n_channels"), "n_channels"),
    (lambda m: m["targets"].pop("n"), "targets.n"),
    (lambda m: m["input"].__setitem__("channel_names", 3), "channel_names"),
    (lambda m: m.__setitem__("architecture", "dense"), "architecture"),
    (lambda m: m["baseline"].pop("pose_mm"), "pose_mm"),
    (lambda m: m.__setitem__("split", {"sessions": [{"train": 1}]}), "split"),
    (lambda m: m["input"].__setitem__("window_n", 10 ** 12), "window_n"),
    (lambda m: m.__setitem__("task", ["pose"]), "task"),
])
def test_model_json_is_validated_before_building(model, tmp_path, edit, problem):
    d = _copy(model, tmp_path)
    meta = json.loads((d / modelio.META_FILE).read_text())
    edit(meta)
    (d / modelio.META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelFormatError, match=problem):
        load_model(d)


def test_network_size_and_model_json_size_are_capped(model, tmp_path, monkeypatch):
    d = _copy(model, tmp_path)
    meta = json.loads((d / modelio.META_FILE).read_text())
    meta["architecture"]["params"]["hidden"] = [200_000, 200_000]  # 4e10 parameters: 160 GB
    (d / modelio.META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelFormatError, match="parameters"):
        load_model(d)
    d2 = _copy(model, tmp_path, "big")
    monkeypatch.setattr(modelio, "MAX_META_BYTES", 1000)
    with pytest.raises(ModelFormatError, match="bytes"):
        read_meta(d2)
