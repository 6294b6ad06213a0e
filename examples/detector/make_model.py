"""Train the example detector (about two minutes on two cores) and write model.pt (TorchScript)
next to this script; --onnx adds model.onnx, --golden redraws the golden images, --check only
compares model.pt with the weights training gives."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from detector_model import INPUT_SHAPE, SHAPES, trained_detector  # noqa: E402
from synthetic_shapes import make_example_files  # noqa: E402 - on the path through detector_model

if __name__ == "__main__":
    make_example_files(__doc__, HERE, trained_detector, INPUT_SHAPE, "detections", SHAPES)
