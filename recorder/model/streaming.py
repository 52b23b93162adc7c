"""Training data larger than memory: batches read from the session files, block by block.

:class:`BlockStream` is a torch ``IterableDataset`` over the training windows of a
:class:`recorder.dataset.windows.FileWindows`. The windows (sorted by session and time) are cut into blocks
of ``block_windows`` consecutive windows; every epoch the block order is shuffled (seeded by seed and
epoch), the blocks are dealt to the DataLoader workers, and a worker reads ``mix_blocks`` blocks'
EMG rows at a time (one HDF5 read per block, in the stored dtype) and yields batches of windows drawn
at random from those blocks, normalised ``(x - mean) / std`` in float32. The DataLoader's
``prefetch_factor`` reads ahead while the model trains. Memory per worker: ``mix_blocks`` blocks of
signal plus the batches in flight, independent of the data set's length.

:func:`signal_bytes` and :func:`should_stream` decide when the trainer uses this path: when the
signals would take more than ``memory_fraction`` of the memory psutil reports available.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from recorder.dataset.windows import FileWindows


def signal_bytes(paths: Sequence[str | Path]) -> int:
    """Bytes the sessions' EMG takes in memory as stored (N x C x itemsize) plus its float64 times."""
    from recorder.session.format import SessionReader
    total = 0
    for p in paths:
        with SessionReader(p) as r:
            d = r.emg_data
            total += int(d.shape[0]) * (int(d.shape[1]) * np.dtype(d.dtype).itemsize + 8)
    return total


def available_bytes() -> int:
    import psutil
    return int(psutil.virtual_memory().available)


def should_stream(paths: Sequence[str | Path], memory_fraction: float = 0.5) -> tuple[bool, int, int]:
    """(stream?, signal bytes, available bytes): stream when the signals exceed ``memory_fraction``
    of the available memory (the rest is for the model, the batches and everything else)."""
    need, avail = signal_bytes(paths), available_bytes()
    return need > memory_fraction * avail, need, avail


class BlockStream(torch.utils.data.IterableDataset):
    """Normalised training batches (x (B, T, C) float32, y (B, ...)) from the files of ``fw``.

    idx (n,): the windows to train on (e.g. this rank's shard); targets: (M, ...) already normalised
    pose targets or labels of every window of ``fw`` (indexed by window); mean, std (C,) float32.
    Call :meth:`set_epoch` before each epoch (a new shuffle). Every batch is full except each
    worker's last (dropped when it would hold a single window: BatchNorm needs two), so an epoch
    yields at least floor(n / batch) batches over all workers.
    """

    def __init__(self, fw: FileWindows, idx: np.ndarray, targets: np.ndarray, mean: np.ndarray, std: np.ndarray,
                 batch: int, seed: int = 0, block_windows: int = 2048, mix_blocks: int = 4):
        super().__init__()
        self.fw = fw
        order = np.lexsort((fw.end[idx], fw.session[idx]))
        idx = np.asarray(idx, np.int64)[order]
        # Blocks: runs of consecutive windows of one session, at most block_windows long.
        cut = np.flatnonzero(np.diff(fw.session[idx])) + 1
        self.blocks = [b for run in np.split(idx, cut) for b in np.array_split(run, max(1, -(-len(run) // block_windows)))
                       if len(b)]
        self.targets = targets
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.batch = int(batch)
        self.seed = int(seed)
        self.mix_blocks = int(mix_blocks)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid, nw = (0, 1) if info is None else (info.id, info.num_workers)
        rng = np.random.default_rng([self.seed, self.epoch, 0x5EED])
        mine = rng.permutation(len(self.blocks))[wid::nw]  # the same permutation in every worker
        wrng = np.random.default_rng([self.seed, self.epoch, wid])
        T, B = self.fw.window_n, self.batch
        pend_x, pend_y, n_pend = [], [], 0  # windows carried into the next mix's first batch
        for g in range(0, len(mine), self.mix_blocks):
            spans, starts, wins = [], [], []
            off = 0
            for k in mine[g:g + self.mix_blocks]:
                blk = self.blocks[k]
                si = int(self.fw.session[blk[0]])
                e = self.fw.end[blk]
                lo = int(e.min()) - (T - 1)
                spans.append(self.fw.read(si, lo, int(e.max()) + 1))
                starts.append(e - (T - 1) - lo + off)
                wins.append(blk)
                off += len(spans[-1])
            view = sliding_window_view(np.concatenate(spans), T, axis=0)  # (rows - T + 1, C, T)
            starts, wins = np.concatenate(starts), np.concatenate(wins)
            perm = wrng.permutation(len(wins))
            i = 0
            while i < len(perm):
                p = perm[i:i + B - n_pend]
                i += len(p)
                x = np.ascontiguousarray(view[starts[p]].transpose(0, 2, 1), dtype=np.float32)
                x -= self.mean
                x /= self.std
                pend_x.append(x)
                pend_y.append(self.targets[wins[p]])
                n_pend += len(p)
                if n_pend == B:
                    yield self._batch(pend_x, pend_y)
                    pend_x, pend_y, n_pend = [], [], 0
        if n_pend >= 2:
            yield self._batch(pend_x, pend_y)

    @staticmethod
    def _batch(xs: list, ys: list) -> tuple[torch.Tensor, torch.Tensor]:
        x = xs[0] if len(xs) == 1 else np.concatenate(xs)
        y = ys[0] if len(ys) == 1 else np.concatenate(ys)
        return torch.from_numpy(x), torch.from_numpy(np.ascontiguousarray(y))


def take(loader: torch.utils.data.DataLoader, n: int):
    """Exactly ``n`` batches from ``loader``, starting it again if it runs dry first (every rank
    of a distributed run must take the same number of steps, or the gradient all-reduce hangs)."""
    got = 0
    while got < n:
        before = got
        for item in loader:
            yield item
            got += 1
            if got == n:
                return
        if got == before:
            raise RuntimeError("the training stream yielded no batches")


def loader(stream: BlockStream, workers: int = 2, prefetch: int = 4) -> torch.utils.data.DataLoader:
    """A DataLoader over ``stream`` reading ahead ``prefetch`` batches per worker (0 workers: in the
    training process)."""
    kw = {"prefetch_factor": prefetch} if workers > 0 else {}
    return torch.utils.data.DataLoader(stream, batch_size=None, num_workers=workers, **kw)
