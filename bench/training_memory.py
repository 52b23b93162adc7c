"""Training memory: peak RSS of training 10 and 60 min of 16 ch x 2 kHz (and the materialised path),
one epoch of a 10-hour set through the streaming path (see bench.models.memory_rows)."""

from __future__ import annotations

from .core import Context, Row
from .models import memory_rows

GROUP = "training_memory"


def run(ctx: Context) -> list[Row]:
    return [Row(GROUP, r.name, r.value, r.unit, r.target, r.hard, note=r.note) for r in memory_rows(ctx)]
