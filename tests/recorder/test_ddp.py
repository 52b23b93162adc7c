"""The same training under torchrun with 2 CPU processes (DDP, gloo): sharded, rank 0 writes."""
import json
import os
import subprocess
import sys

import pytest

from recorder.model.folder import load_model
from recorder.imports.synthetic_sessions import make_synthetic_session


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path, synthetic_session, session_copy):
    s = session_copy(synthetic_session)
    cfg = {"model": {"name": "small_lstm", "params": {"hidden": 16, "dense": [16]}}, "data": {"window_ms": 150},
           "train": {"epochs": 2, "batch_size": 32, "threads": 1}}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "-m", "recorder", "train", str(s), "--out", str(tmp_path / "m"),
                          "--config", str(tmp_path / "cfg.json"), "--jsonl-progress", "--allow-no-skill"],
                         capture_output=True, text=True, timeout=280, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    # only rank 0 reports and writes
    assert [e["event"] for e in events] == ["start", "epoch", "epoch", "done"]
    assert events[0]["world_size"] == 2
    m = load_model(tmp_path / "m")
    assert m.meta.training["world_size"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.json", "m", "s.h5"]
    # the two ranks together cover the training windows once per epoch (each its own half; the
    # shards are padded to equal length like DistributedSampler, and a last batch of 1 is skipped)
    n_train = events[0]["n_train"]
    assert n_train - 4 <= events[1]["samples"] <= n_train + 1
    assert m.meta.metrics["test"]["n"] > 0


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("n_sessions,stream", [(2, False), (2, True), (1, True)])
def test_torchrun_two_nodes_each_reads_its_shard(tmp_path, n_sessions, stream):
    """`torchrun --nnodes 2` with a c10d rendezvous endpoint, as two local "nodes" of one process
    each; with two sessions each node reads only its own (in memory or streamed from the file);
    with one session (streamed) both read it and each takes its half of the windows."""
    ss = [str(make_synthetic_session(tmp_path / f"s{i}.h5", duration_s=20, seed=10 + i)) for i in range(n_sessions)]
    cfg = {"model": {"name": "small_lstm", "params": {"hidden": 16, "dense": [16]}}, "data": {"window_ms": 150},
           "split": {"mode": "time"},  # every session has training windows (a session split would not)
           "train": {"epochs": 2, "batch_size": 32, "threads": 1, "stream": stream, "workers": 1}}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    port = _free_port()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1",
           "--rdzv_backend=c10d", f"--rdzv_endpoint=127.0.0.1:{port}", "--rdzv_id=emgrec-test",
           "-m", "recorder", "train", *ss, "--out", str(tmp_path / "m"), "--config", str(tmp_path / "cfg.json"),
           "--jsonl-progress", "--allow-no-skill"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
             for _ in range(2)]
    outs = [p.communicate(timeout=280) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    events = [json.loads(line) for o, _ in outs for line in o.splitlines() if line.startswith("{")]
    assert [e["event"] for e in events] == ["start", "epoch", "epoch", "done"]  # rank 0 only
    assert events[0]["world_size"] == 2 and events[0]["data"] == ("stream" if stream else "files")
    m = load_model(tmp_path / "m")
    # each epoch: the same number of full batches on both nodes (the smaller shard decides)
    if n_sessions == 2:
        assert m.meta.training["data"]["sessions_per_rank"] == [[0], [1]]
        per_rank = [e["windows"]["train"] for e in m.meta.data["sessions"]]
    else:
        assert m.meta.training["data"]["sessions_per_rank"] == [[0], [0]]
        n = m.meta.data["windows"]["train"]
        per_rank = [(n + 1) // 2, n // 2]
    assert events[1]["samples"] == 2 * 32 * (min(per_rank) // 32)
    assert m.meta.metrics["test"]["n"] > 0
