"""Random damage to a session's metadata bytes (issue 15 leftovers, bench/damage.py): every single-bit
flip, byte damage or 8-byte run in the attribute storage or anywhere outside chunk data must end in
a SessionFormatError naming the file or leave what the reader returns unchanged: never changed
metadata without an error, never a hang, never another exception. Before fixed-length attributes
and the root attribute checksum, about 1 in 12 flips in the attribute bytes of a closed file came
back as changed metadata. The suite runs a small sweep; the slow test runs a few hundred mutants."""

from __future__ import annotations

import pytest

from bench.damage import make_sources, sweep


def _check(res: dict, kinds) -> int:
    bad = {k: {o: res[k][o] for o in ("altered", "hang", "unclear") if res[k][o]} for k in kinds}
    assert not any(bad.values()), (bad, res["examples"])
    return sum(res[k]["detected"] for k in kinds)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    return make_sources(tmp_path_factory.mktemp("damage"))


def test_bit_flips_in_attribute_bytes_are_detected(sources, tmp_path):
    res = sweep(sources["closed"], tmp_path, n=12, kinds=("flip",), region="attributes", seed=3)
    assert _check(res, ("flip",)) == 12  # attribute messages hold no unused bytes: every flip is caught


def test_damage_in_a_crash_file_metadata_is_never_silent(sources, tmp_path):
    res = sweep(sources["crash"], tmp_path, n=8, kinds=("flip", "run"), region="metadata", seed=4)
    assert _check(res, ("flip", "run")) >= 8


@pytest.mark.slow
@pytest.mark.parametrize("name", ["closed", "crash"])
@pytest.mark.parametrize("region", ["attributes", "metadata"])
def test_damage_sweep(sources, tmp_path, name, region):
    kinds = ("flip", "byte", "run")
    res = sweep(sources[name], tmp_path, n=60, kinds=kinds, region=region, seed=11)
    print(f"\n{name} {region} ({res['bytes']} bytes): " + "; ".join(f"{k} {dict(res[k])}" for k in kinds))
    assert _check(res, kinds) > 0
