"""Write the example's model files next to this script: model.pt (TorchScript) and model.onnx."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classifier_model import INPUT_SHAPE, trained_classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--onnx", action="store_true", help="also write model.onnx")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    model = trained_classifier()
    torch.jit.script(model).save(str(args.out / "model.pt"))
    if args.onnx:
        torch.onnx.export(
            model, (torch.zeros(INPUT_SHAPE),), str(args.out / "model.onnx"), dynamo=True, external_data=False, opset_version=18, input_names=["image"], output_names=["logits"], verbose=False
        )
    print(f"wrote {args.out / 'model.pt'}")


if __name__ == "__main__":
    main()
