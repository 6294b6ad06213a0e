"""The generated C++ and Kotlin pre-processing, timed against the memory floor and an earlier version
of the same templates, in one run (the machine is shared: read the ratios).

For a 512x512 RGB uint8 photo -> 224x224 NCHW float32, three pipelines: a bilinear resize to
224x224; the example's resize to 256 (keep_ratio) + center_crop 224; a precision uint8 resize to
224x224; each then normalize + layout nchw. Per pipeline, medians over interleaved rounds of:
- `floor`: one memcpy of (input bytes + output bytes) / 2, i.e. as many bytes read and written
  as the pipeline must read (the photo) and write (the tensor);
- `new`: the templates of this checkout; `old`: those of git revision --baseline (default: the
  commit before the fused row loops), rendered in another namespace. A side whose templates
  can (Preprocessor::finish_into, i.e. Model::preprocess_into) writes into one tensor kept from
  round to round, as a camera loop does; the others, and every side with --fresh, fill a fresh
  tensor per call (preprocess()).
Both are compiled as the SDK's CMake compiles them (-O3 -DNDEBUG -ffp-contract=off) and their
tensors are compared byte for byte (they must be identical: the contract fixes every operation).
The Kotlin side (skipped with --no-kotlin or without kotlinc) does the same on the JVM, new and old
Kotlin core in one jar, floor = System.arraycopy; its tensors must equal the C++ ones byte for byte,
and `kt/c++` is its time over the C++ `new` time of the same run.

Usage: python benchmarks/bench_preprocess.py [--rounds N] [--baseline REV] [--json FILE] [--no-kotlin] [--fresh]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from jinja2 import FileSystemLoader

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from opcheck import programs  # noqa: E402

from edgesdk import hosttest_kotlin  # noqa: E402
from edgesdk.package_data import TEMPLATES_DIR  # noqa: E402
from edgesdk.render import make_environment  # noqa: E402

BASELINE = "78d0957"  # the templates before the fused row loops
CXX = ["g++", "-std=c++17", "-O3", "-DNDEBUG", "-ffp-contract=off", "-w"]
SIZE = 512
NORMALIZE = {"op": "normalize", "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "scale": 1.0}
NCHW = {"op": "layout", "layout": "nchw"}
PIPELINES = {
    "resize 224": [{"op": "resize", "size": [224, 224], "interpolation": "bilinear", "keep_ratio": False}, NORMALIZE, NCHW],
    "resize 256 + center_crop 224": [
        {"op": "resize", "size": [256, 256], "interpolation": "bilinear", "keep_ratio": True},
        {"op": "center_crop", "size": [224, 224]},
        NORMALIZE,
        NCHW,
    ],
    "resize 224 precision uint8": [{"op": "resize", "size": [224, 224], "interpolation": "bilinear", "keep_ratio": False, "precision": "uint8"}, NORMALIZE, NCHW],
}

# One translation unit per side: the pipelines as the SDK's step macros write them. With `into`
# (templates that have Preprocessor::finish_into, what Model::preprocess_into runs), the tensor
# is written into `out`'s buffer, kept from call to call as a camera loop keeps its tensor; else
# each call fills a fresh tensor (preprocess()) whose bytes replace `out`'s.
UNIT = """#include <cstdint>
#include <utility>
#include <vector>
#include "preprocess.hpp"
{% import "cpp/_steps.j2" as steps %}
namespace {{ cpp_namespace }} {
{% for case in pre_cases %}
void pipeline_{{ loop.index0 }}(const uint8_t* pixels, Tensor& out) {
  Image image{pixels, {{ case.width }}, {{ case.height }}, {{ case.width * 3 }}, PixelFormat::RGB8};
  detail::Preprocessor p(image, detail::ChannelOrder::RGB, Limits{});
{% for step in case.steps %}
{{ step_code(steps, "pre", loop.index0, step) -}}
{% endfor %}
{% if into %}
  p.finish_into("input", out);
{% else %}
  out = p.finish("input");
{% endif %}
}
{% endfor %}
}  // namespace {{ cpp_namespace }}
// The side's entry point: pipeline `index` on `pixels`, its tensor's bytes into `out`.
void run_{{ side }}(int index, const uint8_t* pixels, std::vector<uint8_t>& out) {
  {{ cpp_namespace }}::Tensor tensor;
  tensor.bytes.swap(out);
  switch (index) {
{% for case in pre_cases %}
    case {{ loop.index0 }}: {{ cpp_namespace }}::pipeline_{{ loop.index0 }}(pixels, tensor); break;
{% endfor %}
  }
  out.swap(tensor.bytes);
}
"""

MAIN = r"""#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <string>
#include <vector>

void run_old(int index, const uint8_t* pixels, std::vector<uint8_t>& out);
void run_new(int index, const uint8_t* pixels, std::vector<uint8_t>& out);

namespace {
using Clock = std::chrono::steady_clock;

template <class F> double time_ms(F&& f) {
  const auto start = Clock::now();
  f();
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
}  // namespace

// Usage: bench ROUNDS HAS_OLD [ONLY]; prints one JSON line per pipeline (or pipeline ONLY's, for a profiler).
int main(int argc, char** argv) {
  const int rounds = std::atoi(argv[1]), has_old = std::atoi(argv[2]), only = argc > 3 ? std::atoi(argv[3]) : -1;
  std::vector<uint8_t> pixels(SIZE * SIZE * 3);
  uint32_t state = 12345;  // a photo-like gradient plus noise, deterministic
  for (int y = 0; y < SIZE; ++y) {
    for (int x = 0; x < SIZE; ++x) {
      for (int c = 0; c < 3; ++c) {
        state = state * 1664525u + 1013904223u;
        pixels[(y * SIZE + x) * 3 + c] = static_cast<uint8_t>((x + 2 * y + 60 * c) / 6 + (state >> 28));
      }
    }
  }
  const char* keep = std::getenv("BENCH_TENSORS");  // a folder: each pipeline's new tensor goes there
  for (int index = 0; index < PIPELINES; ++index) {
    if (only >= 0 && index != only) continue;
    std::vector<uint8_t> got_new, got_old;
    run_new(index, pixels.data(), got_new);
    if (has_old) run_old(index, pixels.data(), got_old);
    if (keep) {
      const std::string path = std::string(keep) + "/cpp-" + std::to_string(index) + ".bin";
      if (FILE* f = std::fopen(path.c_str(), "wb")) {
        std::fwrite(got_new.data(), 1, got_new.size(), f);
        std::fclose(f);
      }
    }
    const std::size_t traffic = (pixels.size() + got_new.size()) / 2;
    std::vector<uint8_t> src(traffic, 1), dst(traffic);
    std::vector<double> t_new, t_old, t_floor;
    for (int r = 0; r < rounds; ++r) {
      t_floor.push_back(time_ms([&] { std::memcpy(dst.data(), src.data(), traffic); }));
      t_new.push_back(time_ms([&] { run_new(index, pixels.data(), got_new); }));
      if (has_old) t_old.push_back(time_ms([&] { run_old(index, pixels.data(), got_old); }));
      src[r % traffic] = static_cast<uint8_t>(dst[(r * 7) % traffic] + 1);  // keep the copy observable
    }
    std::printf("{\"index\": %d, \"floor_ms\": %.5f, \"new_ms\": %.5f, \"old_ms\": %.5f, \"identical\": %s, \"bytes\": %zu}\n", index,
                median(t_floor), median(t_new), has_old ? median(t_old) : 0.0, !has_old || got_old == got_new ? "true" : "false", traffic * 2);
  }
  return 0;
}
"""

# The Kotlin side: one object per core (package ai.edgesdk.bench_<side>.core), the pipelines as the
# generated Pipeline writes them (the step macros of kotlin/_steps.j2).
KT_UNIT = """{% import "kotlin/_steps.j2" as steps %}
package ai.edgesdk.{{ name | kotlin_package }}.core

object BenchPipelines {
    /** Pipeline [index] on a {{ size }}x{{ size }} RGB photo: its tensor's bytes. */
    fun run(index: Int, pixels: ByteArray): ByteArray = when (index) {
{% for case in pre_cases %}
        {{ loop.index0 }} -> pipeline{{ loop.index0 }}(pixels)
{% endfor %}
        else -> throw IllegalArgumentException("no pipeline $index")
    }
{% for case in pre_cases %}

    private fun pipeline{{ loop.index0 }}(pixels: ByteArray): ByteArray {
        val p = Preprocessor(PixelImage.fromBytes(pixels, {{ case.width }}, {{ case.height }}, ColorOrder.RGB), ColorOrder.RGB)
{% for step in case.steps %}
{{ step_code(steps, "pre", loop.index0, step) -}}
{% endfor %}
        return p.finish("input").bytes
    }
{% endfor %}
}
"""

# The Kotlin timing loop: the C++ MAIN's photo, rounds and JSON lines, after a JIT warm-up.
KT_MAIN = """package ai.edgesdk.bench

import java.io.File

private fun median(v: MutableList<Double>): Double {
    v.sort()
    return v[v.size / 2]
}

private inline fun timeMs(body: () -> Unit): Double {
    val start = System.nanoTime()
    body()
    return (System.nanoTime() - start) / 1e6
}

// Usage: BenchKt ROUNDS [TENSORS]: one JSON line per pipeline; each new tensor into TENSORS/kotlin-<index>.bin.
fun main(args: Array<String>) {
    val rounds = args[0].toInt()
    val keep = args.getOrNull(1)
    val size = %(size)d
    val pixels = ByteArray(size * size * 3)
    var state = 12345  // the C++ side's photo: uint32 arithmetic wraps the same in an Int
    for (y in 0 until size) for (x in 0 until size) for (c in 0 until 3) {
        state = state * 1664525 + 1013904223
        pixels[(y * size + x) * 3 + c] = ((x + 2 * y + 60 * c) / 6 + (state ushr 28)).toByte()
    }
    for (index in 0 until %(pipelines)d) {
        val runNew = { ai.edgesdk.bench_new.core.BenchPipelines.run(index, pixels) }
        val runOld: (() -> ByteArray)? = %(old)s
        var gotNew = runNew()
        var gotOld = runOld?.invoke()
        keep?.let { File(it, "kotlin-$index.bin").writeBytes(gotNew) }
        repeat(%(warmup)d) {  // the JIT compiles the hot loops before the timed rounds
            gotNew = runNew()
            if (runOld != null) gotOld = runOld()
        }
        val traffic = (pixels.size + gotNew.size) / 2
        val src = ByteArray(traffic) { 1 }
        val dst = ByteArray(traffic)
        val tFloor = mutableListOf<Double>()
        val tNew = mutableListOf<Double>()
        val tOld = mutableListOf<Double>()
        for (r in 0 until rounds) {
            tFloor.add(timeMs { System.arraycopy(src, 0, dst, 0, traffic) })
            tNew.add(timeMs { gotNew = runNew() })
            if (runOld != null) tOld.add(timeMs { gotOld = runOld() })
            src[r %% traffic] = (dst[(r * 7) %% traffic] + 1).toByte()  // keep the copy observable
        }
        val identical = gotOld == null || gotOld.contentEquals(gotNew)
        val oldMs = if (runOld != null) median(tOld) else 0.0
        println("{\\"index\\": $index, \\"floor_ms\\": ${median(tFloor)}, \\"new_ms\\": ${median(tNew)}, \\"old_ms\\": $oldMs, \\"identical\\": $identical, \\"bytes\\": ${traffic * 2}}")
    }
}
"""
KT_WARMUP = 200


def baseline_templates(rev: str, into: Path) -> Path | None:
    """edgesdk/templates at git revision `rev` of this checkout, or None (no git, unknown rev)."""
    try:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "edgesdk/templates"], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"no baseline: git archive {rev} failed ({exc})", file=sys.stderr)
        return None
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "edgesdk" / "templates"


def has_into(templates: Path) -> bool:
    """Whether these templates' Preprocessor can write into a kept tensor (finish_into)."""
    return "finish_into" in (templates / "cpp" / "src" / "preprocess.hpp.j2").read_text(encoding="utf-8")


def build(work: Path, sides: dict[str, Path], fresh: bool = False) -> Path:
    cases = [SimpleNamespace(id=f"p{i}", pixels=np.zeros((SIZE, SIZE, 3), np.uint8), input_color="rgb", steps=steps, frame=None) for i, steps in enumerate(PIPELINES.values())]
    objects = []
    for side, templates in sides.items():
        ctx = programs.context(f"bench-{side}", cases, [])
        src = work / side
        files = programs.render(templates, programs.CPP_TEMPLATES, ctx, src, "cpp/")
        env = make_environment()
        env.loader = FileSystemLoader(str(templates))
        unit = src / "bench_unit.cpp"
        into = has_into(templates) and not fresh
        unit.write_text(env.from_string(UNIT).render(side=side, into=into, **ctx), encoding="utf-8")
        headers = b"".join(f.read_bytes() for f in sorted(files) if f.suffix == ".hpp")
        for cpp in [*(f for f in files if f.suffix == ".cpp" and f.name != "driver.cpp"), unit]:
            # Objects are named by their source text, so a kept --work folder compiles only what changed.
            key = hashlib.sha256(" ".join(CXX).encode() + cpp.read_bytes() + headers).hexdigest()[:16]
            obj = work / f"{side}-{cpp.stem}-{key}.o"
            if not obj.is_file():
                subprocess.run([*CXX, "-I", str(src / "include"), "-I", str(src / "src"), "-c", str(cpp), "-o", str(obj)], check=True)
            objects.append(obj)
    main = work / "main.cpp"
    stub = "" if "old" in sides else "void run_old(int, const uint8_t*, std::vector<uint8_t>&) {}\n"
    main.write_text(f"#define SIZE {SIZE}\n#define PIPELINES {len(PIPELINES)}\n" + MAIN.replace("namespace {\nusing Clock", stub + "namespace {\nusing Clock", 1), encoding="utf-8")
    exe = work / "bench"
    subprocess.run([*CXX, str(main), *map(str, objects), "-o", str(exe)], check=True)
    return exe


def build_kotlin(work: Path, sides: dict[str, Path]) -> Path:
    """The Kotlin core of each side (package ai.edgesdk.bench_<side>.core), its pipelines and the
    timing loop, in one jar."""
    cases = [SimpleNamespace(id=f"p{i}", pixels=np.zeros((SIZE, SIZE, 3), np.uint8), input_color="rgb", steps=steps, frame=None) for i, steps in enumerate(PIPELINES.values())]
    sources = []
    for side, templates in sides.items():
        ctx = programs.context(f"bench-{side}", cases, [])
        src = work / "kotlin" / side
        files = programs.render(templates, programs.KOTLIN_TEMPLATES, ctx, src, programs.KOTLIN_CORE + "/")
        sources += files[:-1]  # not the op-check driver render() adds last
        env = make_environment()
        env.loader = FileSystemLoader(str(templates))
        unit = src / "BenchPipelines.kt"
        unit.write_text(env.from_string(KT_UNIT).render(size=SIZE, **ctx), encoding="utf-8")
        sources.append(unit)
    old = "{ ai.edgesdk.bench_old.core.BenchPipelines.run(index, pixels) }" if "old" in sides else "null"
    main = work / "kotlin" / "Bench.kt"
    main.write_text(KT_MAIN % {"size": SIZE, "pipelines": len(PIPELINES), "old": old, "warmup": KT_WARMUP}, encoding="utf-8")
    jar = work / "kotlin" / "bench.jar"
    hosttest_kotlin.compile_kotlin([*sources, main], jar)
    return jar


def report(title: str, rows: list[dict], old: bool, rounds: int, load: tuple[float, float, float], versus: list[dict] | None = None) -> None:
    """One table: per pipeline floor/new/old times and ratios (and the ratio to `versus`'s new time)."""
    print(f"{title}, {SIZE}x{SIZE} RGB uint8 -> 224x224 NCHW float32, 1 thread, median of {rounds} interleaved rounds; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    extra = f" {'kt/c++':>7}" if versus else ""
    print(f"{'pipeline':32} {'floor ms':>9} {'new ms':>8} {'old ms':>8} {'new/floor':>10} {'old/new':>8}{extra}  identical")
    for i, (name, row) in enumerate(zip(PIPELINES, rows)):
        old_ms = row["old_ms"] if old else None
        ratio = f" {row['new_ms'] / versus[i]['new_ms']:7.2f}" if versus else ""
        print(
            f"{name:32} {row['floor_ms']:9.4f} {row['new_ms']:8.4f} {old_ms if old_ms is not None else float('nan'):8.4f} "
            f"{row['new_ms'] / row['floor_ms']:10.2f} {(old_ms / row['new_ms']) if old_ms else float('nan'):8.2f}{ratio}  {row['identical'] if old or versus else 'n/a'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--baseline", default=BASELINE, help="git revision whose templates are the `old` side")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--work", type=Path, help="build here and keep it (objects are reused by content); default: a temporary folder")
    parser.add_argument("--no-kotlin", action="store_true", help="time the C++ side only")
    parser.add_argument("--fresh", action="store_true", help="every call fills a fresh tensor (preprocess()), not a kept one (preprocess_into())")
    args = parser.parse_args()
    kotlin_problem = "--no-kotlin" if args.no_kotlin else hosttest_kotlin.toolchain_problem()
    with tempfile.TemporaryDirectory(prefix="edgesdk-bench-pre-") as tmp_name:
        work = args.work or Path(tmp_name)
        work.mkdir(parents=True, exist_ok=True)
        tensors = work / "tensors"
        tensors.mkdir(exist_ok=True)
        sides = {"new": TEMPLATES_DIR}
        old = baseline_templates(args.baseline, work / "baseline" / args.baseline)
        if old is not None:
            sides["old"] = old
        exe = build(work, sides, args.fresh)
        jar = None if kotlin_problem else build_kotlin(work, sides)
        proc = subprocess.run([str(exe), str(args.rounds), "1" if old else "0"], capture_output=True, text=True, check=True, env={**os.environ, "BENCH_TENSORS": str(tensors)})
        rows = [json.loads(line) for line in proc.stdout.splitlines()]
        kt_rows = []
        if jar is not None:
            kt = subprocess.run(["java", "-cp", str(jar), "ai.edgesdk.bench.BenchKt", str(args.rounds), str(tensors)], capture_output=True, text=True, check=True)
            kt_rows = [json.loads(line) for line in kt.stdout.splitlines()]
            for i, row in enumerate(kt_rows):
                # Kotlin must write the C++ tensor byte for byte: both follow the same contract.
                row["same_as_cpp"] = (tensors / f"kotlin-{i}.bin").read_bytes() == (tensors / f"cpp-{i}.bin").read_bytes()
                row["identical"] = row["identical"] and row["same_as_cpp"]
    load = os.getloadavg()
    report("C++ pre-processing", rows, bool(old), args.rounds, load)
    results = [{"language": "cpp", "pipeline": name, **row, "old_ms": row["old_ms"] if old else None, "baseline": args.baseline if old else None} for name, row in zip(PIPELINES, rows)]
    if kt_rows:
        print()
        report("Kotlin pre-processing (JVM)", kt_rows, bool(old), args.rounds, load, versus=rows)
        results += [
            {"language": "kotlin", "pipeline": name, **row, "old_ms": row["old_ms"] if old else None, "baseline": args.baseline if old else None, "kotlin_over_cpp": row["new_ms"] / c["new_ms"]}
            for name, row, c in zip(PIPELINES, kt_rows, rows)
        ]
    else:
        print(f"no Kotlin side: {kotlin_problem}")
    if args.json:
        args.json.write_text(json.dumps({"load_average": load, "rounds": args.rounds, "results": results}, indent=2))
    if not all(r["identical"] for r in results if r["baseline"] or r["language"] == "kotlin"):
        sys.exit("tensors differ: new vs baseline templates, or Kotlin vs C++ (identical = false above)")


if __name__ == "__main__":
    main()
