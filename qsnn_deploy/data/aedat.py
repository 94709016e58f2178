"""AEDAT 3.1 (iniVation/jAER/cAER) polarity events: a vectorised reader and a small writer for fixtures.

Layout (little-endian): ASCII header lines starting with ``#``, the first ``#!AER-DAT3.1``, the last
``#!END-HEADER\\r\\n``; then packets. Each packet is a 28-byte header ``int16 eventType, int16 eventSource,
int32 eventSize, int32 eventTSOffset, int32 eventTSOverflow, int32 eventCapacity, int32 eventNumber,
int32 eventValid`` followed by ``eventNumber * eventSize`` bytes of events. Polarity packets (type 1) hold
8-byte events: ``uint32 data`` (bit 0 valid, bit 1 polarity, bits 2-16 y, bits 17-31 x) and ``int32``
timestamp in µs; the full time is ``eventTSOverflow << 31 | timestamp``. Other packet types are skipped,
and so are events whose valid bit is clear.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from qsnn_deploy.atomic import write_atomic
from qsnn_deploy.data.events import Events
from qsnn_deploy.errors import DatasetError

POLARITY_EVENT = 1
SPECIAL_EVENT = 0
_PACKET_HEADER = struct.Struct("<hhiiiiii")
_END_HEADER = b"#!END-HEADER"


def _data_start(data: bytes, path: Path) -> int:
    """Offset of the first packet: just past the ``#!END-HEADER`` line."""
    if not data.startswith(b"#!AER-DAT3"):
        version = data[:16].split(b"\n")[0].decode("ascii", "replace").strip()
        raise DatasetError(
            f"{path}: not an AEDAT 3.x file (first line {version!r}, expected '#!AER-DAT3.1'); "
            "use the original DvsGesture release"
        )
    pos = 0
    while True:
        end = data.find(b"\n", pos)
        if end < 0 or data[pos : pos + 1] != b"#":
            raise DatasetError(
                f"{path}: AEDAT header has no '#!END-HEADER' line; the file is truncated or corrupt"
            )
        line = data[pos : end + 1]
        pos = end + 1
        if line.rstrip(b"\r\n") == _END_HEADER:
            return pos


def read_aedat31(path: Path) -> Events:
    """All valid polarity events of an AEDAT 3.1 file, in file order; ``DatasetError`` naming the file if it
    is missing, not AEDAT 3.x, or truncated."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise DatasetError(f"AEDAT file {path} not found") from e
    except OSError as e:
        raise DatasetError(f"AEDAT file {path} cannot be read: {e}") from e
    pos = _data_start(data, path)
    size = len(data)
    chunks: list[np.ndarray] = []
    overflows: list[int] = []
    counts: list[int] = []
    while pos < size:
        if size - pos < _PACKET_HEADER.size:
            raise DatasetError(f"{path}: truncated AEDAT packet header at byte {pos}; the file is incomplete")
        etype, _src, esize, ts_offset, ts_overflow, _cap, number, _valid = _PACKET_HEADER.unpack_from(
            data, pos
        )
        pos += _PACKET_HEADER.size
        if esize <= 0 or number < 0:
            raise DatasetError(
                f"{path}: corrupt AEDAT packet header at byte {pos - 28} (size {esize}, number {number})"
            )
        end = pos + esize * number
        if end > size:
            raise DatasetError(
                f"{path}: truncated AEDAT packet at byte {pos - 28} "
                f"({size - pos} of {esize * number} event bytes); the file is incomplete"
            )
        if etype == POLARITY_EVENT and number:
            if esize != 8 or ts_offset != 4:
                raise DatasetError(
                    f"{path}: polarity packet at byte {pos - 28} has event size {esize} / timestamp offset "
                    f"{ts_offset}, expected 8 / 4"
                )
            chunks.append(np.frombuffer(data, dtype="<u4", count=2 * number, offset=pos))
            overflows.append(ts_overflow)
            counts.append(number)
        pos = end
    if not chunks:
        return Events.empty()
    words = np.concatenate(chunks).reshape(-1, 2)
    valid = (words[:, 0] & 1).astype(bool)
    high = np.repeat(np.asarray(overflows, dtype=np.int64), counts) << 31
    ts = words[:, 1].astype(np.int64) & 0x7FFFFFFF
    w = words[valid, 0]
    return Events.from_arrays(
        x=(w >> 17) & 0x7FFF,
        y=(w >> 2) & 0x7FFF,
        p=(w >> 1) & 1,
        t=(high | ts)[valid],
    )


def _packet(etype: int, number: int, overflow: int, body: bytes) -> bytes:
    return _PACKET_HEADER.pack(etype, 1, 8, 4, overflow, number, number, number) + body


def write_aedat31(
    path: Path,
    events: Events,
    *,
    valid: np.ndarray | None = None,
    packet_events: int = 256,
    special_packet_after: tuple[int, ...] = (0,),
    source: str = "DVS128",
) -> None:
    """Write ``events`` (time-sorted) as an AEDAT 3.1 file shaped like the DvsGesture recordings.

    Packets hold at most ``packet_events`` events and never straddle a change of ``t >> 31`` (the overflow
    counter). After each polarity packet whose index is in ``special_packet_after`` a non-polarity packet
    (type 0, two special events) is inserted, which readers must skip. ``valid`` (bool per event, default
    all true) sets bit 0 of each event. Written atomically.
    """
    t = np.asarray(events.t, dtype=np.int64)
    if len(t) and (np.any(np.diff(t) < 0) or t[0] < 0):
        raise ValueError("write_aedat31 needs non-negative, time-sorted events")
    ok = np.ones(len(t), dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    data = (
        (events.x.astype(np.uint32) << 17)
        | (events.y.astype(np.uint32) << 2)
        | ((events.p.astype(np.uint32) & 1) << 1)
        | ok.astype(np.uint32)
    )
    words = np.stack([data, (t & 0x7FFFFFFF).astype(np.uint32)], axis=1).astype("<u4")
    overflow = t >> 31
    cuts = set(range(0, len(t), packet_events)) | set(np.flatnonzero(np.diff(overflow)) + 1)
    bounds = sorted(cuts) + [len(t)]
    header = (
        "#!AER-DAT3.1\r\n#Format: RAW\r\n"
        f"#Source 1: {source}\r\n#Start-Time: 2017-01-01 00:00:00 (TZ+0000)\r\n#!END-HEADER\r\n"
    ).encode("ascii")
    parts = [header]
    for index, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        parts.append(_packet(POLARITY_EVENT, hi - lo, int(overflow[lo]), words[lo:hi].tobytes()))
        if index in special_packet_after:
            special = np.array([[1 | (2 << 1), t[hi - 1] & 0x7FFFFFFF]] * 2, dtype="<u4")
            parts.append(_packet(SPECIAL_EVENT, 2, int(overflow[hi - 1]), special.tobytes()))
    payload = b"".join(parts)
    write_atomic(Path(path), lambda f: f.write(payload))
