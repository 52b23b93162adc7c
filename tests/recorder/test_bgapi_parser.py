"""BGAPI codec and the resynchronising parser, including property tests with garbage."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recorder.sources.myo import bgapi
from recorder.sources.myo.bgapi import FROM_DEVICE, TO_DEVICE, BgapiParser, Packet

KEYS = sorted(FROM_DEVICE)


@st.composite
def valid_packet(draw, table=FROM_DEVICE) -> bytes:
    """The bytes of one message the table accepts, with a random but well-formed payload."""
    msg_type, cls, cmd = draw(st.sampled_from(sorted(table)))
    rule = table[(msg_type, cls, cmd)]
    if rule.fixed is not None:
        payload = draw(st.binary(min_size=rule.fixed, max_size=rule.fixed))
    else:
        head = draw(st.binary(min_size=rule.array_at, max_size=rule.array_at))
        arr = draw(st.binary(max_size=40))
        payload = head + bytes([len(arr)]) + arr
    return bgapi.encode(msg_type, cls, cmd, payload)


# A stream is a list of segments: ("packet", bytes) are real messages; ("garbage", bytes) is line
# noise, a truncated message, or anything else that is not a whole message.
segment = st.one_of(
    valid_packet().map(lambda b: ("packet", b)),
    st.binary(min_size=1, max_size=30).map(lambda b: ("garbage", b)),
    valid_packet().flatmap(lambda b: st.integers(1, len(b) - 1).map(lambda k: ("garbage", b[:k]))),
)


def _layout(segments):
    """(stream bytes, [(start, end, kind, bytes)])."""
    out, pos, spans = bytearray(), 0, []
    for kind, b in segments:
        spans.append((pos, pos + len(b), kind, b))
        out += b
        pos += len(b)
    return bytes(out), spans


def _feed_split(parser, data: bytes, cuts: list[int]) -> list[Packet]:
    got, prev = [], 0
    for c in sorted(set(min(max(c, 0), len(data)) for c in cuts)) + [len(data)]:
        got += parser.feed(data[prev:c])
        prev = c
    return got


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(segment, max_size=25), st.lists(st.integers(0, 2000), max_size=12))
def test_garbage_interleaved_with_packets(segments, cuts):
    # 0xFF never starts a header; 300 of them let any pending (possibly false) header complete.
    data, spans = _layout(segments + [("garbage", b"\xff" * 300)])
    parser = BgapiParser()
    got = _feed_split(parser, data, cuts)  # never raises
    originals = {s: (e, b) for s, e, kind, b in spans if kind == "packet"}
    recovered = {p.offset: p for p in got}
    # Whatever comes out at an original's offset is exactly that original.
    for off, p in recovered.items():
        if off in originals:
            assert p.encode() == originals[off][1]
    lost = [(s, e) for s, (e, _) in originals.items() if s not in recovered]
    false = [(p.offset, p.offset + 4 + len(p.payload)) for p in got if p.offset not in originals]

    def kind_at(pos):
        return next(kind for s, e, kind, _ in spans if s <= pos < e)

    # A packet that is not in the input starts in garbage, or inside a real packet that garbage
    # already destroyed (a chain that begins in garbage).
    for s, _ in false:
        assert kind_at(s) == "garbage" or any(ls <= s < le for ls, le in lost)
    # A real packet is lost only if a false packet overlaps it: everything else is recovered.
    for ls, le in lost:
        assert any(fs < le and ls < fe for fs, fe in false), f"packet at {ls} lost without cause"
    if lost:
        assert any(kind_at(fs) == "garbage" for fs, _ in false)
    # Skipped bytes are counted as bad packets; a stream of whole packets has none.
    if all(kind == "packet" for _, _, kind, _ in spans[:-1]):
        assert parser.bad_packets == 1 and len(got) == len(originals)
    assert parser.bad_packets <= parser.skipped_bytes


@settings(max_examples=100, deadline=None)
@given(st.lists(valid_packet(), min_size=1, max_size=10), st.lists(st.integers(0, 500), max_size=20))
def test_split_points_do_not_matter(packets, cuts):
    data = b"".join(packets)
    whole = BgapiParser().feed(data)
    split = _feed_split(BgapiParser(), data, cuts)
    assert [p.encode() for p in whole] == packets
    assert whole == split


@settings(max_examples=100, deadline=None)
@given(st.lists(valid_packet(), min_size=1, max_size=8), st.data())
def test_duplicated_and_truncated_packets(packets, data):
    """A packet sent twice comes out twice. A truncated one damages nothing before it, and the
    parser is back in step once the bytes its header claimed have passed."""
    i = data.draw(st.integers(0, len(packets) - 1))
    dup = packets[:i + 1] + [packets[i]] + packets[i + 1:]
    assert [p.encode() for p in BgapiParser().feed(b"".join(dup))] == dup
    k = data.draw(st.integers(1, len(packets[i]) - 1))
    # 0xFF can never start a header, and 300 of them outlast any packet a false header can claim.
    tail = [bgapi.attribute_value_event(0, 0x2B, bytes([j] * 16)) for j in range(3)]
    stream = packets[:i] + [packets[i][:k]] + packets[i + 1:] + [b"\xff" * 300] + tail
    got = [p.encode() for p in BgapiParser().feed(b"".join(stream))]
    assert got[:i] == packets[:i]
    assert got[-3:] == tail


def test_resync_after_noise_counts_one_bad_packet():
    pkt = bgapi.attribute_value_event(0, 0x2B, bytes(range(16)))
    parser = BgapiParser()
    got = parser.feed(b"\xff\x13\x37\x42\x99" + pkt + b"\x01\x02" + pkt)
    assert [p.payload for p in got] == [pkt[4:], pkt[4:]]
    assert parser.bad_packets == 2 and parser.skipped_bytes == 7
    assert parser.take_bad() == 2 and parser.take_bad() == 0


def test_incomplete_packet_waits_then_completes():
    pkt = bgapi.attribute_value_event(0, 0x2E, bytes(16))
    parser = BgapiParser()
    assert parser.feed(pkt[:10]) == []
    got = parser.feed(pkt[10:])
    assert len(got) == 1 and got[0].offset == 0 and parser.bad_packets == 0


def test_header_contradicted_by_array_length_is_skipped_without_waiting():
    # Claims a 200-byte attribute_value whose value length byte says 16: rejected at once, so the
    # real packet right after it is not held back waiting for 200 bytes.
    fake = bytes([0x80, 200, 4, 5, 0, 0x2B, 0, 1, 16])
    pkt = bgapi.attribute_value_event(0, 0x31, bytes(16))
    got = BgapiParser().feed(fake + pkt)
    assert [p.encode() for p in got] == [pkt]


def test_unknown_messages_and_wrong_lengths_are_rejected():
    parser = BgapiParser()
    assert parser.feed(bgapi.encode(bgapi.EVENT, 9, 9, b"abc")) == []          # unknown class
    assert parser.feed(bgapi.encode(bgapi.EVENT, 4, 1, b"\x01" * 4)) == []    # procedure_completed is 5 bytes
    assert parser.bad_packets == 1  # one run of skipped bytes


def test_command_table_and_codec():
    cmd = bgapi.command(bgapi.CMD_ATTCLIENT_ATTRIBUTE_WRITE, struct.pack("<BHB", 0, 0x19, 3) + b"\x09\x01\x01")
    assert cmd[:4] == bytes([0x00, 7, 4, 5])
    (p,) = BgapiParser(TO_DEVICE).feed(cmd)
    assert p.key() == bgapi.CMD_ATTCLIENT_ATTRIBUTE_WRITE and not p.is_event
    conn, handle, typ, value = bgapi.parse_attribute_value(
        bgapi.attribute_value_event(1, 0x27, b"x" * 17)[4:])
    assert (conn, handle, typ, value) == (1, 0x27, 1, b"x" * 17)
    big = bgapi.encode(bgapi.EVENT, 4, 5, bytes(300))
    assert big[0] == 0x81 and big[1] == 300 & 0xFF
    with pytest.raises(ValueError):
        bgapi.encode(0x40, 0, 0, b"")
    with pytest.raises(ValueError):
        bgapi.encode(bgapi.EVENT, 0, 0, bytes(3000))
