"""Curated one-line mutants of the C++ and Kotlin templates, and the harness that runs each
against the op cases (tests/opcheck/cases.py) through its language's program (programs.py).

Each mutant is a bug a port of docs/processing.md could plausibly have: rounding, clamping,
off-by-one, swapped operands or indices, a lost stable tie-break. A mutant must apply to exactly
one place (a template edit that moves the code makes the harness fail, so the list is kept up to
date) and must be killed: its program fails to build, crashes, or gives an output the cases
reject. `python -m opcheck.mutants` (run by `make mutate`) prints the report.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesdk.package_data import TEMPLATES_DIR

from . import programs
from .cases import PostCase, PreCase, post_cases, pre_cases

CPP = "cpp/src"
# Cores per kotlinc run: one run of every mutant's core would save a compiler start or two, but
# takes minutes and can pass the compile timeout (hosttest_kotlin) on a busy machine.
KOTLIN_BATCH = 4
KT = programs.KOTLIN_CORE
SW = programs.SWIFT_CORE


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str  # relative to the templates folder
    find: str
    replace: str

    @property
    def language(self) -> str:
        return self.file.split("/")[0]


MUTANTS = [
    # ---- C++ resampling tables ----
    Mutant("cpp-nearest-multiplied-centres", f"{CPP}/resample.cpp.j2", "std::min(static_cast<int>(std::floor(x)), n_in - 1)", "std::min(static_cast<int>(std::floor((i + 0.5) * r)), n_in - 1)"),
    Mutant("cpp-nearest-round", f"{CPP}/resample.cpp.j2", "std::min(static_cast<int>(std::floor(x)), n_in - 1)", "std::min(static_cast<int>(std::round(x)), n_in - 1)"),
    Mutant("cpp-bilinear-no-half-pixel", f"{CPP}/resample.cpp.j2", "const double f = (i + 0.5) * r - 0.5;", "const double f = i * r;"),
    Mutant("cpp-bilinear-low-clamp-le", f"{CPP}/resample.cpp.j2", "if (i0 < 0) {", "if (i0 <= 0) {"),
    Mutant("cpp-bilinear-high-clamp-gt", f"{CPP}/resample.cpp.j2", "if (i0 >= n_in - 1) {", "if (i0 > n_in - 1) {"),
    Mutant("cpp-bilinear-weight-float32", f"{CPP}/resample.cpp.j2", "{static_cast<float>(1.0 - a), static_cast<float>(a)}", "{1.0f - static_cast<float>(a), static_cast<float>(a)}"),
    Mutant("cpp-bilinear-second-tap", f"{CPP}/resample.cpp.j2", "map.add({lo, std::min(lo + 1, n_in - 1)}", "map.add({lo, std::min(lo, n_in - 1)}"),
    Mutant(
        "cpp-compose-skips-first-tap", f"{CPP}/resample.cpp.j2", "for (std::size_t k = 0; k < out.index.size(); ++k) out.index[k]", "for (std::size_t k = 1; k < out.index.size(); ++k) out.index[k]"
    ),
    Mutant("cpp-bicubic-pillow-a", f"{CPP}/resample.cpp.j2", "const float a = -0.75f;", "const float a = -0.5f;"),
    Mutant("cpp-area-drops-partial-first-cell", f"{CPP}/resample.cpp.j2", "if (s1 - f1 > 1e-3) {", "if (s1 - f1 > 0.5) {"),
    Mutant("cpp-area-up-negative-fraction", f"{CPP}/resample.cpp.j2", "fx = fx <= 0 ? 0.0f : fx - static_cast<float>(std::floor(fx));", "fx = fx - static_cast<float>(std::floor(fx));"),
    Mutant("cpp-pillow-support-not-scaled", f"{CPP}/resample.cpp.j2", "const double ss = 1.0 / filterscale;", "const double ss = 1.0 / scale;"),
    Mutant("cpp-opencv-u8-y-weights-clamped", f"{CPP}/resample.cpp.j2", "opencv_linear_table(h, oh, false, yi, yw);", "opencv_linear_table(h, oh, true, yi, yw);"),
    Mutant("cpp-pillow-u8-no-rounding-bias", f"{CPP}/resample.cpp.j2", "int32_t ss = 1 << 21;", "int32_t ss = 0;"),
    Mutant("cpp-opencv-u8-simd-second-tap-first-pixel", f"{CPP}/resample.cpp.j2", "_mm_madd_epi16(p[src.step + byte], a1)", "_mm_madd_epi16(p[byte], a1)"),
    Mutant("cpp-opencv-u8-simd-y-no-rounding", f"{CPP}/resample.cpp.j2", "q[k] = _mm_srai_epi32(_mm_add_epi32(v, two), 2);", "q[k] = _mm_srai_epi32(v, 2);"),
    Mutant("cpp-opencv-u8-row-cache-overwrites-first", f"{CPP}/resample.cpp.j2", ": (t[0] == rows.data() ? 1 : 0);", ": 0;"),
    Mutant("cpp-round-half-even", f"{CPP}/resample.hpp.j2", "return static_cast<int>(std::floor(v + 0.5));", "return static_cast<int>(std::nearbyint(v));"),
    # ---- C++ pre-processing steps ----
    Mutant("cpp-keep-ratio-min", f"{CPP}/preprocess.cpp.j2", "const double s = std::max(static_cast<double>(height) / in_h", "const double s = std::min(static_cast<double>(height) / in_h"),
    Mutant("cpp-crop-offset-rounds-up", f"{CPP}/preprocess.cpp.j2", "const int half = excess / 2;", "const int half = (excess + 1) / 2;"),
    Mutant("cpp-crop-half-even-rounds-odd", f"{CPP}/preprocess.cpp.j2", "excess % 2 == 1 && half % 2 == 1 ? half + 1", "excess % 2 == 1 && half % 2 == 0 ? half + 1"),
    Mutant("cpp-letterbox-max-scale", f"{CPP}/preprocess.cpp.j2", "const double s = std::min(static_cast<double>(height) / in_h", "const double s = std::max(static_cast<double>(height) / in_h"),
    Mutant("cpp-letterbox-clamp-zero", f"{CPP}/preprocess.cpp.j2", "std::clamp(round_half_up(in_h * s), 1, height)", "std::clamp(round_half_up(in_h * s), 0, height)"),
    Mutant("cpp-letterbox-top-rounds-up", f"{CPP}/preprocess.cpp.j2", "center ? (height - nh) / 2 : 0", "center ? (height - nh + 1) / 2 : 0"),
    Mutant("cpp-letterbox-left-rounds-up", f"{CPP}/preprocess.cpp.j2", "center ? (width - nw) / 2 : 0", "center ? (width - nw + 1) / 2 : 0"),
    Mutant("cpp-letterbox-pad-ignores-order", f"{CPP}/preprocess.cpp.j2", "pad_[perm_[c]] = pad_value[c];", "pad_[c] = pad_value[c];"),
    Mutant("cpp-color-always-swaps", f"{CPP}/preprocess.cpp.j2", "if (order != order_) std::swap(perm_[0], perm_[2]);", "std::swap(perm_[0], perm_[2]);"),
    Mutant("cpp-mean-ignores-order", f"{CPP}/preprocess.cpp.j2", "op.mean[perm_[c]] = mean[c];", "op.mean[c] = mean[c];"),
    Mutant("cpp-normalize-reciprocal", f"{CPP}/preprocess.cpp.j2", "v[i] = (v[i] * scale - mean) / std_dev;", "v[i] = (v[i] * scale - mean) * (1.0f / std_dev);"),
    Mutant("cpp-normalize-scale-last", f"{CPP}/preprocess.cpp.j2", "v[i] = (v[i] * scale - mean) / std_dev;", "v[i] = (v[i] - mean) / std_dev * scale;"),
    Mutant(
        "cpp-x-pass-first-tap-twice",
        f"{CPP}/preprocess.cpp.j2",
        "acc = acc + static_cast<float>(xs_.weight[k]) * static_cast<float>(p[static_cast<std::size_t>(xs_.index[k]) * step]);",
        "acc = acc + static_cast<float>(xs_.weight[k]) * static_cast<float>(p[static_cast<std::size_t>(xs_.index[first]) * step]);",
    ),
    Mutant("cpp-y-pass-first-row-twice", f"{CPP}/preprocess.cpp.j2", "for (int k = 1; k < taps; ++k) y_next(rows[k] + at,", "for (int k = 1; k < taps; ++k) y_next(rows[0] + at,"),
    Mutant("cpp-y-pass-two-taps-first-row-twice", f"{CPP}/preprocess.cpp.j2", "out[i] = v0 * r0[i] + v1 * r1[i];", "out[i] = v0 * r0[i] + v1 * r0[i];"),
    Mutant("cpp-y-pass-wide-in-float32", f"{CPP}/preprocess.cpp.j2", "if (ys_.wide) {", "if (false) {"),
    Mutant("cpp-x-pixels-second-tap-first-weight", f"{CPP}/preprocess.cpp.j2", "_mm_mul_ps(_mm_loadu_ps(w1 + i), p[Step + byte])", "_mm_mul_ps(w0v, p[Step + byte])"),
    Mutant("cpp-x-pixels-second-tap-first-pixel", f"{CPP}/preprocess.cpp.j2", "_mm_mul_ps(_mm_loadu_ps(w1 + i), p[Step + byte])", "_mm_mul_ps(_mm_loadu_ps(w1 + i), p[byte])"),
    Mutant("cpp-x-pixels-avx2-second-tap-first-pixel", f"{CPP}/preprocess.cpp.j2", "_mm256_cvtepi32_ps(bytes.byte[Step + byte])", "_mm256_cvtepi32_ps(bytes.byte[byte])"),
    Mutant("cpp-x-pixels-avx2-second-tap-first-weight", f"{CPP}/preprocess.cpp.j2", "_mm256_mul_ps(_mm256_loadu_ps(w1 + i), p1)", "_mm256_mul_ps(w0v, p1)"),
    Mutant(
        "cpp-y-normalize-avx2-reciprocal",
        f"{CPP}/preprocess.cpp.j2",
        "_mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(v, s), m), d)",
        "_mm256_mul_ps(_mm256_sub_ps(_mm256_mul_ps(v, s), m), _mm256_div_ps(_mm256_set1_ps(1.0f), d))",
    ),
    Mutant("cpp-y-normalize-avx2-first-row-twice", f"{CPP}/preprocess.cpp.j2", "_mm256_mul_ps(v1v, _mm256_loadu_ps(r1 + i))", "_mm256_mul_ps(v1v, _mm256_loadu_ps(r0 + i))"),
    # (The SSE2 y pass + normalize runs here only for what AVX2 leaves, which no op case reaches;
    # tests/cpp/test_preprocess_kernels.py plants its bugs in an SSE2-only build.)
    Mutant("cpp-x-tail-second-tap-first-pixel", f"{CPP}/preprocess.cpp.j2", "w1[i] * static_cast<float>(p[at1[i]]);", "w1[i] * static_cast<float>(p[at[i]]);"),
    Mutant("cpp-x-unit-skips-offset", f"{CPP}/preprocess.cpp.j2", "x_unit(p + table.at[0] + unit_done,", "x_unit(p + unit_done,"),
    Mutant("cpp-x-unit-avx2-skips-offset", f"{CPP}/preprocess.cpp.j2", "x_unit_avx2(p + table.at[0],", "x_unit_avx2(p,"),
    Mutant("cpp-blend-pad-columns-kept", f"{CPP}/preprocess.cpp.j2", "    std::fill(out + span.hi, out + width, pad_[c]);\n    if (!span.contiguous)", "    if (!span.contiguous)"),
    Mutant("cpp-x-pass-wide-in-float32", f"{CPP}/preprocess.cpp.j2", "if (xs_.wide) {", "if (false) {"),
    Mutant("cpp-row-cache-first-tap-only", f"{CPP}/preprocess.cpp.j2", "if (cached[s] == ys_.index[first + k]) {", "if (cached[s] == ys_.index[first]) {"),
    Mutant("cpp-area-box-ignores-width", f"{CPP}/preprocess.cpp.j2", "const bool area_box = height <= in_h && width <= in_w;", "const bool area_box = height <= in_h;"),
    Mutant("cpp-u8-resize-planar-stride", f"{CPP}/preprocess.cpp.j2", "    stride_ = width;\n", "    stride_ = height;\n"),
    Mutant("cpp-no-materialize-before-resample", f"{CPP}/preprocess.cpp.j2", "if (!pending_.empty() || !ys_.selection() || !xs_.selection()) materialize();", "if (!pending_.empty()) materialize();"),
    Mutant("cpp-nchw-store-ignores-order", f"{CPP}/preprocess.cpp.j2", "const float* in = row + perm[c] * w;", "const float* in = row + c * w;"),
    # ---- C++ size rules and pad ----
    Mutant("cpp-rule-scale-first-named-exact", f"{CPP}/preprocess.cpp.j2", "new_named = round_side(n * scale, rounding);", "new_named = target;"),
    Mutant("cpp-rule-half-even-rounds-up", f"{CPP}/preprocess.cpp.j2", "frac > 0.5 || (frac == 0.5 && odd)", "frac >= 0.5"),
    Mutant("cpp-rule-only-upscale-inverted", f"{CPP}/preprocess.cpp.j2", "(only == Only::Upscale && named >= target)", "(only == Only::Upscale && named <= target)"),
    Mutant("cpp-rule-max-size-shorter-kept", f"{CPP}/preprocess.cpp.j2", "if (side == SizeSide::Shorter) new_named", "if (side == SizeSide::Height) new_named"),
    Mutant("cpp-rule-multiple-below-m", f"{CPP}/preprocess.cpp.j2", "std::max<int64_t>(multiple_of, round_side", "std::max<int64_t>(1, round_side"),
    Mutant("cpp-pad-top-rounds-up", f"{CPP}/preprocess.cpp.j2", "center ? (height - in_h) / 2 : 0", "center ? (height - in_h + 1) / 2 : 0"),
    Mutant("cpp-pad-value-ignores-order", f"{CPP}/preprocess.cpp.j2", "pad_[perm_[c]] = value[c];", "pad_[c] = value[c];"),
    Mutant("cpp-pad-geometry-axes-swapped", f"{CPP}/preprocess.cpp.j2", "map_geometry(1.0, 1.0, left, top);", "map_geometry(1.0, 1.0, top, left);"),
    Mutant("cpp-pad-value-normalized", f"{CPP}/preprocess.cpp.j2", "if (!pending_.empty() || has_padding(ys_)", "if (has_padding(ys_)"),
    # ---- C++ cast ----
    Mutant("cpp-cast-round-half-away", f"{CPP}/cast.hpp.j2", "const float rounded = std::nearbyint(value);", "const float rounded = std::round(value);"),
    Mutant("cpp-cast-truncates", f"{CPP}/cast.hpp.j2", "const float rounded = std::nearbyint(value);", "const float rounded = std::trunc(value);"),
    Mutant("cpp-half-scale", f"{CPP}/cast.hpp.j2", "const float scale_to_zero = 0x1.0p-110f;", "const float scale_to_zero = 0x1.0p-111f;"),
    Mutant("cpp-half-overflow-saturates", f"{CPP}/cast.hpp.j2", "const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;", "const uint32_t exp_bits = std::min((bits >> 13) & 0x00007C00u, 0x7800u);"),
    # ---- C++ post-processing ----
    Mutant("cpp-softmax-max-skips-last", f"{CPP}/postprocess.cpp.j2", "for (std::size_t i = 1; i < n; ++i) top", "for (std::size_t i = 1; i + 1 < n; ++i) top"),
    Mutant("cpp-softmax-inner-stride", f"{CPP}/postprocess.cpp.j2", "for (int i = a + 1; i < rank; ++i) inner", "for (int i = a; i < rank; ++i) inner"),
    Mutant("cpp-softmax-axis-offset", f"{CPP}/postprocess.cpp.j2", "const int a = axis < 0 ? axis + rank : axis;", "const int a = axis < 0 ? axis + rank - 1 : axis;"),
    Mutant("cpp-sigmoid-sign", f"{CPP}/postprocess.cpp.j2", "1.0f / (1.0f + std::exp(-data[i]))", "1.0f / (1.0f + std::exp(data[i]))"),
    Mutant("cpp-topk-ties-higher-index-first", f"{CPP}/postprocess.cpp.j2", "(scores[a] == scores[b] && a < b)", "(scores[a] == scores[b] && a > b)"),
    Mutant("cpp-topk-unstable", f"{CPP}/postprocess.cpp.j2", "return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);", "return scores[a] > scores[b];"),
    Mutant("cpp-topk-nan-first", f"{CPP}/postprocess.cpp.j2", "return b_nan && (!a_nan || a < b);", "return a_nan && (!b_nan || a < b);"),
    Mutant("cpp-topk-ascending", f"{CPP}/postprocess.cpp.j2", "return scores[a] > scores[b] ||", "return scores[a] < scores[b] ||"),
    # ---- C++ run options (select_classes) and the SDK's own SHA-256 (integrity.cpp) ----
    Mutant("cpp-run-top-k-ignored", f"{CPP}/postprocess.cpp.j2", "    keep = static_cast<std::size_t>(*options.top_k);\n", ""),
    Mutant("cpp-run-threshold-ignored", f"{CPP}/postprocess.cpp.j2", "  if (options.score_threshold) {\n    // Best first", "  if (false) {\n    // Best first"),
    Mutant("cpp-sha256-one-block-tail-at-56", f"{CPP}/integrity.cpp.j2", "const std::size_t tail_size = rest < 56 ? 64 : 128;", "const std::size_t tail_size = rest <= 56 ? 64 : 128;"),
    Mutant("cpp-sha256-length-in-bytes", f"{CPP}/integrity.cpp.j2", "static_cast<uint64_t>(size) * 8;", "static_cast<uint64_t>(size);"),
    # ---- C++ camera frames and orientation ----
    Mutant("cpp-yuv-video-no-rounding", f"{CPP}/frames.cpp.j2", " * 1220542 + (1 << 19);", " * 1220542;"),
    Mutant(
        "cpp-yuv-video-luma-not-floored",
        f"{CPP}/frames.cpp.j2",
        "std::max(static_cast<int>(f.y.data[static_cast<std::size_t>(sy) * ys + sx]) - 16, 0)",
        "(static_cast<int>(f.y.data[sy * ys + sx]) - 16)",
    ),
    Mutant("cpp-yuv-u-and-v-swapped", f"{CPP}/frames.cpp.j2", "    u = f.u.data[at];", "    u = f.v.data[at];"),
    Mutant("cpp-yuv-full-green-reads-u-twice", f"{CPP}/frames.cpp.j2", "(gu[u] + gv[v])", "(gu[u] + gv[u])"),
    Mutant("cpp-yuv-full-table-truncates", f"{CPP}/frames.cpp.j2", "static_cast<double>(i - 128) + 0.5)", "static_cast<double>(i - 128))"),
    Mutant("cpp-rotate-90-counterclockwise", f"{CPP}/frames.cpp.j2", "case 90: return std::array<int, 2>{uy, height - 1 - ux};", "case 90: return std::array<int, 2>{width - 1 - uy, ux};"),
    Mutant("cpp-mirror-by-upright-height", f"{CPP}/frames.cpp.j2", "if (o.mirror) ux = uw - 1 - ux;", "if (o.mirror) ux = uh - 1 - ux;"),
    # ---- C++ step macros ----
    Mutant("cpp-steps-resize-size-swapped", "cpp/_steps.j2", "p.resize({{ step.size[0] | int }}, {{ step.size[1] | int }}", "p.resize({{ step.size[1] | int }}, {{ step.size[0] | int }}"),
    Mutant("cpp-steps-align-always-center", "cpp/_steps.j2", '"top_left": "false"', '"top_left": "true"'),
    Mutant("cpp-steps-precision-float", "cpp/_steps.j2", 'detail::Precision::{{ "UInt8" if', 'detail::Precision::{{ "Float" if'),
    Mutant("cpp-steps-topk-one-less", "cpp/_steps.j2", "_select(step.k | int, post)", "_select((step.k | int) - 1, post)"),
    # ---- Kotlin core ----
    Mutant("kt-nearest-multiplied-centres", f"{KT}/Resample.kt.j2", "out[i] = min(floor(x).toInt(), nIn - 1)", "out[i] = min(floor((i + 0.5) * r).toInt(), nIn - 1)"),
    Mutant("kt-bilinear-weight-float32", f"{KT}/Resample.kt.j2", "w0[i] = (1.0 - a).toFloat()", "w0[i] = 1.0f - a.toFloat()"),
    Mutant("kt-bilinear-low-clamp-le", f"{KT}/Resample.kt.j2", "if (lo < 0) {", "if (lo <= 0) {"),
    Mutant("kt-bilinear-y-near-row-twice", f"{KT}/Resample.kt.j2", "out[k] = v0 * t0[k] + v1 * t1[k]", "out[k] = v0 * t0[k] + v1 * t0[k]"),
    Mutant(
        "kt-x-pass-second-tap-first-pixel",
        f"{KT}/PixelImage.kt.j2",
        "dst[o1 + x] = a * f[bytes[p + 1].toInt() and 0xFF] + b * f[bytes[q + 1]",
        "dst[o1 + x] = a * f[bytes[p + 1].toInt() and 0xFF] + b * f[bytes[p + 1]",
    ),
    Mutant("kt-bilinear-y-normalized-near-row-twice", f"{KT}/Resample.kt.j2", "normalize.value(v0 * t0[k] + v1 * t1[k], m, s)", "normalize.value(v0 * t0[k] + v1 * t0[k], m, s)"),
    Mutant(
        "kt-x-pass-pair-second-row-reads-first",
        f"{KT}/PixelImage.kt.j2",
        "dst1[o1 + x] = a * f[bytes[s + 1].toInt() and 0xFF] + b * f[bytes[t + 1]",
        "dst1[o1 + x] = a * f[bytes[s + 1].toInt() and 0xFF] + b * f[bytes[q + 1]",
    ),
    Mutant("kt-row-pair-second-is-first", f"{KT}/Resample.kt.j2", "second = if (rowA == y1) a else b", "second = if (rowA == y0) a else b"),
    Mutant("kt-row-pair-refill-evicts-kept", f"{KT}/Resample.kt.j2", "!has1 -> fill(y1, y0)", "!has1 -> fill(y1, y1)"),
    Mutant("kt-opencv-u8-x-pair-second-row-reads-first", f"{KT}/PixelImage.kt.j2", "dst1[o1 + x] = a * (bytes[s + 1].toInt() and 0xFF)", "dst1[o1 + x] = a * (bytes[p + 1].toInt() and 0xFF)"),
    Mutant("kt-opencv-u8-y-no-rounding", f"{KT}/Resample.kt.j2", "val r = (v + 2) shr 2", "val r = v shr 2"),
    Mutant("kt-plan-crop-rows-from-left", f"{KT}/Resample.kt.j2", "ys?.slice(top, h)", "ys?.slice(left, h)"),
    Mutant("kt-plan-swap-dropped", f"{KT}/Resample.kt.j2", "BilinearPlan(source.swapped(), xs, ys, precision)", "BilinearPlan(source, xs, ys, precision)"),
    Mutant("kt-bicubic-pillow-a", f"{KT}/Resample.kt.j2", "val a = -0.75f", "val a = -0.5f"),
    Mutant("kt-area-always-box", f"{KT}/Resample.kt.j2", "val box = outH <= src.height && outW <= src.width", "val box = true"),
    Mutant("kt-wide-in-float32", f"{KT}/Resample.kt.j2", "out[(r * outCols + q) * 3 + c] = if (taps.wide) {", "out[(r * outCols + q) * 3 + c] = if (false) {"),
    Mutant("kt-opencv-u8-y-weights-clamped", f"{KT}/Resample.kt.j2", "val (yi, yw) = opencvTable(h, outH, false)", "val (yi, yw) = opencvTable(h, outH, true)"),
    Mutant("kt-pillow-u8-no-rounding-bias", f"{KT}/Resample.kt.j2", "var ss = 1 shl 21", "var ss = 0"),
    Mutant("kt-keep-ratio-min", f"{KT}/Preprocessor.kt.j2", "val s = maxOf(height.toDouble() / view.height", "val s = minOf(height.toDouble() / view.height"),
    Mutant("kt-crop-offset-rounds-up", f"{KT}/Preprocessor.kt.j2", "val half = excess / 2", "val half = (excess + 1) / 2"),
    Mutant("kt-crop-half-even-rounds-odd", f"{KT}/Preprocessor.kt.j2", "excess % 2 == 1 && half % 2 == 1) half + 1", "excess % 2 == 1 && half % 2 == 0) half + 1"),
    Mutant("kt-letterbox-clamp-zero", f"{KT}/Preprocessor.kt.j2", "val nh = roundHalfUp(view.height * s).coerceIn(1, height)", "val nh = roundHalfUp(view.height * s).coerceIn(0, height)"),
    Mutant("kt-letterbox-left-rounds-up", f"{KT}/Preprocessor.kt.j2", "val left = if (center) (width - nw) / 2 else 0", "val left = if (center) (width - nw + 1) / 2 else 0"),
    Mutant("kt-normalize-reciprocal", f"{KT}/Preprocessor.kt.j2", "(v * scale - m) / s", "(v * scale - m) * (1.0f / s)"),
    Mutant("kt-nchw-store-planes-per-row", f"{KT}/Preprocessor.kt.j2", "put(c * height * w + y * w, planes, c * w, w)", "put((3 * y + c) * w, planes, c * w, w)"),
    Mutant("kt-round-half-even-sizes", f"{KT}/Preprocessor.kt.j2", "Math.floor(v + 0.5).toInt()", "Math.rint(v).toInt()"),
    Mutant("kt-swap-is-identity", f"{KT}/PixelImage.kt.j2", "intArrayOf(channel[2], channel[1], channel[0])", "intArrayOf(channel[0], channel[1], channel[2])"),
    Mutant("kt-yuv-video-no-rounding", f"{KT}/Frames.kt.j2", "maxOf(y - 16, 0) * 1220542 + (1 shl 19)", "maxOf(y - 16, 0) * 1220542"),
    Mutant("kt-yuv-full-green-reads-u-twice", f"{KT}/Frames.kt.j2", "(GU[u] + GV[v])", "(GU[u] + GV[u])"),
    Mutant("kt-yuv-chroma-pixel-stride-ignored", f"{KT}/Frames.kt.j2", "(sx shr 1) * f.u.pixelStride", "(sx shr 1)"),
    Mutant("kt-rotate-270-as-90", f"{KT}/Frames.kt.j2", "270 -> intArrayOf(image.width - 1 - uy, ux)", "270 -> intArrayOf(uy, image.height - 1 - ux)"),
    Mutant("kt-mirror-by-upright-height", f"{KT}/Frames.kt.j2", "if (orientation.mirror) ux = uw - 1 - ux", "if (orientation.mirror) ux = uh - 1 - ux"),
    Mutant("kt-nv21-planes-swapped", f"{KT}/PixelImage.kt.j2", "if (vFirst) second else first, if (vFirst) first else second", "if (vFirst) first else second, if (vFirst) second else first"),
    Mutant("kt-cast-round-half-up", f"{KT}/Cast.kt.j2", "val rounded = Math.rint(value.toDouble())", "val rounded = Math.floor(value.toDouble() + 0.5)"),
    Mutant("kt-half-scale", f"{KT}/Cast.kt.j2", "intBitsToFloat(0x08800000)", "intBitsToFloat(0x08000000)"),
    Mutant("kt-softmax-inner-stride", f"{KT}/Postprocess.kt.j2", "for (i in a + 1 until rank) inner", "for (i in a until rank) inner"),
    Mutant("kt-sigmoid-sign", f"{KT}/Postprocess.kt.j2", "1.0f / (1.0f + exp(-values[i]))", "1.0f / (1.0f + exp(values[i]))"),
    Mutant("kt-topk-ties-higher-index-first", f"{KT}/Postprocess.kt.j2", "else -> a.compareTo(b)", "else -> b.compareTo(a)"),
    Mutant("kt-topk-float-compare-to", f"{KT}/Postprocess.kt.j2", "sa > sb -> -1", "sb.compareTo(sa) != 0 -> sb.compareTo(sa)"),
    Mutant("kt-steps-precision-float", "kotlin/_steps.j2", 'precision = Precision.{{ "UINT8" if', 'precision = Precision.{{ "FLOAT" if'),
    Mutant("kt-steps-keep-ratio-dropped", "kotlin/_steps.j2", 'keepRatio = {{ "true" if step.keep_ratio else "false" }}', "keepRatio = false"),
    # ---- Kotlin size rules and pad ----
    Mutant("kotlin-rule-scale-first-named-exact", f"{KT}/Preprocessor.kt.j2", "newNamed = round(n * scale, rounding)", "newNamed = target.toLong()"),
    Mutant("kotlin-rule-half-even-rounds-up", f"{KT}/Preprocessor.kt.j2", "Rounding.HALF_EVEN -> Math.rint(v).toLong()", "Rounding.HALF_EVEN -> Math.round(v)"),
    Mutant("kotlin-rule-max-size-shorter-kept", f"{KT}/Preprocessor.kt.j2", "if (side == SizeSide.SHORTER) newNamed", "if (side == SizeSide.HEIGHT) newNamed"),
    Mutant("kotlin-pad-left-rounds-up", f"{KT}/Preprocessor.kt.j2", "val left = if (center) (width - w) / 2 else 0", "val left = if (center) (width - w + 1) / 2 else 0"),
    # ---- Swift: a few per op family (each mutant is one more compile of the core) ----
    Mutant("swift-nearest-round", f"{SW}/Resample.swift.j2", "out[i] = Swift.min(JVM.toInt(x.rounded(.down)), nIn - 1)", "out[i] = Swift.min(JVM.toInt(x.rounded()), nIn - 1)"),
    Mutant("swift-bilinear-weight-float32", f"{SW}/Resample.swift.j2", "taps.w0[i] = Float(1.0 - a)", "taps.w0[i] = 1.0 - Float(a)"),
    Mutant("swift-pillow-support-not-scaled", f"{SW}/Resample.swift.j2", "let ss = 1.0 / filterscale", "let ss = 1.0 / scale"),
    Mutant("swift-crop-half-even-rounds-odd", f"{SW}/Preprocessor.swift.j2", "excess % 2 == 1 && half % 2 == 1 ? half + 1", "excess % 2 == 1 && half % 2 == 0 ? half + 1"),
    Mutant("swift-area-drops-partial-first-cell", f"{SW}/Resample.swift.j2", "if Double(s1) - f1 > 1e-3 {", "if Double(s1) - f1 > 0.5 {"),
    Mutant("swift-opencv-u8-y-weights-clamped", f"{SW}/Resample.swift.j2", "opencvTable(h, outH, clampWeights: false)", "opencvTable(h, outH, clampWeights: true)"),
    Mutant("swift-half-scale", f"{SW}/Cast.swift.j2", "Float(bitPattern: 0x0880_0000)", "Float(bitPattern: 0x0800_0000)"),
    Mutant("swift-topk-ties-higher-index-first", f"{SW}/Postprocess.swift.j2", "            return a < b\n        }", "            return a > b\n        }"),
    Mutant("swift-normalize-reciprocal", f"{SW}/Preprocessor.swift.j2", "(v[o + c] * scale - m[c]) / d[c]", "(v[o + c] * scale - m[c]) * (1.0 / d[c])"),
    Mutant("swift-yuv-chroma-row-rounded-up", f"{SW}/Frames.swift.j2", "let at = (sy >> 1) * cRow", "let at = ((sy + 1) >> 1) * cRow"),
    Mutant("swift-rotate-90-counterclockwise", f"{SW}/Frames.swift.j2", "case 90: return (uy, image.height - 1 - ux)", "case 90: return (image.width - 1 - uy, ux)"),
    Mutant("swift-yuv-video-no-rounding", f"{SW}/Frames.swift.j2", " * 1220542 + (1 << 19)", " * 1220542"),
    Mutant("swift-rule-scale-first-named-exact", f"{SW}/Preprocessor.swift.j2", "newNamed = Self.round(n * scale, rounding)", "newNamed = target"),
    Mutant("swift-pad-top-rounds-up", f"{SW}/Preprocessor.swift.j2", "let top = center ? (height - h) / 2 : 0", "let top = center ? (height - h + 1) / 2 : 0"),
    Mutant("swift-yuv-full-table-truncates", f"{SW}/Frames.swift.j2", "Int(c * 64.0 * Double(i - 128) + 0.5)", "Int(c * 64.0 * Double(i - 128))"),
]


# ---- Kotlin app logic: killed by tests/kotlin/AppLogicCheck.kt (kotlin/app_logic.py), not by the op cases ----
APP_MUTANTS = [
    Mutant("kt-app-fail-fallback-goes-on", f"{KT}/Acceleration.kt.j2", "if (options.fallback == Fallback.FAIL) {", "if (false) {"),
    Mutant("kt-app-dropped-frame-kept", f"{KT}/FrameGate.kt.j2", "droppedFrames.incrementAndGet()\n            release(frame)", "droppedFrames.incrementAndGet()"),
    Mutant("kt-app-close-does-not-wait", f"{KT}/Engine.kt.j2", "val lock = lifecycle.readLock()", "val lock = java.util.concurrent.locks.ReentrantLock()"),
]


def mutated_templates(mutant: Mutant, root: Path) -> Path:
    """A copy of the templates with `mutant` applied, under `root`."""
    original = (TEMPLATES_DIR / mutant.file).read_text(encoding="utf-8")
    if original.count(mutant.find) != 1:
        raise ValueError(f"mutant {mutant.id}: {mutant.find!r} occurs {original.count(mutant.find)} times in {mutant.file} (must be once; update the mutant)")
    templates = root / mutant.id
    shutil.copytree(TEMPLATES_DIR, templates)
    (templates / mutant.file).write_text(original.replace(mutant.find, mutant.replace), encoding="utf-8")
    return templates


@dataclass
class Outcome:
    mutant: Mutant
    killed: bool
    how: str


class Harness:
    """Builds each mutant's program in `work` and runs the op cases through it."""

    def __init__(self, work: Path):
        self.work = work
        self.pre: list[PreCase] = pre_cases()
        self.post: list[PostCase] = post_cases()
        from cpp import reference  # the transcription of docs/processing.md (tests/cpp/reference.py)

        with np.errstate(over="ignore"):
            self.exact = {c.id: reference.preprocess(c.rgb, c.input_color, c.steps) for c in self.pre}
        self.inputs = work / "inputs"
        programs.write_inputs(self.inputs, self.pre, self.post)

    def _outputs(self, name: str) -> Path:
        out = self.work / "out" / name
        shutil.copytree(self.inputs, out)
        return out

    def _judge(self, proc: subprocess.CompletedProcess, out: Path) -> tuple[bool, str]:
        problems = self.check(out)
        if problems:
            return True, problems[0]
        if proc.returncode != 0:
            return True, f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}"
        return False, "every case passed"

    def baseline_problems(self, language: str, failed: bool, how: str) -> list[str]:
        return [f"{language}: {how}"] if failed else []

    def check(self, out: Path) -> list[str]:
        return programs.check_outputs(out, self.pre, self.post, self.exact)

    # ---- C++: one small program per mutant; unchanged object files are reused ----
    def run_cpp(self, templates: Path, name: str) -> tuple[bool, str]:
        try:
            exe = programs.build_cpp(templates, self.work / "cpp" / name, self.pre, self.post, programs.object_cache())
        except programs.CompileError as exc:
            return True, f"does not compile: {str(exc).splitlines()[0]}"
        out = self._outputs(name)
        try:
            proc = programs.run_cpp(exe, out)
        except subprocess.TimeoutExpired:
            return True, "timed out"
        return self._judge(proc, out)

    # ---- Kotlin: every mutant's core in its own package, KOTLIN_BATCH packages per kotlinc run ----
    def run_kotlin(self, named: dict[str, Path]) -> dict[str, tuple[bool, str]]:
        names = list(named)
        results = {}
        for start in range(0, len(names), KOTLIN_BATCH):
            batch = names[start : start + KOTLIN_BATCH]
            sources = []
            for name in batch:
                sources += programs.render_kotlin(named[name], self.work / "kotlin" / name, name, self.pre, self.post)
            jar = self.work / f"kotlin-{start}.jar"
            programs.compile_kotlin(sources, jar)  # curated mutants compile; a failure is the harness's
            for name in batch:
                out = self._outputs(name)
                try:
                    proc = programs.run_kotlin(jar, name, out)
                except subprocess.TimeoutExpired:
                    results[name] = (True, "timed out")
                    continue
                results[name] = self._judge(proc, out)
        return results

    # ---- Swift: the unmutated core and every mutant's, one executable target each, one swift build ----
    def run_swift(self, named: dict[str, Path], package_name: str) -> dict[str, tuple[bool, str]]:
        from edgesdk import hosttest_swift

        swift = hosttest_swift.Swift(self.work)
        package = programs.swift_package(named, self.work / package_name, self.pre, self.post)
        programs.build_swift(swift, package)  # curated mutants compile; a failure is the harness's
        results = {}
        for name in named:
            out = self._outputs(f"swift-{name}")  # the Kotlin programs' output folders have the same names
            try:
                proc = programs.run_swift(swift, package, name, out)
            except subprocess.TimeoutExpired:
                results[name] = (True, "timed out")
                continue
            results[name] = self._judge(proc, out)
        return results


def kotlin_name(index: int) -> str:
    return f"opcheck-mutant-{index}"


def run_cpp(harness: Harness, mutants: list[Mutant], jobs: int = 2) -> tuple[list[str], list[Outcome]]:
    """(problems of the unmutated C++, one outcome per mutant). The unmutated program must pass,
    or no mutant result means anything."""
    killed, how = harness.run_cpp(TEMPLATES_DIR, "baseline")
    root = harness.work / "templates"

    def one(m: Mutant) -> Outcome:
        return Outcome(m, *harness.run_cpp(mutated_templates(m, root), m.id))

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        outcomes = list(pool.map(one, mutants))
    return harness.baseline_problems("C++", killed, how), outcomes


def run_kotlin(harness: Harness, mutants: list[Mutant]) -> tuple[list[str], list[Outcome]]:
    """The same for Kotlin: the unmutated core and every mutant's in one kotlinc run."""
    root = harness.work / "templates"
    named = {"opcheck-baseline": TEMPLATES_DIR}
    named.update({kotlin_name(i): mutated_templates(m, root) for i, m in enumerate(mutants)})
    results = harness.run_kotlin(named)
    return harness.baseline_problems("Kotlin", *results["opcheck-baseline"]), [Outcome(m, *results[kotlin_name(i)]) for i, m in enumerate(mutants)]


def run_swift(harness: Harness, mutants: list[Mutant], baseline: bool = True) -> tuple[list[str], list[Outcome]]:
    """The same for Swift: the unmutated core (unless `baseline` is False: a Swift build of the
    core takes half a minute here, so the baseline can run without the mutants) and every
    mutant's, built by one swift build."""
    root = harness.work / "templates"
    named = {"opcheck-baseline": TEMPLATES_DIR} if baseline else {}
    named.update({kotlin_name(i): mutated_templates(m, root) for i, m in enumerate(mutants)})
    results = harness.run_swift(named, "swift-baseline" if baseline and not mutants else "swift-mutants")
    problems = harness.baseline_problems("Swift", *results["opcheck-baseline"]) if baseline else []
    return problems, [Outcome(m, *results[kotlin_name(i)]) for i, m in enumerate(mutants)]


def run_kotlin_app(work: Path, mutants: list[Mutant]) -> tuple[list[str], list[Outcome]]:
    """The unmutated core and every app-logic mutant's, each with AppLogicCheck.kt: a mutant is
    killed when a check fails. The unmutated core is the one tests/kotlin checks (its jar is cached)."""
    # tests/kotlin's modules import each other by name, as pytest runs them.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kotlin"))
    from app_logic import run_checks

    root = work / "templates"
    named = {"app-logic": TEMPLATES_DIR}
    named.update({f"opcheck-app-{i}": mutated_templates(m, root) for i, m in enumerate(mutants)})
    try:
        runs = run_checks(named, work / "app")
    except Exception as exc:  # ToolchainError: the compiler's own message
        return [f"Kotlin app logic: does not compile: {exc}"], []

    def verdict(proc: subprocess.CompletedProcess) -> tuple[bool, str]:
        failed = [line for line in proc.stdout.splitlines() if line.startswith("FAIL ")]
        if failed or proc.returncode != 0:
            return True, (failed[0] if failed else f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
        return False, "every check passed"

    baseline = verdict(runs["app-logic"])
    return [f"Kotlin app logic: {baseline[1]}"] if baseline[0] else [], [Outcome(m, *verdict(runs[f"opcheck-app-{i}"])) for i, m in enumerate(mutants)]


def of_language(language: str) -> list[Mutant]:
    return [m for m in MUTANTS if m.language == language]


def report(outcomes: list[Outcome]) -> str:
    lines = []
    for language in ("cpp", "kotlin", "swift"):
        mine = [o for o in outcomes if o.mutant.language == language]
        if not mine:
            continue
        killed = sum(o.killed for o in mine)
        lines.append(f"{language}: {killed}/{len(mine)} template mutants killed ({100 * killed / len(mine):.0f}%)")
        lines += [f"  {'killed  ' if o.killed else 'SURVIVED'} {o.mutant.id}: {o.how}" for o in mine]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    languages = set(argv) or {"cpp", "kotlin", "swift"}
    started = time.monotonic()
    baseline: list[str] = []
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="edgesdk-mutants-") as tmp:
        harness = Harness(Path(tmp))
        for language, runner in (("cpp", run_cpp), ("kotlin", run_kotlin), ("swift", run_swift)):
            if language in languages:
                problems, mine = runner(harness, of_language(language))
                baseline += problems
                outcomes += mine
        if "kotlin" in languages:
            problems, mine = run_kotlin_app(Path(tmp), APP_MUTANTS)
            baseline += problems
            outcomes += mine
    if baseline:
        print("the unmutated templates fail the op cases:\n" + "\n".join(baseline))
        return 1
    print(report(outcomes))
    print(f"{time.monotonic() - started:.0f} s")
    return 0 if all(o.killed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
