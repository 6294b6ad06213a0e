"""PNG and JPEG files made byte by byte: every PNG colour type, bit depth, tRNS and Adam7
interlacing (Pillow writes only some of them), and the hostile files of issue #22 (a tiny file
declaring a huge image, truncated and corrupt files)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np

# (colour type, bit depths): 0 gray, 2 RGB, 3 palette, 4 gray + alpha, 6 RGBA.
PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Adam7 passes: (x0, y0, dx, dy).
_ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _rows(samples: np.ndarray, depth: int) -> list[bytes]:
    """Each row of `samples` (height x width*channels, unsigned) packed at `depth` bits."""
    out = []
    for row in samples:
        if depth == 16:
            out.append(row.astype(">u2").tobytes())
        elif depth == 8:
            out.append(row.astype(np.uint8).tobytes())
        else:
            bits = np.unpackbits(row.astype(np.uint8)[:, None], axis=1)[:, 8 - depth :].reshape(-1)
            out.append(np.packbits(bits).tobytes())
    return out


def png(samples: np.ndarray, color: int, depth: int, *, palette: np.ndarray | None = None, trns: bytes | None = None, interlace: bool = False, extra: bytes = b"") -> bytes:
    """A PNG of `samples` (height x width x channels, integers of `depth` bits; palette indices
    for colour type 3), filter type 0 on every row. `extra` chunks go before IDAT."""
    height, width = samples.shape[:2]
    flat = samples.reshape(height, width * _CHANNELS[color])
    raw = b""
    if interlace:
        for x0, y0, dx, dy in _ADAM7:
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += b"".join(b"\0" + r for r in _rows(sub.reshape(sub.shape[0], -1), depth))
    else:
        raw = b"".join(b"\0" + r for r in _rows(flat, depth))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, int(interlace)))
    if palette is not None:
        out += chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    if trns is not None:
        out += chunk(b"tRNS", trns)
    return out + extra + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def png_case(color: int, depth: int, with_trns: bool, interlace: bool, seed: int = 0) -> bytes:
    """A random odd-sized image of that PNG kind (tRNS only where the format allows it)."""
    rng = np.random.default_rng(seed + 97 * color + depth)
    height, width = 13, 19
    top = (1 << depth) - 1
    samples = rng.integers(0, top + 1, (height, width, _CHANNELS[color]), dtype=np.int64)
    palette = trns = None
    if color == 3:
        entries = 1 << depth
        palette = rng.integers(0, 256, (entries, 3))
        if with_trns:  # fewer alpha entries than colours, as encoders write them
            trns = rng.integers(0, 256, max(1, entries // 2)).astype(np.uint8).tobytes()
    elif with_trns and color == 0:
        trns = struct.pack(">H", int(samples[0, 0, 0]))
    elif with_trns and color == 2:
        trns = struct.pack(">HHH", *(int(v) for v in samples[0, 0]))
    return png(samples, color, depth, palette=palette, trns=trns, interlace=interlace)


def _gray8(width: int, height: int, raw: bytes) -> bytes:
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + ihdr + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b"")


def png_declaring(width: int, height: int) -> bytes:
    """A valid-looking few-hundred-byte gray PNG whose header declares width x height."""
    return _gray8(width, height, b"\0" * 64)


def png_black(width: int, height: int) -> bytes:
    """A complete black 8-bit gray PNG: megapixels in a few kilobytes."""
    return _gray8(width, height, bytes(width + 1) * height)


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG with its frame header (SOF0) patched to declare width x height."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 120, 200)).save(buf, "JPEG", quality=90)
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def with_bad_crc(data: bytes, kind: bytes) -> bytes:
    """`data` (a PNG) with the checksum of its first `kind` chunk flipped."""
    start = data.index(kind) - 4
    length = struct.unpack(">I", data[start : start + 4])[0]
    crc_at = start + 8 + length
    out = bytearray(data)
    out[crc_at] ^= 0xFF
    return bytes(out)
