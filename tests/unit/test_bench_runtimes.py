"""benchmarks/bench_runtimes.py without timing anything: the README block it rewrites, the table it
renders, and which runtimes and modes it asks the backends for."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_runtimes as br

from edgesdk.errors import InputError

README = f"# Title\n\nintro\n\n{br.README_BEGIN}\nold table\n| a | b |\n{br.README_END}\n\n## After\ntext  \n"


def test_the_block_between_the_markers_is_replaced_and_nothing_else():
    out = br.replace_block(README, "new line 1\nnew line 2\n")
    assert out == f"# Title\n\nintro\n\n{br.README_BEGIN}\nnew line 1\nnew line 2\n{br.README_END}\n\n## After\ntext  \n"
    assert "old table" not in out
    # A second run with the same table changes nothing; with another, only the block.
    assert br.replace_block(out, "new line 1\nnew line 2") == out
    again = br.replace_block(out, "other")
    assert again.split(br.README_BEGIN)[0] == README.split(br.README_BEGIN)[0]
    assert again.split(br.README_END)[1] == README.split(br.README_END)[1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no markers at all\n", "found 0"),
        (README.replace(br.README_END, ""), "found 0"),
        (README + br.README_BEGIN + "\n", "found 2"),
        (f"{br.README_END}\nx\n{br.README_BEGIN}\n", "comes before"),
    ],
)
def test_a_readme_without_exactly_one_ordered_pair_of_markers_is_refused(text, message):
    with pytest.raises(InputError, match=message):
        br.replace_block(text, "table")


def _meta() -> dict:
    return {"date": "2026-01-01 00:00 UTC", "machine": "cpu", "threads": 1, "load_start": [3.0, 2.0, 1.0], "load_end": [4.0, 3.0, 2.0], "command": "python bench"}


def test_the_table_gives_the_ratios_and_one_cell_per_column_on_every_row():
    ok = br.Row("resnet18-like", "onnxruntime", "x86", "int8", preprocess_ms=0.5, infer_ms=12.0, e2e_ms=13.0, bare_session_ms=12.5, eager_ms=52.0, floor_ms=10.0, infer_cpu_ms=10.5, e2e_cpu_ms=11.0)
    refused = br.Row("example", "ncnn", "arm", "fp16", status="not supported", reason="quantization.mode: 'fp16' is not supported | for\nruntime 'ncnn'")
    qemu = [br.QemuRow("example", "ncnn", "int8", "passed (3 golden cases)")]
    block = br.render_block(_meta(), [ok, refused], qemu)
    lines = block.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| model | runtime (target)"))
    speed_rows = lines[header : header + 4]
    assert all(line.count("|") == 15 for line in speed_rows), speed_rows
    assert speed_rows[2] == "| resnet18-like | onnxruntime (x86) | int8 | 0.5 ms | 12.0 ms | 13.0 ms | 12.5 ms | 52.0 ms | 0.25 | 0.96 | 10.0 ms | 1.20 | 1.30 | 1.05, 1.10 |"
    assert speed_rows[3].startswith("| example | ncnn (arm) | fp16 | not supported: quantization.mode: 'fp16' is not supported / for runtime 'ncnn' |")
    assert "load average 3.00/2.00/1.00" in lines[0] and "`python bench`" in lines[0] and "loaded" in lines[0]
    assert "| example | ncnn (arm) | int8 | passed (3 golden cases) |" in lines


def test_ratios_are_none_where_a_baseline_is_missing():
    row = br.Row("example", "ncnn", "arm", "fp32", infer_ms=2.0, e2e_ms=3.0, bare_session_ms=1.0, eager_ms=6.0)
    assert row.ratios == {"e2e_vs_eager": 0.5, "infer_vs_bare_session": 2.0, "infer_vs_floor": None, "e2e_vs_floor": None, "infer_cpu_vs_floor": None, "e2e_cpu_vs_floor": None}


def test_runtimes_and_modes_come_from_the_targets_and_translators():
    found = br.host_runtimes()
    names = [runtime for runtime, _, _ in found]
    assert len(names) == len(set(names))  # ONNX Runtime is in x86 and arm: benched once, as x86
    assert ("onnxruntime", "x86") in [(r, t) for r, t, _ in found]
    assert {"openvino", "ncnn", "mnn"} <= set(names)
    assert br.mode_problem("onnxruntime", "fp32") is None
    assert br.mode_problem("onnxruntime", "int8") is None
    # ExecuTorch's translator has no fp16: the reason is the build's own error, naming what it has.
    assert "not supported for runtime 'executorch' (supported: int8-dynamic, int8)" in br.mode_problem("executorch", "fp16")


def _bench_report(roof: dict) -> dict:
    return {"cpp_sdk_ms": {"preprocess": 0.5, "infer": 10.0, "e2e": 11.0}, "cpp_sdk_cpu_ms": {"infer": 9.0, "e2e": 9.5}, "bare_session_ms": 10.0, "roofline": roof}


def test_the_floor_takes_the_peak_edgesdk_bench_just_measured_and_probes_only_without_it(monkeypatch):
    """The GEMM probes run once per bundle: inside `edgesdk bench`'s roofline, whose peak the row's
    floor reuses; only a bundle whose roofline was skipped has them run for its floor."""
    probed = []

    def machine_peak(int8: bool, threads: int):
        probed.append(int8)
        return br.roofline.Peak(500.0, "probe P", "onnxruntime", {"probe P": 500.0}, {})

    monkeypatch.setattr(br.roofline, "machine_peak", machine_peak)
    monkeypatch.setattr(br, "eager_ms", lambda module, shape, runs: 40.0)
    roof = {"precision": "int8", "peak_gops": 400.0, "peak_probe": "probe Q"}
    monkeypatch.setattr(br, "bench_bundle", lambda path, runs, threads: _bench_report(roof))
    row = br.Row("resnet18-like", "openvino", "x86", "int8")
    br.measure(row, Path("b"), None, (1, 3, 224, 224), 4_000_000_000, 5)
    assert probed == [] and row.floor_ms == 10.0 and row.floor_probe == "probe Q (400 GOP/s)"
    assert row.ratios["infer_vs_floor"] == 1.0 and row.ratios["e2e_cpu_vs_floor"] == 0.95 and row.ratios["infer_cpu_vs_floor"] == 0.9

    monkeypatch.setattr(br, "bench_bundle", lambda path, runs, threads: _bench_report({"skipped": "a .tflite model"}))
    row = br.Row("resnet18-like", "tflite", "x86", "int8")
    br.measure(row, Path("b"), None, (1, 3, 224, 224), 4_000_000_000, 5)
    assert probed == [True] and row.floor_ms == 8.0 and row.floor_probe == "probe P (500 GOP/s)"

    # A roofline at another precision than the row's is refused, not mixed into its floor.
    monkeypatch.setattr(br, "bench_bundle", lambda path, runs, threads: _bench_report({**roof, "precision": "float32"}))
    with pytest.raises(InputError, match="float32"):
        br.measure(br.Row("resnet18-like", "openvino", "x86", "int8"), Path("b"), None, (1, 3, 224, 224), 4_000_000_000, 5)
