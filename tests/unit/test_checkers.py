"""The checkers themselves: `edgesdk test`'s golden comparison (hosttest.compare_case) and the
parity gate's metrics (parity.evaluate) must fail when an output, a score, the label order or a
tie-break is wrong, and only then."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from edgesdk import parity
from edgesdk.hosttest import CaseReport, HostTestReport, compare_case
from edgesdk.parity import GOLDEN_TOLERANCES, compare_arrays, evaluate, tolerances_for, topk_indices

PRE = np.random.default_rng(0).normal(0, 50, (1, 3, 4, 5)).astype(np.float32)
LOGITS = np.array([[0.1, 2.5, -1.0, 2.0, 0.7]], dtype=np.float32)
RESULT = {"classifications": [{"label": "b", "index": 1, "score": 0.6}, {"label": "d", "index": 3, "score": 0.3}, {"label": "e", "index": 4, "score": 0.05}]}


def _case(tmp_path, pre=PRE, logits=LOGITS, result=RESULT):
    """Golden files for one case, as the bundle writes them."""
    gdir = tmp_path / "golden"
    gdir.mkdir(parents=True, exist_ok=True)
    np.save(gdir / "c.preprocessed.npy", pre)
    np.save(gdir / "c.output0.npy", logits)
    return {"id": "c", "preprocessed": "c.preprocessed.npy", "outputs": {"logits": "c.output0.npy"}, "result": result}, gdir


def _dump(tmp_path, pre=PRE, outputs=(("logits", LOGITS),)):
    """What a language's runner dumps: dump.json and raw little-endian tensors."""
    dump = tmp_path / "dump"
    dump.mkdir(parents=True, exist_ok=True)

    def entry(name, array):
        array.astype(array.dtype.newbyteorder("<")).tofile(dump / f"{name}.bin")
        return {"name": name, "file": f"{name}.bin", "dtype": str(array.dtype), "shape": list(array.shape)}

    meta = {"preprocessed": entry("preprocessed", pre), "outputs": [entry(n, a) for n, a in outputs]}
    (dump / "dump.json").write_text(json.dumps(meta))
    return dump


def _compare(tmp_path, *, pre=PRE, outputs=(("logits", LOGITS),), printed=RESULT, golden_pre=PRE, check_outputs=True) -> CaseReport:
    case, gdir = _case(tmp_path, pre=golden_pre)
    return compare_case(case, gdir, _dump(tmp_path, pre, outputs), {"result": printed}, GOLDEN_TOLERANCES, check_outputs=check_outputs)


def _swap(result, i, j):
    c = [dict(x) for x in result["classifications"]]
    c[i], c[j] = c[j], c[i]
    return {"classifications": c}


def test_a_faithful_run_passes(tmp_path):
    report = _compare(tmp_path)
    assert report.problems == [] and report.result_match and report.preprocessed_max_abs == 0.0
    assert HostTestReport("b", [report]).passed


def test_a_float_preprocessed_tensor_is_held_to_its_tolerance(tmp_path):
    inside, outside = PRE.copy(), PRE.copy()
    inside[0, 1, 2, 3] += 5e-6
    outside[0, 1, 2, 3] += 5e-5
    assert _compare(tmp_path / "a", pre=inside).problems == []
    problems = _compare(tmp_path / "b", pre=outside).problems
    assert len(problems) == 1 and problems[0].startswith("preprocessed: max_abs")
    assert not HostTestReport("b", [_compare(tmp_path / "c", pre=outside)]).passed


def test_an_integer_preprocessed_tensor_must_be_equal(tmp_path):
    golden = np.arange(60, dtype=np.uint8).reshape(1, 3, 4, 5)
    off = golden.copy()
    off[0, 0, 0, 0] += 1
    assert _compare(tmp_path / "a", pre=golden, golden_pre=golden).problems == []
    assert _compare(tmp_path / "b", pre=off, golden_pre=golden).problems == ["preprocessed: integer tensor differs (max 1.0)"]


def test_a_preprocessed_tensor_of_another_shape_fails(tmp_path):
    problems = _compare(tmp_path, pre=PRE.reshape(1, 3, 5, 4)).problems
    assert any("shape [1, 3, 5, 4] != golden [1, 3, 4, 5]" in p for p in problems)


def test_a_wrong_golden_output_fails(tmp_path):
    """The comparison switched off (or a tolerance ignored) would let this pass."""
    wrong = LOGITS.copy()
    wrong[0, 2] += 2e-4
    problems = _compare(tmp_path / "a", outputs=(("logits", wrong),)).problems
    assert len(problems) == 1 and problems[0].startswith("output logits: max_abs")
    near = LOGITS.copy()
    near[0, 2] += 5e-5
    assert _compare(tmp_path / "b", outputs=(("logits", near),)).problems == []


def test_a_missing_output_fails(tmp_path):
    assert _compare(tmp_path, outputs=()).problems == ["output logits: not produced"]


def test_outputs_are_not_compared_when_the_runner_did_not_infer(tmp_path):
    wrong = LOGITS + 1.0
    assert _compare(tmp_path, outputs=(("logits", wrong),), check_outputs=False).problems == []


def test_a_wrong_label_order_fails(tmp_path):
    report = _compare(tmp_path, printed=_swap(RESULT, 0, 1))
    assert not report.result_match
    assert any("'d' (#3) vs golden 'b' (#1)" in p for p in report.problems)


def test_a_swap_of_two_near_tied_scores_passes_and_a_wider_one_does_not(tmp_path):
    tied = {"classifications": [{"label": "b", "index": 1, "score": 0.40002}, {"label": "d", "index": 3, "score": 0.4}, {"label": "e", "index": 4, "score": 0.2}]}
    case, gdir = _case(tmp_path, result=tied)
    dump = _dump(tmp_path)
    assert compare_case(case, gdir, dump, {"result": _swap(tied, 0, 1)}, GOLDEN_TOLERANCES).problems == []
    apart = {"classifications": [{"label": "b", "index": 1, "score": 0.4002}, *tied["classifications"][1:]]}
    case, gdir = _case(tmp_path, result=apart)
    problems = compare_case(case, gdir, dump, {"result": _swap(apart, 0, 1)}, GOLDEN_TOLERANCES).problems
    assert len(problems) == 4  # both positions: score and class


def test_a_wrong_score_label_or_count_fails(tmp_path):
    score = {"classifications": [{**RESULT["classifications"][0], "score": 0.6002}, *RESULT["classifications"][1:]]}
    assert _compare(tmp_path / "a", printed=score).problems == ["result[0]: score 0.6002 vs golden 0.6"]
    label = {"classifications": [{**RESULT["classifications"][0], "label": "B"}, *RESULT["classifications"][1:]]}
    assert _compare(tmp_path / "b", printed=label).problems == ["result[0]: 'B' (#1) vs golden 'b' (#1)"]
    short = {"classifications": RESULT["classifications"][:2]}
    assert _compare(tmp_path / "c", printed=short).problems == ["result: 2 classifications, golden has 3"]
    assert _compare(tmp_path / "d", printed={}).problems == ["result: 0 classifications, golden has 3"]


# ---- the parity gate ---------------------------------------------------------------------------
def test_metrics_hand_computed():
    m = compare_arrays(np.array([3.0, 4.0]), np.array([3.0, 4.5]))
    assert m.max_abs == 0.5 and m.mean_abs == 0.25
    assert m.cosine == pytest.approx(27.0 / (5.0 * math.sqrt(29.25)), abs=1e-15)
    assert m.sqnr_db == pytest.approx(20.0, abs=1e-12)  # 10 log10(25 / 0.25)
    same = compare_arrays(np.ones(4), np.ones(4))
    assert (same.max_abs, same.cosine, same.sqnr_db) == (0.0, 1.0, math.inf)
    flipped = compare_arrays(np.array([1.0, -2.0]), np.array([-1.0, 2.0]))
    assert flipped.cosine == pytest.approx(-1.0) and flipped.sqnr_db == pytest.approx(10 * math.log10(5 / 20))
    with pytest.raises(ValueError, match="shape"):
        compare_arrays(np.ones(3), np.ones(4))


def _samples(n=4, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    return [[rng.normal(0, 3, (1, classes)).astype(np.float32)] for _ in range(n)]


def test_identical_outputs_pass_the_gate():
    ref = _samples()
    report = evaluate(["logits"], ref, [[o.copy() for o in s] for s in ref], tolerances_for("none", {}), score_output=0)
    assert report.passed and report.task_metrics == {"top1_agreement": 1.0, "top5_agreement": 1.0}


@pytest.mark.parametrize(
    ("tolerances", "perturb", "failure"),
    [
        ({"max_abs": 1e-4}, lambda x: x + np.where(np.arange(x.size).reshape(x.shape) == 3, 2e-4, 0), "logits: max_abs"),
        ({"mean_abs": 1e-3}, lambda x: x + 2e-3, "logits: mean_abs"),
        ({"cosine_min": 0.999}, lambda x: x[..., ::-1].copy(), "logits: cosine"),
        ({"sqnr_db_min": 30.0}, lambda x: x * 1.1, "logits: SQNR"),
    ],
)
def test_each_metric_fails_the_gate_past_its_tolerance(tolerances, perturb, failure):
    ref = _samples()
    got = [[perturb(s[0])] for s in ref]
    report = evaluate(["logits"], ref, got, tolerances, score_output=None)
    assert not report.passed and len(report.failures) == 1 and report.failures[0].startswith(failure)
    assert evaluate(["logits"], ref, [[s[0].copy()] for s in ref], tolerances, score_output=None).passed


def test_top1_agreement_counts_samples_whose_best_class_moved():
    ref = _samples(n=4)
    got = [[s[0].copy()] for s in ref]
    best, second = topk_indices(ref[2][0], 2)
    got[2][0][0, best], got[2][0][0, second] = ref[2][0][0, second], ref[2][0][0, best]  # swap the top two labels
    report = evaluate(["logits"], ref, got, {"top1_agreement_min": 1.0}, score_output=0)
    assert report.task_metrics["top1_agreement"] == 0.75 and report.task_metrics["top5_agreement"] == 1.0
    assert report.failures == ["top-1 agreement 0.750 < 1.0"]
    assert evaluate(["logits"], ref, got, {"top1_agreement_min": 0.75}, score_output=0).passed


def test_top5_agreement_drops_when_the_fifth_class_changes():
    ref = _samples(n=2)
    got = [[s[0].copy()] for s in ref]
    order = topk_indices(ref[0][0], 6)
    got[0][0][0, order[4]], got[0][0][0, order[5]] = ref[0][0][0, order[5]], ref[0][0][0, order[4]]
    assert evaluate(["logits"], ref, got, {}, score_output=0).task_metrics == {"top1_agreement": 1.0, "top5_agreement": 0.5}


def test_topk_indices_keep_16_plus_ties_in_index_order():
    scores = np.full(40, 0.25, dtype=np.float32)
    scores[[7, 21]] = 0.5
    assert topk_indices(scores, 20) == [7, 21, *range(0, 7), *range(8, 19)]
    # so equal-score outputs agree however the sort is implemented underneath
    report = evaluate(["s"], [[scores[None]]], [[scores[None].copy()]], {"top1_agreement_min": 1.0}, score_output=0)
    assert report.passed


def test_tolerances_merge_overrides_and_ignore_unset_keys():
    merged = tolerances_for("int8", {"cosine_min": 0.95, "max_abs": None})
    assert merged == {**parity.GATE_TOLERANCES["int8"], "cosine_min": 0.95}
    assert parity.GATE_TOLERANCES["int8"]["cosine_min"] == 0.99  # the defaults are not changed


def test_metric_edge_cases():
    empty = compare_arrays(np.zeros(0), np.zeros(0))
    assert (empty.max_abs, empty.mean_abs) == (0.0, 0.0)
    zeros = compare_arrays(np.zeros(3), np.zeros(3))
    assert zeros.cosine == 1.0 and zeros.sqnr_db == math.inf
    from_zero = compare_arrays(np.zeros(3), np.ones(3))
    assert from_zero.cosine == 0.0 and from_zero.sqnr_db == -math.inf
    # dot(x, x) / |x|^2 rounds to 1 + 2^-52 for this vector: the cosine is clipped to 1.
    x = np.array([0.9470809631292422, -0.7037352358069926, -1.2654214710460525, -0.6232744625373522, 0.0413259793472436, -2.3250307746388343, -0.21879166393254573])
    assert compare_arrays(x, x).cosine == 1.0
    # float32 inputs are compared in float64: 16777217 is not a float32, the difference is exact.
    wide = compare_arrays(np.array([16777216.0], np.float32), np.array([16777218.0], np.float32))
    assert wide.max_abs == 2.0


def test_metrics_and_reports_serialize_non_finite_values_as_strings():
    assert parity.OutputMetrics(1.5, 0.5, 1.0, math.inf).as_dict() == {"max_abs": 1.5, "mean_abs": 0.5, "cosine": 1.0, "sqnr_db": "inf"}
    assert parity.OutputMetrics(0.0, 0.0, math.nan, -math.inf).as_dict() == {"max_abs": 0.0, "mean_abs": 0.0, "cosine": "nan", "sqnr_db": "-inf"}
    ref = _samples(n=3, classes=4)
    report = evaluate(["logits"], ref, [[s[0].copy()] for s in ref], {"max_abs": 1e-4}, score_output=0)
    assert report.as_dict() == {
        "passed": True,
        "samples": 3,
        "tolerances": {"max_abs": 1e-4},
        "outputs": {"logits": {"max_abs": 0.0, "mean_abs": 0.0, "cosine": 1.0, "sqnr_db": "inf"}},
        "task": {"top1_agreement": 1.0, "top5_agreement": 1.0},
        "failures": [],
    }
    json.dumps(report.as_dict(), allow_nan=False)


def test_a_metric_exactly_at_its_tolerance_passes():
    ref = [[np.zeros((1, 4), np.float64)]]
    got = [[np.full((1, 4), 0.5)]]
    assert evaluate(["o"], ref, got, {"max_abs": 0.5, "mean_abs": 0.5}, score_output=None).passed
    assert not evaluate(["o"], ref, got, {"max_abs": 0.4999}, score_output=None).passed
    assert not evaluate(["o"], ref, got, {"mean_abs": 0.4999}, score_output=None).passed


def test_every_output_is_measured_by_name():
    ref = [[np.ones((1, 3)), np.arange(4.0)]]
    got = [[np.ones((1, 3)), np.arange(4.0) + 1]]
    report = evaluate(["a", "b"], ref, got, {"max_abs": 0.5}, score_output=None)
    assert report.outputs["a"]["max_abs"] == 0.0 and report.outputs["b"]["max_abs"] == 1.0
    assert report.failures == ["b: max_abs 1 > 0.5"]


def test_cosine_and_sqnr_exactly_at_their_minimum_pass():
    ref, got = [[np.array([3.0, 4.0])]], [[np.array([3.0, 4.5])]]
    report = evaluate(["o"], ref, got, {"sqnr_db_min": 20.0}, score_output=None)  # exactly 20 dB
    assert report.passed and report.task_metrics == {} and report.samples == 1
    same = evaluate(["o"], [[np.array([1.0, 0.0])]], [[np.array([1.0, 0.0])]], {"cosine_min": 1.0}, score_output=None)
    assert same.passed


# ---- detection and segmentation -----------------------------------------------------------------
DETECTIONS = {
    "detections": [
        {"box": [10.0, 20.0, 110.0, 220.0], "label": "cat", "index": 0, "score": 0.9},
        {"box": [12.0, 22.0, 108.0, 218.0], "label": "dog", "index": 1, "score": 0.8},
        {"box": [300.0, 40.0, 500.0, 290.0], "label": "cat", "index": 0, "score": 0.4},
    ]
}


def _moved(result, i, **changes):
    d = [dict(x) for x in result["detections"]]
    d[i].update(changes)
    return {"detections": d}


@pytest.mark.parametrize(
    ("printed", "fragment"),
    [
        (DETECTIONS, None),
        ({"detections": list(reversed(DETECTIONS["detections"]))}, None),  # order may differ
        (_moved(DETECTIONS, 2, box=[300.4, 40.0, 500.0, 290.4]), None),  # within 0.5 px (IoU 0.996)
        (_moved(DETECTIONS, 2, box=[300.6, 40.0, 500.0, 290.0]), "px"),  # IoU 0.997, but 0.6 px off
        (_moved(DETECTIONS, 2, box=[303.0, 40.0, 500.0, 290.0]), "no SDK box of that label"),  # IoU 0.985
        (_moved(DETECTIONS, 1, label="cat", index=0), "no SDK box of that label"),
        (_moved(DETECTIONS, 0, score=0.9002), "score"),
        ({"detections": DETECTIONS["detections"][:2]}, "no SDK box"),
        ({"detections": [*DETECTIONS["detections"], {"box": [0.0, 0.0, 5.0, 5.0], "label": "cat", "index": 0, "score": 0.3}]}, "not in the golden set"),
        ({}, "no detections printed"),
    ],
)
def test_detections_are_compared_as_matched_sets(tmp_path, printed, fragment):
    case, gdir = _case(tmp_path, result=DETECTIONS)
    problems = compare_case(case, gdir, _dump(tmp_path), {"result": printed}, GOLDEN_TOLERANCES).problems
    if fragment is None:
        assert problems == []
    else:
        assert problems and any(fragment in p for p in problems), problems


def _mask_case(tmp_path, want: np.ndarray, got: np.ndarray, got_json: dict):
    case, gdir = _case(tmp_path, result={"mask": {"width": want.shape[1], "height": want.shape[0], "class_pixels": _counts(want)}})
    np.save(gdir / "c.mask.npy", want)
    case["mask"] = "c.mask.npy"
    dump = _dump(tmp_path)
    meta = json.loads((dump / "dump.json").read_text())
    got.tofile(dump / "mask.bin")
    meta["mask"] = {"name": "mask", "file": "mask.bin", "dtype": "uint8", "shape": list(got.shape)}
    (dump / "dump.json").write_text(json.dumps(meta))
    return compare_case(case, gdir, dump, {"result": {"mask": got_json}}, GOLDEN_TOLERANCES).problems


def _counts(mask: np.ndarray) -> dict:
    values, counts = np.unique(mask, return_counts=True)
    return {str(v): int(c) for v, c in zip(values, counts)}


def _mask_json(mask: np.ndarray) -> dict:
    return {"width": mask.shape[1], "height": mask.shape[0], "class_pixels": _counts(mask)}


def test_masks_need_999_per_mille_agreement_and_the_same_counts(tmp_path):
    want = np.random.default_rng(1).integers(0, 3, (50, 40)).astype(np.uint8)  # 2000 pixels
    assert _mask_case(tmp_path / "same", want, want, _mask_json(want)) == []
    two_off = want.copy()
    two_off[0, :2] = (two_off[0, :2] + 1) % 3  # 99.9% agree
    assert _mask_case(tmp_path / "two", want, two_off, _mask_json(two_off)) == []
    three_off = want.copy()
    three_off[0, :3] = (three_off[0, :3] + 1) % 3
    assert any("of pixels agree" in p for p in _mask_case(tmp_path / "three", want, three_off, _mask_json(three_off)))
    assert any("class_pixels" in p for p in _mask_case(tmp_path / "counts", want, want, {**_mask_json(want), "class_pixels": {"0": 2000}}))
    assert any("mask:" in p for p in _mask_case(tmp_path / "size", want, want[:, :39].copy(), _mask_json(want[:, :39])))


def _det(box, index, score):
    from edgesdk.results import Detection

    return Detection(tuple(box), str(index), index, score)


def test_detection_agreement_matches_at_iou_half_with_the_same_class():
    from edgesdk.results import TaskResult

    ref = TaskResult("detection", detections=[_det([0, 0, 10, 10], 0, 0.9), _det([20, 20, 30, 30], 1, 0.8)])
    same = TaskResult("detection", detections=[_det([20, 20, 30, 30], 1, 0.8), _det([0, 0, 10, 10], 0, 0.9)])
    shifted = TaskResult("detection", detections=[_det([0, 0, 10, 15], 0, 0.9), _det([20, 20, 30, 30], 0, 0.8)])  # IoU 0.67; wrong class
    assert parity.detection_agreement([(ref, same)])["detection_f1"] == 1.0
    metrics = parity.detection_agreement([(ref, shifted)])
    assert metrics["detection_f1"] == 0.5 and metrics["detection_recall"] == 0.5 and metrics["matched_box_iou_mean"] == pytest.approx(2 / 3)
    report = evaluate(["out"], [[np.zeros(2)]], [[np.zeros(2)]], tolerances_for("int8", {}), None, [(ref, shifted)])
    assert any("detection F1 0.500 < 0.9" in f for f in report.failures)
    assert evaluate(["out"], [[np.zeros(2)]], [[np.zeros(2)]], tolerances_for("int8", {}), None, [(ref, same)]).passed
    empty = TaskResult("detection")
    assert parity.detection_agreement([(empty, empty)])["detection_f1"] == 1.0


def test_mask_agreement_is_gated():
    from edgesdk.results import Mask, TaskResult

    ref = TaskResult("segmentation", mask=Mask(4, 1, bytes([0, 1, 1, 2])))
    got = TaskResult("segmentation", mask=Mask(4, 1, bytes([0, 1, 2, 2])))
    assert parity.mask_agreement([(ref, got)]) == {"mask_agreement": 0.75}
    report = evaluate(["out"], [[np.zeros(2)]], [[np.zeros(2)]], tolerances_for("fp16", {}), None, [(ref, got)])
    assert report.failures == ["mask agreement 0.7500 < 0.99"]
    assert evaluate(["out"], [[np.zeros(2)]], [[np.zeros(2)]], tolerances_for("fp16", {"mask_agreement_min": 0.7}), None, [(ref, got)]).passed


def test_empty_boxes_match_when_their_corners_agree(tmp_path):
    # A box in the letterbox padding is clipped to a line: no area, so no IoU with itself.
    line = {"detections": [{"box": [0.0, 30.0, 80.0, 30.0], "label": "cat", "index": 0, "score": 0.7}]}
    case, gdir = _case(tmp_path, result=line)
    assert compare_case(case, gdir, _dump(tmp_path), {"result": line}, GOLDEN_TOLERANCES).problems == []
    moved = _moved(line, 0, box=[0.0, 31.0, 80.0, 31.0])
    assert compare_case(case, gdir, _dump(tmp_path), {"result": moved}, GOLDEN_TOLERANCES).problems
    from edgesdk.results import TaskResult

    ref = TaskResult("detection", detections=[_det([0, 30, 80, 30], 0, 0.7)])
    assert parity.detection_agreement([(ref, ref)])["detection_f1"] == 1.0
    assert parity.detection_agreement([(ref, TaskResult("detection", detections=[_det([0, 31, 80, 31], 0, 0.7)]))])["detection_f1"] == 0.0


# A reduced-precision run on the device against the float32 reference's golden outputs (Core ML,
# TensorRT fp16/int8): held to the build gate's bar for its mode, not to 1e-4.
REDUCED = {**GOLDEN_TOLERANCES, **parity.device_output_tolerances("fp16")}
FP16_LIKE = (LOGITS * (1 + 2.0**-9) + np.float32(3e-3)).astype(np.float32)  # max_abs ~8e-3, cosine > 0.9999


def test_device_tolerances_exist_only_for_reduced_precision():
    assert parity.device_output_tolerances("none") == {}
    for mode in ("fp16", "int8", "int8-dynamic", "palettize"):
        assert parity.device_output_tolerances(mode)["device_output_cosine_min"] == parity.GATE_TOLERANCES[mode]["cosine_min"]


def _compare_reduced(tmp_path, outputs, printed, result=RESULT, tol=REDUCED):
    case, gdir = _case(tmp_path, result=result)
    return compare_case(case, gdir, _dump(tmp_path, PRE, outputs), {"result": printed}, tol).problems


def test_a_reduced_precision_run_is_held_by_cosine_and_top1(tmp_path):
    fp16_scores = {"classifications": [{**c, "score": c["score"] + 2e-3} for c in RESULT["classifications"]]}
    assert _compare_reduced(tmp_path, (("logits", FP16_LIKE),), fp16_scores) == []
    # The same run against float32 golden tolerances fails: the keys are what makes it pass.
    problems = _compare_reduced(tmp_path, (("logits", FP16_LIKE),), fp16_scores, tol=GOLDEN_TOLERANCES)
    assert any("max_abs" in p for p in problems) and any("score" in p for p in problems)
    # Lower classes may swap in reduced precision; the top-1 may not.
    assert _compare_reduced(tmp_path, (("logits", FP16_LIKE),), _swap(RESULT, 1, 2)) == []
    assert any("top-1" in p for p in _compare_reduced(tmp_path, (("logits", FP16_LIKE),), _swap(RESULT, 0, 1)))
    wrong = LOGITS.copy()
    wrong[0, [1, 3]] = wrong[0, [3, 1]]  # two classes' logits exchanged: cosine 0.96
    assert any("cosine" in p for p in _compare_reduced(tmp_path, (("logits", wrong),), RESULT))


def test_reduced_precision_detections_are_held_by_f1(tmp_path):
    shifted = _moved(DETECTIONS, 2, box=[306.0, 40.0, 500.0, 290.0], score=0.41)  # IoU 0.97, 6 px, new score
    assert _compare_reduced(tmp_path, (("logits", LOGITS),), shifted, result=DETECTIONS) == []
    missing = {"detections": DETECTIONS["detections"][:2]}  # F1 0.8 < 0.95
    assert any("F1" in p for p in _compare_reduced(tmp_path, (("logits", LOGITS),), missing, result=DETECTIONS))
    relabeled = _moved(DETECTIONS, 1, label="cat", index=0)
    assert any("F1" in p for p in _compare_reduced(tmp_path, (("logits", LOGITS),), relabeled, result=DETECTIONS))
