"""The detector and segmenter examples really work: their committed models, run through the
manifest's own pre/post-processing (the numpy reference), find the shapes drawn in synthetic scenes
they never saw in training (a fresh seed), and their golden images are what the example code draws."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from edgesdk.manifest import load_manifest
from edgesdk.processing import decode_image, run_postprocess, run_preprocess

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
sys.path.insert(0, str(EXAMPLES / "shapes"))
from synthetic_shapes import GOLDEN_SEED, SHAPES, random_scenes, write_golden_images  # noqa: E402

HELD_OUT_SEED = 20261128  # the models were trained on seed 0's stream
SCENES = 40
SEGMENTER_SHAPES = ("circle", "triangle")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """These models are tiny: one thread runs them in milliseconds, several fight over a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _pipeline(example: str):
    """run(image) -> TaskResult through the example's manifest and committed TorchScript model."""
    manifest = load_manifest(EXAMPLES / example / "edgesdk.yaml")
    model = torch.jit.load(str(manifest.resolve(manifest.model.source))).eval()
    post = {"output_index": manifest.post_output_index(), "steps": manifest.post_steps(), "labels": manifest.labels()}

    def run(image: np.ndarray):
        pre = run_preprocess(image, manifest.preprocess.input_color, manifest.pre_steps())
        with torch.no_grad():
            outputs = model(torch.from_numpy(pre.tensor))
        return run_postprocess([outputs.numpy()], manifest.task, post, pre.geometry, pre.input_hw)

    return manifest, run


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _match(detections, boxes: np.ndarray, labels: list[str]) -> int:
    """How many drawn shapes a detection of the same label finds at IoU >= 0.5 (each detection, best
    score first, takes the best free shape)."""
    free = set(range(len(boxes)))
    found = 0
    for det in detections:
        candidates = [(_iou(np.asarray(det.box, dtype=np.float64), boxes[i]), i) for i in free if labels[i] == det.label]
        best = max(candidates, default=(0.0, -1))
        if best[0] >= 0.5:
            free.discard(best[1])
            found += 1
    return found


def test_detector_finds_the_shapes_of_unseen_scenes():
    _, run = _pipeline("detector")
    drawn = detected = found = 0
    for scene in random_scenes(HELD_OUT_SEED, SCENES, SHAPES):
        detections = run(scene.image).detections
        found += _match(detections, scene.boxes, [SHAPES[k] for k in scene.classes])
        drawn += len(scene.boxes)
        detected += len(detections)
    recall, precision = found / drawn, found / max(detected, 1)
    assert recall >= 0.85 and precision >= 0.85, f"recall {recall:.3f} precision {precision:.3f} ({found} of {drawn} shapes, {detected} detections)"


def test_segmenter_labels_the_pixels_of_unseen_scenes():
    manifest, run = _pipeline("segmenter")
    classes = len(manifest.labels())
    inter, union = np.zeros(classes), np.zeros(classes)
    for scene in random_scenes(HELD_OUT_SEED, SCENES, SEGMENTER_SHAPES):
        mask = run(scene.image).mask
        predicted = np.frombuffer(mask.class_ids, dtype=np.uint8).reshape(mask.height, mask.width)
        assert predicted.shape == scene.mask.shape
        for c in range(classes):
            inter[c] += np.sum((predicted == c) & (scene.mask == c))
            union[c] += np.sum((predicted == c) | (scene.mask == c))
    iou = inter / union
    assert iou.mean() >= 0.75 and iou.min() >= 0.6, f"per-class IoU {np.round(iou, 3).tolist()} (background, {', '.join(SEGMENTER_SHAPES)})"


@pytest.mark.parametrize(("example", "shapes"), [("detector", SHAPES), ("segmenter", SEGMENTER_SHAPES)])
def test_golden_images_are_the_example_scenes(example, shapes, tmp_path):
    """The committed golden PNGs are what make_model.py draws, and letterbox pads them both ways."""
    manifest = load_manifest(EXAMPLES / example / "edgesdk.yaml")
    committed = sorted(manifest.resolve(manifest.golden.images).glob("*.png"))
    drawn = write_golden_images(tmp_path, shapes, GOLDEN_SEED)
    assert [p.name for p in committed] == [p.name for p in drawn]
    for ours, theirs in zip(committed, drawn):
        assert np.array_equal(decode_image(ours), decode_image(theirs)), ours.name
    sizes = [decode_image(p).shape[:2] for p in committed]
    assert any(h < w for h, w in sizes) and any(h > w for h, w in sizes), sizes
