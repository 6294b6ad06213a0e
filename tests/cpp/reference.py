"""An independent numpy transcription of docs/processing.md, written from the document alone, so
the C++ glue is checked against the contract and not only against edgesdk.processing."""

from __future__ import annotations

import math

import numpy as np


def _round(v: float) -> int:
    return math.floor(v + 0.5)


def _taps(n_in: int, n_out: int, interpolation: str):
    r = n_in / n_out
    if interpolation == "nearest":
        idx, x = [], 0.5 * r
        for _ in range(n_out):
            idx.append(min(math.floor(x), n_in - 1))
            x += r
        idx = np.array(idx)
        return idx, idx, np.ones(n_out, np.float32), np.zeros(n_out, np.float32)
    i0s, i1s, w0s, w1s = [], [], [], []
    for i in range(n_out):
        f = (i + 0.5) * r - 0.5
        i0 = math.floor(f)
        a = f - i0
        if i0 < 0:
            i0, a = 0, 0.0
        if i0 >= n_in - 1:
            i0, a = n_in - 1, 0.0
        i0s.append(i0)
        i1s.append(min(i0 + 1, n_in - 1))
        w0s.append(1.0 - a)
        w1s.append(a)
    return np.array(i0s), np.array(i1s), np.array(w0s, np.float32), np.array(w1s, np.float32)


def resize(img: np.ndarray, out_h: int, out_w: int, interpolation: str) -> np.ndarray:
    img = img.astype(np.float32)
    i0, i1, w0, w1 = _taps(img.shape[1], out_w, interpolation)
    t = w0[None, :, None] * img[:, i0] + w1[None, :, None] * img[:, i1]
    j0, j1, v0, v1 = _taps(img.shape[0], out_h, interpolation)
    return (v0[:, None, None] * t[j0] + v1[:, None, None] * t[j1]).astype(np.float32)


def preprocess(rgb: np.ndarray, input_color: str, steps: list[dict]) -> np.ndarray:
    x = rgb[..., ::-1] if input_color == "bgr" else rgb
    x = x.astype(np.float32)
    order, dtype = input_color, "float32"
    for step in steps:
        op = step["op"]
        h, w = x.shape[:2]
        if op == "resize":
            H, W = step["size"]
            if step["keep_ratio"]:
                s = max(H / h, W / w)
                H, W = _round(h * s), _round(w * s)
            x = resize(x, H, W, step["interpolation"])
        elif op == "center_crop":
            H, W = step["size"]
            assert h >= H and w >= W
            top, left = (h - H) // 2, (w - W) // 2
            x = x[top : top + H, left : left + W]
        elif op == "letterbox":
            H, W = step["size"]
            s = min(H / h, W / w)
            nh, nw = min(max(_round(h * s), 1), H), min(max(_round(w * s), 1), W)
            top, left = ((H - nh) // 2, (W - nw) // 2) if step["align"] == "center" else (0, 0)
            canvas = np.empty((H, W, 3), np.float32)
            canvas[:] = np.array(step["pad_value"], np.float32)
            canvas[top : top + nh, left : left + nw] = resize(x, nh, nw, step["interpolation"])
            x = canvas
        elif op == "color":
            if step["order"] != order:
                x = x[..., ::-1]
            order = step["order"]
        elif op == "normalize":
            mean, std = np.array(step["mean"], np.float32), np.array(step["std"], np.float32)
            x = (x * np.float32(step["scale"]) - mean) / std
        elif op == "layout":
            x = x.transpose(2, 0, 1)[None] if step["layout"] == "nchw" else x[None]
        elif op == "cast":
            dtype = step["dtype"]
    if dtype in ("uint8", "int8"):
        info = np.iinfo(dtype)
        return np.clip(np.rint(x), info.min, info.max).astype(dtype)
    return np.ascontiguousarray(x.astype(dtype))


def classify(logits: np.ndarray, steps: list[dict]) -> list[int]:
    """Class indices the classification result lists, best first."""
    x = logits[0].astype(np.float32)
    k = x.size
    for step in steps:
        if step["op"] == "softmax":
            e = np.exp(x - x.max())
            x = e / e.sum()
        elif step["op"] == "sigmoid":
            x = np.float32(1) / (np.float32(1) + np.exp(-x))
        elif step["op"] == "argmax":
            k = 1
        elif step["op"] == "topk":
            k = step["k"]
    return [int(i) for i in np.argsort(-x, kind="stable")[:k]]
