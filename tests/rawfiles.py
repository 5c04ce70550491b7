"""A real, minimal DNG file for tests: what a camera's sensor records (an uncompressed 16-bit RGGB
Bayer mosaic of a scene) in the DNG 1.4 layout that LibRaw reads like any camera's raw file."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def write_dng(path: Path, rgb: np.ndarray, orientation: int = 1) -> None:
    """``rgb``: (H, W, 3) uint8 scene, H and W even; ``orientation``: the EXIF/TIFF value."""
    h, w, _ = rgb.shape
    scene = rgb.astype(np.uint16) * 16  # 12-bit range
    cfa = np.empty((h, w), np.uint16)
    cfa[0::2, 0::2] = scene[0::2, 0::2, 0]
    cfa[0::2, 1::2] = scene[0::2, 1::2, 1]
    cfa[1::2, 0::2] = scene[1::2, 0::2, 1]
    cfa[1::2, 1::2] = scene[1::2, 1::2, 2]
    data = cfa.astype("<u2").tobytes()
    entries: list[tuple[int, int, int, bytes]] = []  # (tag, type, count, value bytes)

    def add(tag: int, typ: int, values: object) -> None:
        fmt = {1: "B", 2: "s", 3: "H", 4: "I", 5: "II", 10: "ii"}[typ]
        if isinstance(values, str):
            b = values.encode() + b"\0"
            count = len(b)
        else:
            vals = list(values)  # type: ignore[call-overload]
            count = len(vals)
            b = (b"".join(struct.pack("<" + fmt, *v) for v in vals) if typ in (5, 10)
                 else struct.pack(f"<{count}{fmt}", *vals))
        entries.append((tag, typ, count, b))

    # Baseline TIFF tags, then the CFA layout and the DNG tags LibRaw needs (identity colour
    # matrix, neutral white balance, 12-bit white level).
    for tag, typ, values in (
        (254, 4, [0]), (256, 4, [w]), (257, 4, [h]), (258, 3, [16]), (259, 3, [1]), (262, 3, [32803]),
        (271, 2, "dcgui"), (272, 2, "Test Camera"), (273, 4, [0]), (274, 3, [orientation]), (277, 3, [1]),
        (278, 4, [h]), (279, 4, [len(data)]), (284, 3, [1]), (33421, 3, [2, 2]), (33422, 1, [0, 1, 1, 2]),
        (50706, 1, [1, 4, 0, 0]), (50708, 2, "dcgui Test Camera"), (50714, 4, [0]), (50717, 4, [4095]),
        (50721, 10, [(1, 1), (0, 1), (0, 1), (0, 1), (1, 1), (0, 1), (0, 1), (0, 1), (1, 1)]),
        (50728, 5, [(1, 1), (1, 1), (1, 1)]), (50778, 3, [21]),
    ):
        add(tag, typ, values)
    entries.sort()
    n = len(entries)
    ifd_off = 8
    ifd_size = 2 + 12 * n + 4
    extra_off = ifd_off + ifd_size
    extra = b""
    packed = []
    for tag, typ, count, b in entries:
        if len(b) <= 4:
            packed.append((tag, typ, count, b.ljust(4, b"\0")))
        else:
            off = extra_off + len(extra)
            extra += b + (b"\0" if len(b) % 2 else b"")
            packed.append((tag, typ, count, struct.pack("<I", off)))
    data_off = extra_off + len(extra)
    out = bytearray(b"II*\0" + struct.pack("<I", ifd_off) + struct.pack("<H", n))
    for tag, typ, count, v in packed:
        if tag == 273:  # StripOffsets: the mosaic follows the tag values
            v = struct.pack("<I", data_off)
        out += struct.pack("<HHI", tag, typ, count) + v
    out += struct.pack("<I", 0) + extra + data
    Path(path).write_bytes(bytes(out))
