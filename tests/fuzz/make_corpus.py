"""Writes the fuzz seed corpus (tests/fuzz/corpus/): a few tiny PNG and JPEG files of every kind
the decoder handles, plus the hostile files of issue #22. Deterministic; re-run after changing
it: `python -m tests.fuzz.make_corpus`."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from tests.cpp import imagecraft

CORPUS = Path(__file__).with_name("corpus")


def _jpeg(mode: str, **options) -> bytes:
    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)).convert(mode).save(buf, "JPEG", **options)
    return buf.getvalue()


def seeds() -> dict[str, bytes]:
    out = {
        "gray1.png": imagecraft.png_case(0, 1, False, False),
        "gray2-interlaced-trns.png": imagecraft.png_case(0, 2, True, True),
        "gray16-trns.png": imagecraft.png_case(0, 16, True, False),
        "rgb8-trns.png": imagecraft.png_case(2, 8, True, False),
        "rgb16-interlaced.png": imagecraft.png_case(2, 16, False, True),
        "palette4-trns.png": imagecraft.png_case(3, 4, True, False),
        "palette8-trns-interlaced.png": imagecraft.png_case(3, 8, True, True),
        "gray-alpha16.png": imagecraft.png_case(4, 16, False, False),
        "rgba8-interlaced.png": imagecraft.png_case(6, 8, False, True),
        "baseline.jpg": _jpeg("RGB", quality=80),
        "progressive.jpg": _jpeg("RGB", quality=70, progressive=True),
        "gray.jpg": _jpeg("L", quality=90),
        "cmyk.jpg": _jpeg("CMYK"),
        "declares-100000x100000.png": imagecraft.png_declaring(100000, 100000),
        "declares-65500x65500.jpg": imagecraft.jpeg_declaring(65500, 65500),
        "declares-1000000x1.png": imagecraft.png_declaring(1000000, 1),
        "bad-crc-idat.png": imagecraft.with_bad_crc(imagecraft.png_case(2, 8, False, False), b"IDAT"),
    }
    jpeg = _jpeg("RGB", quality=80)
    out["cut-50.jpg"] = jpeg[: len(jpeg) // 2]
    return out


def main() -> None:
    CORPUS.mkdir(exist_ok=True)
    for old in CORPUS.iterdir():
        old.unlink()
    for name, data in seeds().items():
        (CORPUS / name).write_bytes(data)
    print(f"{len(seeds())} seeds in {CORPUS}")


if __name__ == "__main__":
    main()
