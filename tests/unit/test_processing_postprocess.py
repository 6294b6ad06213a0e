"""Post-processing steps against torch, the stable tie rules, and the task results."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgesdk.processing import ProcessingError, argmax, run_postprocess, sigmoid, softmax, topk
from edgesdk.results import Classification

# Measured max diff vs torch on N(0, 10) logits: softmax 6e-8, sigmoid 6e-8 (float32 exp differs by an ulp).
TORCH_TOL = 1e-6


def _logits(shape, seed=0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * 10).astype(np.float32)


@pytest.mark.parametrize("shape,axis", [((1000,), -1), ((7, 13), -1), ((7, 13), 0), ((2, 3, 5), 1)])
def test_softmax_matches_torch(shape, axis):
    x = _logits(shape)
    ours = softmax(x, axis)
    assert ours.dtype == np.float32
    assert np.abs(ours - torch.softmax(torch.from_numpy(x), dim=axis).numpy()).max() <= TORCH_TOL


def test_softmax_is_shift_safe():
    out = softmax(np.array([1000.0, 1000.0, -1000.0], np.float32))
    assert out.tolist() == [0.5, 0.5, 0.0]


def test_sigmoid_matches_torch_including_saturation():
    x = np.concatenate([_logits((500,)), np.array([-200.0, -88.0, 0.0, 88.0, 200.0], np.float32)])
    with np.errstate(all="raise"):
        ours = sigmoid(x)
    assert ours.dtype == np.float32
    assert np.abs(ours - torch.sigmoid(torch.from_numpy(x)).numpy()).max() <= TORCH_TOL
    assert ours[-5] == 0.0 and ours[-3] == 0.5 and ours[-1] == 1.0


def test_topk_matches_torch_on_distinct_scores():
    x = _logits((1000,))
    values, indices = topk(x, 10)
    ref = torch.topk(torch.from_numpy(x), 10)
    np.testing.assert_array_equal(indices, ref.indices.numpy())
    np.testing.assert_array_equal(values, ref.values.numpy())


def test_topk_ties_keep_the_lower_index_first():
    x = np.array([0.1, 0.5, 0.3, 0.5, 0.3, 0.5, -1.0], np.float32)
    values, indices = topk(x, 5)
    assert indices.tolist() == [1, 3, 5, 2, 4]
    assert values.tolist() == pytest.approx([0.5, 0.5, 0.5, 0.3, 0.3])
    # torch.topk gives the same values but does not promise this order for ties.
    np.testing.assert_array_equal(np.sort(values), np.sort(torch.topk(torch.from_numpy(x), 5).values.numpy()))


def test_topk_all_equal_is_index_order_and_k_is_clamped():
    values, indices = topk(np.zeros(4, np.float32), 10)
    assert indices.tolist() == [0, 1, 2, 3] and values.tolist() == [0, 0, 0, 0]


def test_topk_rejects_bad_k():
    with pytest.raises(ProcessingError, match="k"):
        topk(np.zeros(3, np.float32), 0)


def test_argmax_lowest_index_wins_ties():
    assert argmax(np.array([1.0, 3.0, 3.0, 2.0], np.float32)) == 1
    x = _logits((9, 40))
    np.testing.assert_array_equal(argmax(x), torch.argmax(torch.from_numpy(x), dim=-1).numpy())
    np.testing.assert_array_equal(argmax(x, axis=0), torch.argmax(torch.from_numpy(x), dim=0).numpy())


# ---- task results -------------------------------------------------------------------------------
def _post(steps, labels=(), output_index=0):
    return {"output_index": output_index, "steps": list(steps), "labels": list(labels)}


def test_classification_topk_with_labels():
    logits = np.array([[1.0, 3.0, 3.0, 2.0]], np.float32)
    result = run_postprocess([logits], "classification", _post([{"op": "softmax", "axis": -1}, {"op": "topk", "k": 3}], "abcd"))
    probs = softmax(logits[0])
    assert result.task == "classification"
    assert result.classifications == [
        Classification("b", 1, float(probs[1])),
        Classification("c", 2, float(probs[2])),
        Classification("d", 3, float(probs[3])),
    ]
    assert result.to_json()["classifications"][0] == {"label": "b", "index": 1, "score": float(probs[1])}


def test_classification_without_topk_sorts_everything_and_labels_are_indices():
    logits = np.array([[0.0, 2.0, -1.0, 2.0]], np.float32)
    result = run_postprocess([logits], "classification", _post([]))
    assert [(c.label, c.index, c.score) for c in result.classifications] == [("1", 1, 2.0), ("3", 3, 2.0), ("0", 0, 0.0), ("2", 2, -1.0)]


def test_classification_argmax_is_top1_and_output_index_selects():
    other = np.zeros((1, 2), np.float32)
    logits = np.array([[0.2, 0.9, 0.9]], np.float32)
    result = run_postprocess([other, logits], "classification", _post([{"op": "sigmoid"}, {"op": "argmax", "axis": -1}], output_index=1))
    assert [(c.index, c.score) for c in result.classifications] == [(1, float(sigmoid(np.float32(0.9))))]


@pytest.mark.parametrize(
    "outputs,task,post,match",
    [
        ([np.zeros((2, 3), np.float32)], "classification", _post([]), "batch dimension of 1"),
        ([np.zeros((1, 3, 2), np.float32)], "classification", _post([]), "one score vector"),
        ([np.zeros((1, 3), np.float32)], "classification", _post([], "ab"), "2 labels for 3 classes"),
        ([np.zeros((1, 3), np.float32)], "classification", _post([{"op": "box_decode"}]), "unknown op 'box_decode'"),
        ([np.zeros((1, 3), np.float32)], "classification", _post([{"op": "nms"}]), "only applies to detection"),
        ([np.zeros((1, 3), np.float32)], "classification", _post([{"op": "topk", "k": 2}, {"op": "softmax"}]), "last step"),
        ([np.zeros((1, 3), np.float32)], "custom", _post([{"op": "topk", "k": 2}]), "only applies to classification"),
        ([np.zeros((1, 3), np.float32)], "classification", _post([], output_index=1), "output_index"),
        ([np.zeros((1, 3), np.float32)], "detection", _post([]), "exactly the steps"),
        ([np.zeros((1, 3), np.float32)], "ranking", _post([]), "not part of schema_version 1"),
    ],
)
def test_postprocess_errors(outputs, task, post, match):
    with pytest.raises(ProcessingError, match=match):
        run_postprocess(outputs, task, post)


def test_custom_returns_raw_tensors_with_elementwise_steps_on_the_selected_output():
    first = np.arange(6, dtype=np.int64).reshape(1, 2, 3)
    second = _logits((1, 4, 5))
    result = run_postprocess([first, second], "custom", _post([{"op": "softmax", "axis": 0}], output_index=1))
    assert result.task == "custom" and len(result.tensors) == 2
    np.testing.assert_array_equal(result.tensors[0], first)
    # axis 0 is the first axis after the batch dimension
    np.testing.assert_allclose(result.tensors[1], torch.softmax(torch.from_numpy(second), dim=1).numpy(), rtol=0, atol=1e-6)


def test_custom_without_steps_returns_outputs_untouched():
    raw = [np.arange(3, dtype=np.int32), np.ones((1, 2), np.float16)]
    result = run_postprocess(raw, "custom", _post([]))
    assert [t.dtype for t in result.tensors] == [np.int32, np.float16]


def test_selection_and_sigmoid_work_in_float32_whatever_the_input_dtype():
    """The contract is float32: scores equal in float32 are ties, whatever the model's dtype."""
    x = np.array([1.0, 1.0 + 1e-12, 0.5], dtype=np.float64)  # one float32 value twice
    assert int(argmax(x)) == 0
    values, indices = topk(x, 2)
    assert indices.tolist() == [0, 1] and values.dtype == np.float32
    assert sigmoid(x).dtype == np.float32


def test_topk_selects_along_the_last_axis_of_each_row():
    x = np.array([[1.0, 3.0, 2.0], [9.0, 7.0, 8.0]], np.float32)
    values, indices = topk(x, 2)
    assert indices.tolist() == [[1, 2], [0, 2]] and values.tolist() == [[3.0, 2.0], [9.0, 8.0]]


def test_topk_refuses_a_boolean_k():
    with pytest.raises(ProcessingError, match="k must be a positive integer"):
        topk(np.zeros(3, np.float32), True)


def test_one_class_and_the_default_k():
    one = run_postprocess([np.array([[4.0]], np.float32)], "classification", _post([{"op": "softmax", "axis": -1}]))
    assert [(c.index, c.score) for c in one.classifications] == [(0, 1.0)]
    seven = run_postprocess([np.arange(7, dtype=np.float32)[None]], "classification", _post([{"op": "topk"}]))
    assert [c.index for c in seven.classifications] == [6, 5, 4, 3, 2]
