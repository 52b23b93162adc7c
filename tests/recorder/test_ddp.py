"""The same training under torchrun with 2 CPU processes (DDP, gloo): sharded, rank 0 writes."""
import json
import os
import subprocess
import sys

import pytest

from recorder.modelio import load_model
from recorder.simulate import make_synthetic_session


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path):
    s = make_synthetic_session(tmp_path / "s.h5", duration_s=20, seed=6)
    cfg = {"model": {"name": "small_lstm", "params": {"hidden": 16, "dense": [16]}}, "data": {"window_ms": 150},
           "train": {"epochs": 2, "batch_size": 32, "threads": 1}, "sessions": [str(s)], "out": str(tmp_path / "m")}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "-m", "recorder.training", "--config", str(tmp_path / "cfg.json")],
                         capture_output=True, text=True, timeout=280, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    # only rank 0 reports and writes
    assert [e["event"] for e in events] == ["start", "epoch", "epoch", "done"]
    assert events[0]["world_size"] == 2
    m = load_model(tmp_path / "m")
    assert m.meta["training"]["world_size"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.json", "m", "s.h5"]
    # the two ranks together cover the training windows once per epoch (each its own half; the
    # shards are padded to equal length like DistributedSampler, and a last batch of 1 is skipped)
    n_train = events[0]["n_train"]
    assert n_train - 4 <= events[1]["samples"] <= n_train + 1
    assert m.meta["metrics"]["test"]["n"] > 0
