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


def _note(handle: int, fill: int) -> bytes:
    """One raw EMG notification (25 bytes) whose 16 value bytes are all ``fill``."""
    return bgapi.attribute_value_event(0, handle, bytes([fill] * 16))


def test_two_truncations_in_a_row_are_not_joined():
    # A cut after 22 bytes, B after 7 (its header and the first payload bytes), then C whole: A's
    # header claims 21 payload bytes, which the first 3 of B complete. B's header sits inside
    # that chimera; its own array length byte is C's (so it looks wrong), but nothing after the
    # chimera is a header either, so the chimera's length is not confirmed: it is dropped.
    a, b, c = _note(0x34, 0x11), _note(0x2B, 0x22), _note(0x2E, 0x33)
    for cuts in ([], [22], [22, 29], [5, 40]):
        parser = BgapiParser()
        got = _feed_split(parser, a[:22] + b[:7] + c, cuts)
        assert [p.encode() for p in got] == [c], cuts
        assert parser.bad_packets >= 1


def test_data_ending_inside_the_next_header_waits_for_it():
    # A truncated notification completed by the first 1..3 bytes of the next one, with the read
    # ending there: the parser cannot see yet whether a header starts inside it, so it waits.
    a, c = _note(0x34, 0x11), _note(0x2B, 0x33)
    for k in (1, 2, 3):
        data = a[:25 - k] + c
        parser = BgapiParser()
        assert parser.feed(data[:25]) == []
        assert [p.encode() for p in parser.feed(data[25:])] == [c], k


def test_a_clean_notification_that_looks_like_holding_a_header_is_kept():
    # Value bytes that hold "80 15 04 05" running past the packet's end (its "array length" byte
    # disagrees), followed by a real header: the next header confirms the packet's length.
    value = bytes([1, 2, 3, 4, 5, 6, 7, 8, 9, 0x80, 0x15, 0x04, 0x05, 0x00, 0x2B, 0x00])
    pkt = bgapi.attribute_value_event(0, 0x31, value)
    nxt = _note(0x34, 0x44)
    assert [p.encode() for p in BgapiParser().feed(pkt + nxt)] == [pkt, nxt]
    # Ending a read with what may be the start of a header (-128 in the last channel) only
    # delays the packet until the next bytes say what follows.
    sat = bgapi.attribute_value_event(0, 0x2B, bytes(15) + b"\x80")
    parser = BgapiParser()
    assert parser.feed(sat) == []
    assert [p.encode() for p in parser.feed(nxt)] == [sat, nxt]


def _damaged_stream(n: int, seed: int, p_garbage=0.03, p_trunc=0.02, p_dup=0.02):
    """The bench's fault model over n raw notifications: (bytes, {offset: notification},
    offsets of notifications truncated and then followed by garbage)."""
    import random

    rng = random.Random(seed)
    out, sent, filled = bytearray(), {}, set()
    last_truncated = None
    for j in range(n):
        pkt = bgapi.attribute_value_event(0, (0x2B, 0x2E, 0x31, 0x34)[j % 4], bytes(rng.randrange(256) for _ in range(16)))
        if rng.random() < p_garbage:
            if last_truncated is not None:
                filled.add(last_truncated)  # its missing tail is now line noise
            out += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        last_truncated = None
        if rng.random() < p_trunc:
            last_truncated = len(out)
            out += pkt[:rng.randrange(1, len(pkt))]
            continue
        sent[len(out)] = pkt
        out += pkt
        if rng.random() < p_dup:
            sent[len(out)] = pkt
            out += pkt
    return bytes(out), sent, filled


@pytest.mark.parametrize("seed", range(4))
def test_damaged_stream_yields_only_sent_notifications(seed):
    """Garbage, truncations and duplicates at the bench's rates, read in random pieces: every
    attribute_value the parser returns is one that was sent, except where a truncated
    notification's tail was replaced by line noise, which no rule on the bytes can tell from a
    whole notification followed by noise (see the module docstring)."""
    import random

    data, sent, filled = _damaged_stream(6000, seed)
    rng = random.Random(seed)
    got = _feed_split(BgapiParser(), data, rng.sample(range(len(data)), len(data) // 30))
    notes = [p for p in got if p.key() == bgapi.EVT_ATTCLIENT_ATTRIBUTE_VALUE]
    wrong = [p.offset for p in notes if sent.get(p.offset) != p.encode() and p.offset not in filled]
    assert wrong == []
    assert len(notes) > 0.9 * len(sent)
