"""Camera frames and orientation (docs/processing.md, "Camera frames and orientation").

A frame (YUV 4:2:0 planes with row and pixel strides, or interleaved RGB-family pixels) becomes
RGB with the contract's integer arithmetic, is rotated clockwise and mirrored to upright, and the
region of interest is taken; the manifest's steps run on what is left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ProcessingError

# Interleaved formats: channels per pixel, and the byte of R, G, B inside one pixel.
PACKED_FORMATS = {"rgb": (3, (0, 1, 2)), "bgr": (3, (2, 1, 0)), "rgba": (4, (0, 1, 2)), "bgra": (4, (2, 1, 0)), "gray": (1, (0, 0, 0))}
YUV_FILE_FORMATS = ("nv21", "nv12", "i420")
FILE_FORMATS = YUV_FILE_FORMATS + tuple(PACKED_FORMATS)
YUV_RANGES = ("video", "full")
ROTATIONS = (0, 90, 180, 270)

# BT.601 video range, OpenCV's fixed point (color_yuv: ITUR_BT_601_*, shift 20).
_CY, _CVR, _CVG, _CUG, _CUB = 1220542, 1673527, -852492, -409993, 2116026
_SHIFT = 20


def _jfif_table(c: float) -> np.ndarray:
    # Pillow's ConvertYCbCr.c tables: int() truncates toward zero, as the contract's trunc does.
    return np.array([int(c * 64.0 * (i - 128) + 0.5) for i in range(256)], dtype=np.int64)


_RV, _GU, _GV, _BU = (_jfif_table(c) for c in (1.402, -0.34414, -0.71414, 1.772))


@dataclass(frozen=True)
class Plane:
    """One image plane inside a byte buffer: sample (x, y) is data[offset + y * row_stride + x * pixel_stride]."""

    data: bytes | bytearray | memoryview | np.ndarray
    row_stride: int
    pixel_stride: int = 1
    offset: int = 0


def _positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ProcessingError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _samples(plane: Plane, cols: int, rows: int, name: str) -> np.ndarray:
    """The rows x cols samples of `plane`, checked against its buffer (a strided view, no copy)."""
    data = np.frombuffer(plane.data, dtype=np.uint8) if not isinstance(plane.data, np.ndarray) else plane.data.reshape(-1)
    if data.dtype != np.uint8:
        raise ProcessingError(f"{name}: the plane must hold uint8 bytes, got {data.dtype}")
    pixel_stride = _positive(f"{name}.pixel_stride", plane.pixel_stride)
    row_stride = _positive(f"{name}.row_stride", plane.row_stride)
    if isinstance(plane.offset, bool) or not isinstance(plane.offset, (int, np.integer)) or plane.offset < 0:
        raise ProcessingError(f"{name}.offset must be >= 0, got {plane.offset!r}")
    if row_stride < cols * pixel_stride:
        raise ProcessingError(f"{name}.row_stride {row_stride} is less than {cols} samples x pixel_stride {pixel_stride}")
    needed = plane.offset + (rows - 1) * row_stride + (cols - 1) * pixel_stride + 1
    if data.size < needed:
        raise ProcessingError(f"{name}: the buffer holds {data.size} bytes, {cols}x{rows} samples with row_stride {row_stride} and pixel_stride {pixel_stride} need {needed}")
    return np.lib.stride_tricks.as_strided(data[plane.offset :], shape=(rows, cols), strides=(row_stride, pixel_stride), writeable=False)


def yuv_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, yuv_range: str = "video") -> np.ndarray:
    """Per-pixel BT.601 Y, U, V (uint8 arrays of one shape) -> HWC uint8 RGB, the contract's integers."""
    if yuv_range not in YUV_RANGES:
        raise ProcessingError(f"yuv_range must be one of {YUV_RANGES}, got {yuv_range!r}")
    y, u, v = (np.asarray(a, dtype=np.int64) for a in (y, u, v))
    if yuv_range == "video":
        luma = np.maximum(y - 16, 0) * _CY + (1 << (_SHIFT - 1))
        u, v = u - 128, v - 128
        rgb = tuple(c >> _SHIFT for c in (luma + _CVR * v, luma + _CVG * v + _CUG * u, luma + _CUB * u))
    else:
        rgb = (y + (_RV[v] >> 6), y + ((_GU[u] + _GV[v]) >> 6), y + (_BU[u] >> 6))
    return np.clip(np.stack(rgb, axis=-1), 0, 255).astype(np.uint8)


def yuv420_to_rgb(width: int, height: int, y: Plane, u: Plane, v: Plane, yuv_range: str = "video") -> np.ndarray:
    """A YUV 4:2:0 frame (Android YUV_420_888: U and V share row and pixel strides) -> HWC uint8 RGB."""
    width, height = _positive("width", width), _positive("height", height)
    if y.pixel_stride != 1:
        raise ProcessingError(f"Y.pixel_stride must be 1, got {y.pixel_stride!r}")
    if (u.row_stride, u.pixel_stride) != (v.row_stride, v.pixel_stride):
        raise ProcessingError(f"U and V must share row_stride and pixel_stride, got ({u.row_stride}, {u.pixel_stride}) and ({v.row_stride}, {v.pixel_stride})")
    if u.pixel_stride not in (1, 2):
        raise ProcessingError(f"UV pixel_stride must be 1 or 2, got {u.pixel_stride!r}")
    cw, ch = (width + 1) // 2, (height + 1) // 2
    luma = _samples(y, width, height, "Y")

    # Each chroma sample covers its 2x2 block: repeat, then cut an odd size's extra column/row.
    def up(p: np.ndarray) -> np.ndarray:
        return np.repeat(np.repeat(p, 2, axis=0), 2, axis=1)[:height, :width]

    return yuv_to_rgb(luma, up(_samples(u, cw, ch, "U")), up(_samples(v, cw, ch, "V")), yuv_range)


def semiplanar_planes(data, width: int, height: int, row_stride: int | None, order: str) -> tuple[Plane, Plane, Plane]:
    """Y with row_stride, then one interleaved chroma plane (NV21: order 'vu', NV12: 'uv') with
    row stride 2 * ceil(row_stride / 2): ceil(row_stride / 2) chroma samples, as I420."""
    stride = row_stride if row_stride is not None else width
    chroma, cstride = stride * height, 2 * ((stride + 1) // 2)
    first, second = Plane(data, cstride, 2, chroma), Plane(data, cstride, 2, chroma + 1)
    u, v = (second, first) if order == "vu" else (first, second)
    return Plane(data, stride), u, v


def planar_planes(data, width: int, height: int, row_stride: int | None) -> tuple[Plane, Plane, Plane]:
    """I420: Y, then U, then V; chroma row stride ceil(row_stride / 2)."""
    stride = row_stride if row_stride is not None else width
    cstride, ch = (stride + 1) // 2, (height + 1) // 2
    return Plane(data, stride), Plane(data, cstride, 1, stride * height), Plane(data, cstride, 1, stride * height + cstride * ch)


def raw_frame_size(fmt: str, width: int, height: int, row_stride: int | None = None) -> int:
    """Bytes of a raw frame file: the planes back to back, full last rows."""
    if fmt in PACKED_FORMATS:
        return (row_stride if row_stride is not None else width * PACKED_FORMATS[fmt][0]) * height
    stride = row_stride if row_stride is not None else width
    ch = (height + 1) // 2
    if fmt == "i420":
        return stride * height + 2 * ((stride + 1) // 2) * ch
    return stride * height + 2 * ((stride + 1) // 2) * ch


def frame_to_rgb(data, fmt: str, width: int, height: int, row_stride: int | None = None, yuv_range: str = "video") -> np.ndarray:
    """A frame laid out as a raw frame file (`fmt` one of FILE_FORMATS) -> HWC uint8 RGB.

    The buffer may be longer than the planes need (Android's last rows may also be short: only
    the bytes the samples touch are required).
    """
    if fmt not in FILE_FORMATS:
        raise ProcessingError(f"format must be one of {FILE_FORMATS}, got {fmt!r}")
    width, height = _positive("width", width), _positive("height", height)
    if row_stride is not None:
        _positive("row_stride", row_stride)
    if fmt in PACKED_FORMATS:
        channels, rgb_bytes = PACKED_FORMATS[fmt]
        stride = row_stride if row_stride is not None else width * channels
        rows = _samples(Plane(data, stride), width * channels, height, fmt)
        return np.ascontiguousarray(rows.reshape(height, width, channels)[..., list(rgb_bytes)])
    if fmt == "i420":
        planes = planar_planes(data, width, height, row_stride)
    else:
        planes = semiplanar_planes(data, width, height, row_stride, "vu" if fmt == "nv21" else "uv")
    return yuv420_to_rgb(width, height, *planes, yuv_range=yuv_range)


@dataclass(frozen=True)
class Orientation:
    """Rotate clockwise by `rotation`, then mirror horizontally, then crop `roi` = (x, y, w, h) of the upright image."""

    rotation: int = 0
    mirror: bool = False
    roi: tuple[int, int, int, int] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.rotation, bool) or self.rotation not in ROTATIONS:
            raise ProcessingError(f"rotation must be one of {ROTATIONS} (degrees clockwise), got {self.rotation!r}")
        if not isinstance(self.mirror, bool):
            raise ProcessingError(f"mirror must be true or false, got {self.mirror!r}")
        if self.roi is not None and (len(self.roi) != 4 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in self.roi)):
            raise ProcessingError(f"roi must be four integers (x, y, w, h), got {self.roi!r}")

    @property
    def is_identity(self) -> bool:
        return self.rotation == 0 and not self.mirror and self.roi is None


# EXIF orientation tag (274) value -> (rotation clockwise, mirror); equals Pillow's exif_transpose.
EXIF_ORIENTATIONS = {1: (0, False), 2: (0, True), 3: (180, False), 4: (180, True), 5: (90, True), 6: (90, False), 7: (270, True), 8: (270, False)}


def exif_orientation(value: object) -> Orientation:
    """The Orientation of an EXIF orientation value; unknown values (and None) are upright."""
    rotation, mirror = EXIF_ORIENTATIONS.get(value, (0, False))  # type: ignore[call-overload]
    return Orientation(rotation, mirror)


def upright_size(width: int, height: int, rotation: int) -> tuple[int, int]:
    """(width, height) after rotating a width x height frame."""
    return (height, width) if rotation in (90, 270) else (width, height)


def check_roi(roi: tuple[int, int, int, int], width: int, height: int) -> None:
    """A ROI must lie inside the width x height upright image and hold at least one pixel."""
    x, y, w, h = roi
    if w < 1 or h < 1 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise ProcessingError(f"roi (x={x}, y={y}, w={w}, h={h}) must hold at least one pixel and lie inside the upright image {width}x{height}")


def roi_of_frame_crop(width: int, height: int, rotation: int, mirror: bool, crop: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The upright ROI that holds exactly `crop` = (x, y, w, h), a rectangle in the width x height
    frame as the sensor delivers it (Android's `Image.getCropRect()`): cropping the frame and then
    turning it gives the same pixels as turning it and taking this ROI."""
    x, y, w, h = crop
    if w < 1 or h < 1 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise ProcessingError(f"crop (x={x}, y={y}, w={w}, h={h}) must hold at least one pixel and lie inside the {width}x{height} frame")
    turned = {0: (x, y, w, h), 90: (height - y - h, x, h, w), 180: (width - x - w, height - y - h, w, h), 270: (y, width - x - w, h, w)}[rotation]
    if mirror:
        upright_width = upright_size(width, height, rotation)[0]
        return (upright_width - turned[0] - turned[2], turned[1], turned[2], turned[3])
    return turned


def orient(image: np.ndarray, orientation: Orientation) -> np.ndarray:
    """Rotate an HWC image clockwise, mirror it, then take the ROI (a view where possible)."""
    upright = np.rot90(image, k=-(orientation.rotation // 90), axes=(0, 1))
    if orientation.mirror:
        upright = upright[:, ::-1]
    if orientation.roi is None:
        return upright
    check_roi(orientation.roi, upright.shape[1], upright.shape[0])
    x, y, w, h = (int(v) for v in orientation.roi)
    return upright[y : y + h, x : x + w]
