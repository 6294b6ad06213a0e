"""Image decoding: what the app hands to pre-processing (docs/processing.md, Input image)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from edgesdk.processing import ImageDecodeError, decode_image


def _rgb(h=13, w=17, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _png_rgb16(path: Path, pixels: np.ndarray) -> None:
    """A 16-bit RGB PNG written by hand (Pillow cannot write one)."""
    h, w, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_png_round_trip_is_exact_in_both_orders(tmp_path):
    pixels = _rgb()
    Image.fromarray(pixels).save(tmp_path / "a.png")
    decoded = decode_image(tmp_path / "a.png")
    assert decoded.dtype == np.uint8 and decoded.shape == (13, 17, 3)
    np.testing.assert_array_equal(decoded, pixels)
    bgr = decode_image(str(tmp_path / "a.png"), color="bgr")
    np.testing.assert_array_equal(bgr, pixels[..., ::-1])
    assert bgr.flags.c_contiguous


def test_gray_is_replicated_to_three_channels(tmp_path):
    gray = _rgb()[..., 0]
    Image.fromarray(gray, mode="L").save(tmp_path / "g.png")
    decoded = decode_image(tmp_path / "g.png")
    np.testing.assert_array_equal(decoded, np.repeat(gray[..., None], 3, axis=2))


def test_alpha_is_dropped_not_composited(tmp_path):
    rgba = np.concatenate([_rgb(), np.random.default_rng(1).integers(0, 256, (13, 17, 1), dtype=np.uint8)], axis=2)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(decode_image(tmp_path / "a.png"), rgba[..., :3])


def test_16bit_gray_png_is_clipped_to_255_as_pillow_converts_it(tmp_path):
    values = np.array([[0, 200, 255, 256, 1000, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    decoded = decode_image(tmp_path / "g16.png")
    assert decoded[0, :, 0].tolist() == [0, 200, 255, 255, 255, 255]
    assert (decoded == decoded[..., :1]).all()


def test_16bit_rgb_png_keeps_the_high_byte(tmp_path):
    values = np.array([[[0, 255, 256], [1000, 65535, 32768]]], np.uint16)
    _png_rgb16(tmp_path / "c16.png", values)
    np.testing.assert_array_equal(decode_image(tmp_path / "c16.png"), (values >> 8).astype(np.uint8))


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(_rgb(10, 30)).save(tmp_path / "r.jpg", exif=exif)
    assert decode_image(tmp_path / "r.jpg").shape == (30, 10, 3)


@pytest.mark.parametrize("subsampling", [0, 2])
def test_jpeg_decodes_like_opencvs_libjpeg_turbo(tmp_path, subsampling):
    """An independent decoder (OpenCV's libjpeg-turbo) gives the same pixels, 4:2:0 upsampling included."""
    Image.fromarray(_rgb(32, 48)).save(tmp_path / "a.jpg", quality=90, subsampling=subsampling)
    want = cv2.imread(str(tmp_path / "a.jpg"), cv2.IMREAD_COLOR)[..., ::-1]
    np.testing.assert_array_equal(decode_image(tmp_path / "a.jpg"), want)
    np.testing.assert_array_equal(decode_image(tmp_path / "a.jpg", "bgr"), want[..., ::-1])


@pytest.mark.parametrize("content", [b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, b""])
def test_undecodable_file_names_the_file(tmp_path, content):
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(ImageDecodeError, match="broken.png") as info:
        decode_image(path)
    assert isinstance(info.value, ValueError)


def test_truncated_png_is_a_decode_error(tmp_path):
    Image.fromarray(_rgb(64, 64)).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageDecodeError, match="t.png"):
        decode_image(tmp_path / "t.png")


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        decode_image(tmp_path / "nope.png")
