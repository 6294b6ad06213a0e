"""Run-time limits the generated SDKs and sample apps apply to untrusted images, in one place.

Every generated language receives these numbers as its defaults (render globals `image_limits`
and `max_threads`); an app may lower or raise them through its load options. They bound the
memory an input can make the SDK allocate: a few hundred bytes of PNG or JPEG header can declare
a 100000 x 100000 image, and a keep-ratio resize of a 16384 x 1 strip to a 256 short side would
build a 4194304-long sampling table. Checked from the image header (decoders) or from the image
view (SDK boundary) before anything sized by the image is allocated.

Why these defaults (docs/limits.md has the table):
- max_image_side 16384: the largest texture side of current mobile GPUs and above every camera
  sensor shipped (a 200 MP sensor is 16320 x 12240); wide panoramas still fit.
- max_image_pixels 64 Mi (8192 x 8192, 67108864): a 108 MP photo is refused, a 48/50 MP one
  is not; decoded RGB is then at most 192 MiB, what a phone can spare for one frame.
- max_intermediate_side / _pixels 16384 / 16 Mi: the sizes a pre-processing step derives from the
  image (a keep_ratio resize's output). A float32 HWC intermediate of 16 Mi pixels is 192 MiB.
  Sizes written in the manifest (resize without keep_ratio, crop, letterbox canvas) are fixed at
  build time and not counted against it.
- max_threads 256: an intra-op thread count above the cores of any device is a mistake; ONNX
  Runtime given 1000000 exhausts memory creating threads.
"""

from __future__ import annotations

IMAGE_LIMITS: dict[str, int] = {
    "max_image_side": 16384,
    "max_image_pixels": 64 * 1024 * 1024,
    "max_intermediate_side": 16384,
    "max_intermediate_pixels": 16 * 1024 * 1024,
}

# intra-op threads an app may ask for; 0 lets the runtime choose.
MAX_THREADS = 256
