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


def _f32(v) -> np.float32:
    return np.float32(v)


def _cubic_row(n_in: int, n_out: int):
    scale = 1.0 / (n_out / n_in)
    a = _f32(-0.75)
    for i in range(n_out):
        f = _f32((i + 0.5) * scale - 0.5)
        i0 = math.floor(f)
        t = _f32(f - _f32(i0))
        w = [((a * (t + _f32(1)) - _f32(5) * a) * (t + _f32(1)) + _f32(8) * a) * (t + _f32(1)) - _f32(4) * a]
        w.append(((a + _f32(2)) * t - (a + _f32(3))) * t * t + _f32(1))
        w.append(((a + _f32(2)) * (_f32(1) - t) - (a + _f32(3))) * (_f32(1) - t) * (_f32(1) - t) + _f32(1))
        w.append(_f32(1) - w[0] - w[1] - w[2])
        yield [min(max(i0 + k, 0), n_in - 1) for k in (-1, 0, 1, 2)], w


def _area_row(n_in: int, n_out: int, box: bool):
    inv = n_out / n_in
    scale = 1.0 / inv
    for i in range(n_out):
        if not box:
            sx = math.floor(i * scale)
            fx = _f32((i + 1) - (sx + 1) * inv)
            fx = _f32(0) if fx <= 0 else _f32(fx - _f32(math.floor(fx)))
            if sx >= n_in - 1:
                sx, fx = n_in - 1, _f32(0)
            yield [sx, min(sx + 1, n_in - 1)], [_f32(1) - fx, fx]
            continue
        f1 = i * scale
        f2 = f1 + scale
        cell = min(scale, n_in - f1)
        s2 = min(math.floor(f2), n_in - 1)
        s1 = min(math.ceil(f1), s2)
        idx, w = [], []
        if s1 - f1 > 1e-3:
            idx.append(s1 - 1)
            w.append(_f32((s1 - f1) / cell))
        for s in range(s1, s2):
            idx.append(s)
            w.append(_f32(1.0 / cell))
        if f2 - s2 > 1e-3:
            idx.append(s2)
            w.append(_f32(min(f2 - s2, 1.0, cell) / cell))
        yield idx, w


def _pillow_row(n_in: int, n_out: int, interpolation: str):
    def kernel(x):
        x = abs(x)
        if interpolation == "bilinear":
            return 1.0 - x if x < 1.0 else 0.0
        if x < 1.0:
            return (1.5 * x - 2.5) * x * x + 1
        return (((x - 5) * x + 8) * x - 4) * -0.5 if x < 2.0 else 0.0

    scale = n_in / n_out
    fs = max(scale, 1.0)
    support = (1.0 if interpolation == "bilinear" else 2.0) * fs
    for i in range(n_out):
        center = (i + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        w = [kernel((x - center + 0.5) * (1.0 / fs)) for x in range(lo, hi)]
        total = 0.0
        for v in w:
            total += v
        yield list(range(lo, hi)), [v / total for v in w] if total != 0.0 else w


def _weighted(img: np.ndarray, axis: int, rows, wide: bool) -> np.ndarray:
    """One axis: each output the sum, in tap order, of weight * pixel; float32 operations, or
    float64 ones rounded to float32 once (wide)."""
    src = np.moveaxis(img.astype(np.float32), axis, 0)
    out = []
    for idx, w in rows:
        if wide:
            acc = src[idx[0]].astype(np.float64) * w[0]
            for j, v in zip(idx[1:], w[1:]):
                acc = acc + src[j].astype(np.float64) * v
        else:
            acc = _f32(w[0]) * src[idx[0]]
            for j, v in zip(idx[1:], w[1:]):
                acc = acc + _f32(v) * src[j]
        out.append(acc.astype(np.float32))
    return np.moveaxis(np.stack(out), 0, axis)


def _uint8_resize(img: np.ndarray, out_h: int, out_w: int, interpolation: str, antialias: bool) -> np.ndarray:
    img = img.astype(np.int64)
    h, w = img.shape[:2]
    if interpolation == "nearest":
        ys = _taps(h, out_h, "nearest")[0]
        xs = _taps(w, out_w, "nearest")[0]
        return img[ys][:, xs].astype(np.float32)
    if antialias:

        def one_pass(x, axis, n_in, n_out):
            src = np.moveaxis(x, axis, 0)
            out = []
            for idx, ws in _pillow_row(n_in, n_out, interpolation):
                acc = np.full(src.shape[1:], 1 << 21, np.int64)
                for j, v in zip(idx, ws):
                    acc = acc + src[j] * (int(v * (1 << 22) - 0.5) if v < 0 else int(v * (1 << 22) + 0.5))
                out.append(np.clip(acc >> 22, 0, 255))
            return np.moveaxis(np.stack(out), 0, axis)

        if w != out_w:
            img = one_pass(img, 1, w, out_w)
        if h != out_h:
            img = one_pass(img, 0, h, out_h)
        return img.astype(np.float32)
    if (h, w) == (out_h, out_w):
        return img.astype(np.float32)

    def table(n_in, n_out, clamp):
        scale = 1.0 / (n_out / n_in)
        for i in range(n_out):
            fx = _f32((i + 0.5) * scale - 0.5)
            sx = math.floor(fx)
            fx = _f32(fx - _f32(sx))
            if clamp and (sx < 0 or sx >= n_in - 1):
                sx, fx = min(max(sx, 0), n_in - 1), _f32(0)
            yield [min(max(sx, 0), n_in - 1), min(max(sx + 1, 0), n_in - 1)], [int(np.rint((_f32(1) - fx) * _f32(2048))), int(np.rint(fx * _f32(2048)))]

    t = np.stack([img[:, a] * wa + img[:, b] * wb for (a, b), (wa, wb) in table(w, out_w, True)], axis=1)
    rows = [(((wa * (t[a] >> 4)) >> 16) + ((wb * (t[b] >> 4)) >> 16) + 2) >> 2 for (a, b), (wa, wb) in table(h, out_h, False)]
    return np.clip(np.stack(rows), 0, 255).astype(np.float32)


def resize(img: np.ndarray, out_h: int, out_w: int, interpolation: str, antialias: bool = False, precision: str = "float") -> np.ndarray:
    if precision == "uint8":
        return _uint8_resize(img, out_h, out_w, interpolation, antialias)
    h, w = img.shape[:2]
    if antialias or interpolation in ("bicubic", "area"):
        box = out_h <= h and out_w <= w
        if antialias:
            make = lambda n, m: _pillow_row(n, m, interpolation)  # noqa: E731
        elif interpolation == "bicubic":
            make = _cubic_row
        else:
            make = lambda n, m: _area_row(n, m, box)  # noqa: E731
        x = img.astype(np.float32)
        if w != out_w:
            x = _weighted(x, 1, make(w, out_w), antialias)
        if h != out_h:
            x = _weighted(x, 0, make(h, out_h), antialias)
        return x
    img = img.astype(np.float32)
    i0, i1, w0, w1 = _taps(img.shape[1], out_w, interpolation)
    t = w0[None, :, None] * img[:, i0] + w1[None, :, None] * img[:, i1]
    j0, j1, v0, v1 = _taps(img.shape[0], out_h, interpolation)
    return (v0[:, None, None] * t[j0] + v1[:, None, None] * t[j1]).astype(np.float32)


def _rounded(v: float, how: str) -> int:
    if how == "floor":
        return math.floor(v)
    if how == "ceil":
        return math.ceil(v)
    if how == "half_up":
        return math.floor(v + 0.5)
    down = math.floor(v)  # half_even
    return down + 1 if v - down > 0.5 or (v - down == 0.5 and down % 2 == 1) else down


def rule_size(h: int, w: int, step: dict) -> tuple[int, int]:
    """Size rules (shorter_side, longer_side, height, width) as docs/processing.md writes them."""
    side = next(k for k in ("shorter_side", "longer_side", "height", "width") if step.get(k) is not None)
    T, R, M = step[side], step["rounding"], step.get("max_size")
    if side == "shorter_side":
        h_named = h <= w
    elif side == "longer_side":
        h_named = h > w
    else:
        h_named = side == "height"
    s, o = (h, w) if h_named else (w, h)
    only = step.get("only")
    if (only == "upscale" and s >= T) or (only == "downscale" and s <= T):
        s2, o2 = s, o
    elif step["arithmetic"] == "scale_first":
        r = T / s
        s2, o2 = _rounded(s * r, R), _rounded(o * r, R)
    elif step["arithmetic"] == "aspect_first":
        a = o / s
        s2, o2 = T, _rounded(T * a, R)
    else:
        s2, o2 = T, _rounded(T * o / s, R)
    if M is not None and o2 > M and not ((only == "upscale" and s >= T) or (only == "downscale" and s <= T)):
        if side == "shorter_side":
            s2 = _rounded(M * s2 / o2, R)
        o2 = M
    s2, o2 = max(s2, 1), max(o2, 1)
    m = step.get("multiple_of")
    if m is not None:
        s2 = max(m, _rounded(s2 / m, step["multiple_rounding"]) * m)
        o2 = max(m, _rounded(o2 / m, step["multiple_rounding"]) * m)
    return (s2, o2) if h_named else (o2, s2)


def preprocess(rgb: np.ndarray, input_color: str, steps: list[dict]) -> np.ndarray:
    x = rgb[..., ::-1] if input_color == "bgr" else rgb
    x = x.astype(np.float32)
    order, dtype = input_color, "float32"
    for step in steps:
        op = step["op"]
        h, w = x.shape[:2]
        if op == "resize" and step.get("size") is None:
            H, W = rule_size(h, w, step)
            x = resize(x, H, W, step["interpolation"], step.get("antialias", False), step.get("precision", "float"))
        elif op == "resize":
            H, W = step["size"]
            if step["keep_ratio"]:
                s = max(H / h, W / w)
                H, W = _round(h * s), _round(w * s)
            x = resize(x, H, W, step["interpolation"], step.get("antialias", False), step.get("precision", "float"))
        elif op == "center_crop":
            H, W = step["size"]
            assert h >= H and w >= W
            top, left = (h - H) // 2, (w - W) // 2
            if step.get("rounding") == "half_even":  # an odd excess whose half floors to an odd number rounds up
                top += (h - H) % 2 * (top % 2)
                left += (w - W) % 2 * (left % 2)
            x = x[top : top + H, left : left + W]
        elif op == "letterbox":
            H, W = step["size"]
            s = min(H / h, W / w)
            nh, nw = min(max(_round(h * s), 1), H), min(max(_round(w * s), 1), W)
            top, left = ((H - nh) // 2, (W - nw) // 2) if step["align"] == "center" else (0, 0)
            canvas = np.empty((H, W, 3), np.float32)
            canvas[:] = np.array(step["pad_value"], np.float32)
            canvas[top : top + nh, left : left + nw] = resize(x, nh, nw, step["interpolation"], step.get("antialias", False), step.get("precision", "float"))
            x = canvas
        elif op == "pad":
            H, W = step["size"]
            assert h <= H and w <= W
            top, left = ((H - h) // 2, (W - w) // 2) if step["align"] == "center" else (0, 0)
            canvas = np.empty((H, W, 3), np.float32)
            canvas[:] = np.array(step["value"], np.float32)
            canvas[top : top + h, left : left + w] = x
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


# ---- detection and segmentation (docs/processing.md, "Detection", "Segmentation") ----


def _sigmoid(x):
    with np.errstate(over="ignore"):
        return (np.float32(1) / (np.float32(1) + np.exp(-np.asarray(x, np.float32)))).astype(np.float32)


def _iou(a, b) -> float:
    area = lambda r: max(0.0, r[2] - r[0]) * max(0.0, r[3] - r[1])  # noqa: E731
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def detect(outputs: list[np.ndarray], decode: dict, nms: dict, geometry: dict, labels: list[str]) -> list[tuple]:
    """[(index, score, box (float32 x0, y0, x1, y1), label)], one candidate at a time in plain Python."""
    outputs = [np.asarray(o).astype(np.float32) for o in outputs]  # any numeric output, as float32
    if decode["format"] == "yolo":
        t = outputs[decode["boxes_index"]][0]
        rows = t.T if decode["transposed"] else t
        boxes, rest = rows[:, :4], rows[:, 4:]
        objectness = rest[:, 0] if decode["objectness"] else None
        classes = rest[:, 1:] if decode["objectness"] else rest
    else:
        boxes, classes, objectness = outputs[decode["boxes_index"]][0], outputs[decode["scores_index"]][0], None
    act = _sigmoid if decode["score_activation"] == "sigmoid" else (lambda v: np.asarray(v, np.float32))
    thr = float(nms["score_threshold"])  # float64: the float32 score widened, never the threshold rounded
    W, H = geometry["input_width"], geometry["input_height"]
    cands = []  # (score, number, class, candidate)
    n_cls = classes.shape[1]
    for i in range(boxes.shape[0]):
        scores = act(classes[i])
        if objectness is not None:
            scores = (act(objectness[i]) * scores).astype(np.float32)
        if decode["multi_label"]:
            cands += [(scores[c], i * n_cls + c, c, i) for c in range(n_cls) if float(scores[c]) > thr]
        else:
            best = None
            for c in range(n_cls):
                if not np.isnan(scores[c]) and (best is None or scores[c] > scores[best]):
                    best = c
            if best is not None and float(scores[best]) > thr:
                cands.append((scores[best], i, best, i))
    cands.sort(key=lambda k: (-float(k[0]), k[1]))
    cands = cands[: nms["pre_nms_topk"]]
    kept = []
    for score, _, c, i in cands:
        if len(kept) >= nms["max_detections"]:
            break
        a, b, e, f = (float(v) for v in boxes[i])
        box = (a, b, e, f) if decode["box"] == "xyxy" else (a - 0.5 * e, b - 0.5 * f, a + 0.5 * e, b + 0.5 * f)
        if decode["normalized"]:
            box = (box[0] * W, box[1] * H, box[2] * W, box[3] * H)
        if any((nms["class_agnostic"] or kc == c) and _iou(kb, box) > nms["iou_threshold"] for kb, kc, _ in kept):
            continue
        kept.append((box, c, score))
    g = geometry
    out = []
    for box, c, score in kept:
        xs = [min(max((v - g["pad_left"]) / g["scale_x"], 0.0), g["src_width"]) for v in box[0::2]]
        ys = [min(max((v - g["pad_top"]) / g["scale_y"], 0.0), g["src_height"]) for v in box[1::2]]
        mapped = tuple(float(np.float32(v)) for v in (xs[0], ys[0], xs[1], ys[1]))
        out.append((c, float(score), mapped, labels[c] if labels else str(c)))
    return out


def mask(output: np.ndarray, step: dict, geometry: dict) -> np.ndarray:
    """The class-id mask [src_height, src_width] (uint8)."""
    x = output[0]
    if step["activation"] == "argmax":
        scores = np.moveaxis(x, -1, 0) if step["layout"] == "nhwc" else x
        scores = scores.astype(np.float32)
        # NaN counts as -inf; the first maximum is the lowest class.
        cells = np.argmax(np.where(np.isnan(scores), -np.inf, scores), axis=0).astype(np.uint8)
    elif step["activation"] == "sigmoid":
        cells = (x.reshape(x.shape[-2:]).astype(np.float32).astype(np.float64) > math.log(step["threshold"] / (1 - step["threshold"]))).astype(np.uint8)
    else:
        cells = x.reshape(x.shape[-2:]).astype(np.uint8)
    mh, mw = cells.shape
    g = geometry

    def table(n, scale, pad, cells_n, size):
        idx = [math.floor(((i + 0.5) * scale + pad) * cells_n / size) for i in range(n)]
        return np.clip(np.array(idx, np.int64), 0, cells_n - 1)

    ys = table(g["src_height"], g["scale_y"], g["pad_top"], mh, g["input_height"])
    xs = table(g["src_width"], g["scale_x"], g["pad_left"], mw, g["input_width"])
    return cells[ys][:, xs]
