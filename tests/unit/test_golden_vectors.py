"""Golden vectors (edgesdk/golden.py): which images, which ids, what each case file holds."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from edgesdk import golden
from edgesdk.errors import InputError, ManifestError
from edgesdk.results import Mask, TaskResult


def _image(h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_collect_images_takes_the_first_by_name_with_unique_ids(tmp_path):
    Image.fromarray(_image(5, 7, 1)).save(tmp_path / "b img.png")
    Image.fromarray(_image(6, 4, 2)).save(tmp_path / "b_img.jpg", quality=95)
    Image.fromarray(_image(3, 3, 3)).save(tmp_path / "a.png")
    Image.fromarray(_image(3, 3, 4)).save(tmp_path / "c.png")
    (tmp_path / "notes.txt").write_text("not an image")
    images = golden.collect_images(tmp_path, 3)
    assert [i.id for i in images] == ["a", "b_img", "b_img_2"]  # "b img" and "b_img" collide once sanitized
    np.testing.assert_array_equal(images[1].pixels, _image(5, 7, 1))
    assert images[2].pixels.shape == (6, 4, 3) and images[2].pixels.dtype == np.uint8


def test_collect_images_errors_name_the_field(tmp_path):
    with pytest.raises(ManifestError, match="golden.images.*no PNG or JPEG images in"):
        golden.collect_images(tmp_path, 2)
    (tmp_path / "x.png").write_bytes(b"junk")
    with pytest.raises(ManifestError, match="golden.dir.*x.png") as info:
        golden.collect_images(tmp_path, 2, "golden.dir")
    assert info.value.__cause__ is not None


def test_ids_are_sanitized_and_bounded():
    used: set[str] = set()
    assert golden._unique_id("a b/c.d-e_f", used) == "a_b_c_d-e_f"
    assert golden._unique_id("x" * 60, used) == "x" * 48
    assert golden._unique_id("x" * 60, used) == "x" * 48 + "_2"
    assert golden._unique_id("", used) == "image"


def test_parity_variants_are_the_image_its_mirror_and_two_crops():
    px = _image(8, 10, 5)
    variants = golden.parity_variants([golden.GoldenImage("a", px), golden.GoldenImage("b", px[::-1])])
    assert len(variants) == 8
    np.testing.assert_array_equal(variants[4], px[::-1])
    np.testing.assert_array_equal(variants[0], px)
    np.testing.assert_array_equal(variants[1], px[:, ::-1])
    np.testing.assert_array_equal(variants[2], px[:6, :7])
    np.testing.assert_array_equal(variants[3], px[2:, 2:])
    assert all(v.flags["C_CONTIGUOUS"] for v in variants)
    tiny = golden.parity_variants([golden.GoldenImage("t", _image(1, 1, 6))])
    assert [v.shape for v in tiny] == [(1, 1, 3)] * 4


def test_app_order_swaps_only_for_bgr():
    px = _image(2, 3, 7)
    assert golden.to_app_order(px, "rgb") is px
    np.testing.assert_array_equal(golden.to_app_order(px, "bgr"), px[..., ::-1])


def test_write_case_files_and_index_entry(tmp_path):
    px = _image(4, 6, 8)
    pre = np.arange(24, dtype=np.float32).reshape(1, 3, 2, 4)
    outs = [np.ones((1, 5), np.float32), np.zeros((1, 2), np.float16)]
    folder = tmp_path / "tests" / "golden"  # made with its parents
    entry = golden.write_case(folder, golden.GoldenImage("im", px), "bgr", pre, ["logits", "aux"], outs, TaskResult("classification"))
    assert entry == {
        "id": "im",
        "image": "im.png",
        "width": 6,
        "height": 4,
        "input": "im.input.npy",
        "preprocessed": "im.preprocessed.npy",
        "outputs": {"logits": "im.output0.npy", "aux": "im.output1.npy"},
        "result": {"classifications": []},
    }
    np.testing.assert_array_equal(np.asarray(Image.open(folder / "im.png")), px)
    np.testing.assert_array_equal(np.load(folder / "im.input.npy"), px[..., ::-1])
    np.testing.assert_array_equal(np.load(folder / "im.preprocessed.npy"), pre)
    aux = np.load(folder / "im.output1.npy")
    assert aux.dtype == np.float16 and aux.shape == (1, 2)


def test_write_case_keeps_a_mask_as_npy(tmp_path):
    ids = np.array([[0, 1, 2], [2, 2, 0]], dtype=np.uint8)
    result = TaskResult("segmentation", mask=Mask(3, 2, ids.tobytes(), {"0": 2, "1": 1, "2": 3}))
    entry = golden.write_case(tmp_path, golden.GoldenImage("im", _image(2, 3, 1)), "rgb", np.zeros((1, 3, 2, 3), np.float32), ["m"], [np.zeros((1, 3, 2, 3), np.float32)], result)
    assert entry["mask"] == "im.mask.npy" and entry["result"] == {"mask": {"width": 3, "height": 2, "class_pixels": {"0": 2, "1": 1, "2": 3}}}
    np.testing.assert_array_equal(np.load(tmp_path / "im.mask.npy"), ids)


def test_load_index(tmp_path):
    with pytest.raises(InputError, match="index.json"):
        golden.load_index(tmp_path)
    (tmp_path / golden.GOLDEN_DIR).mkdir(parents=True)
    (tmp_path / golden.GOLDEN_DIR / golden.INDEX_FILE).write_text(json.dumps({"cases": [1]}))
    assert golden.load_index(tmp_path) == {"cases": [1]}
