"""Bounds on what a manifest may hold, in one place: a manifest is input from outside, so every
size that reaches an allocation, a float32 computation or a generated source file is capped here.

The numeric bounds keep pre-processing inside float32 with room to spare: a mean of 1e100 or a
std of 1e308 would overflow the float32 tensor the SDK computes in, and the build would fail
late with a parity error instead of naming the field.
"""

from __future__ import annotations

MAX_MANIFEST_BYTES = 1 << 20  # a manifest is a page of YAML; 1 MiB is far beyond any real one
MAX_YAML_DEPTH = 32  # the schema nests 6 deep; PyYAML recurses per level and would hit Python's limit near 1000
MAX_YAML_NODES = 100_000  # counted with aliases expanded, so anchor bombs are refused before validation walks them
MAX_PATH_CHARS = 4096  # PATH_MAX on Linux
MAX_NAME_CHARS = 128
MAX_STEPS = 64
MAX_KEEP_FLOAT = 4096
MAX_CALIBRATION_SAMPLES = 100_000
MAX_TENSOR_DIM = 1 << 24
MAX_TENSOR_ELEMENTS = 1 << 31  # a tensor the generated C++ indexes with int64 but sizes in memory
MAX_TENSOR_RANK = 8
MAX_LABELS = 100_000
MAX_LABEL_CHARS = 1024
MAX_LABEL_FILE_BYTES = 16 << 20
# normalize: |mean| <= MAX, MIN <= |std|, |scale| <= MAX. Pixels are 0..255, so real values sit
# far inside; the bounds keep (x * scale - mean) / std finite and meaningful in float32.
NORMALIZE_MAX_MAGNITUDE = 1e6
NORMALIZE_MIN_MAGNITUDE = 1e-6
SQNR_DB_RANGE = (-1000.0, 1000.0)
# Detection: kept boxes per image and candidates entering NMS (a 1280x1280 YOLO head has 33,600).
MAX_DETECTIONS = 10_000
MAX_NMS_CANDIDATES = 1_000_000
