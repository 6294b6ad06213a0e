"""The numpy reference of docs/processing.md: the executable definition every generated SDK is checked against."""

from .errors import ImageDecodeError, ProcessingError
from .frames import Orientation, Plane, exif_orientation, frame_to_rgb, orient, roi_of_frame_crop, yuv420_to_rgb
from .geometry import Geometry
from .image import decode_image
from .postprocess import argmax, run_postprocess, sigmoid, softmax, topk
from .preprocess import Preprocessed, output_shape, run_preprocess
from .resample import bilinear_taps, nearest_indices, resize_image

__all__ = [
    "Geometry",
    "ImageDecodeError",
    "Orientation",
    "Plane",
    "Preprocessed",
    "ProcessingError",
    "argmax",
    "bilinear_taps",
    "decode_image",
    "exif_orientation",
    "frame_to_rgb",
    "nearest_indices",
    "orient",
    "output_shape",
    "resize_image",
    "roi_of_frame_crop",
    "run_postprocess",
    "run_preprocess",
    "sigmoid",
    "softmax",
    "topk",
    "yuv420_to_rgb",
]
