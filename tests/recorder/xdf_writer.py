"""A minimal XDF 1.0 writer for tests (the container is documented at
github.com/sccn/xdf/wiki/Specifications): FileHeader, StreamHeader, Samples, ClockOffset, StreamFooter."""
import struct
from xml.sax.saxutils import escape

import numpy as np

_FMT = {"float32": "<f4", "double64": "<f8", "int16": "<i2", "int32": "<i4", "int8": "<i1"}


def _varlen(n: int) -> bytes:
    if n < 256:
        return b"\x01" + struct.pack("<B", n)
    if n < 2 ** 32:
        return b"\x04" + struct.pack("<I", n)
    return b"\x08" + struct.pack("<Q", n)


def _chunk(tag: int, content: bytes) -> bytes:
    return _varlen(len(content) + 2) + struct.pack("<H", tag) + content


class XdfWriter:
    def __init__(self):
        self.parts = [b"XDF:", _chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>')]

    def stream(self, sid: int, name: str, type_: str, channel_count: int, srate: float, fmt: str,
               labels=None, unit: str = "") -> None:
        chans = ""
        if labels:
            chans = "<channels>" + "".join(
                f"<channel><label>{escape(l)}</label><unit>{escape(unit)}</unit><type>EMG</type></channel>"
                for l in labels) + "</channels>"
        xml = (f'<?xml version="1.0"?><info><name>{escape(name)}</name><type>{escape(type_)}</type>'
               f"<channel_count>{channel_count}</channel_count><nominal_srate>{srate}</nominal_srate>"
               f"<channel_format>{fmt}</channel_format><source_id>{escape(name)}-id</source_id>"
               f"<created_at>0</created_at><uid>u{sid}</uid><hostname>test</hostname><desc>{chans}</desc></info>")
        self.parts.append(_chunk(2, struct.pack("<I", sid) + xml.encode()))

    def samples(self, sid: int, ts, values, fmt: str) -> None:
        body = b""
        for t, row in zip(ts, values):
            body += b"\x08" + struct.pack("<d", float(t))
            if fmt == "string":
                for v in row:
                    b = str(v).encode()
                    body += _varlen(len(b)) + b
            else:
                body += np.asarray(row, dtype=_FMT[fmt]).tobytes()
        self.parts.append(_chunk(3, struct.pack("<I", sid) + _varlen(len(ts)) + body))

    def clock_offset(self, sid: int, collection_time: float, offset: float) -> None:
        self.parts.append(_chunk(4, struct.pack("<Idd", sid, collection_time, offset)))

    def footer(self, sid: int, first: float, last: float, count: int, srate: float) -> None:
        xml = (f'<?xml version="1.0"?><info><first_timestamp>{first}</first_timestamp><last_timestamp>{last}'
               f"</last_timestamp><sample_count>{count}</sample_count><measured_srate>{srate}</measured_srate>"
               f"</info>")
        self.parts.append(_chunk(6, struct.pack("<I", sid) + xml.encode()))

    def save(self, path) -> None:
        with open(path, "wb") as fh:
            fh.write(b"".join(self.parts))
