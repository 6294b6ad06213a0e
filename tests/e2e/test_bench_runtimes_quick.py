"""`benchmarks/bench_runtimes.py --quick` end to end: it builds the example for every x86/arm C++
runtime and precision, compiles and times each SDK and runs the arm bundles under qemu-aarch64, so
it takes minutes and stays out of the default run: select it with `-m bench`."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from toolchains import need

from edgesdk import hosttest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_runtimes as br

pytestmark = [pytest.mark.bench, pytest.mark.slow, pytest.mark.cpp, pytest.mark.onnxruntime]


@pytest.fixture(autouse=True)
def _selected(request):
    if "bench" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("builds, compiles and times a dozen bundles (minutes): select it with -m bench")


def test_quick_run_measures_every_runtime_and_precision_and_rewrites_only_the_block(tmp_path):
    need(hosttest.toolchain_problem())
    readme = tmp_path / "README.md"
    before, after = "# Project\n\nabove\n\n", "\n## Below\nkept  \n"
    readme.write_text(f"{before}{br.README_BEGIN}\nold\n{br.README_END}{after}")
    out = tmp_path / "bench.json"
    assert br.main(["--quick", "--runs", "3", "--readme", str(readme), "--json", str(out)]) == 0

    text = readme.read_text()
    assert text.startswith(before + br.README_BEGIN + "\nMeasured ") and text.endswith(br.README_END + after)
    assert "\nold\n" not in text
    report = json.loads(out.read_text())
    rows = {(r["runtime"], r["precision"]): r for r in report["rows"]}
    for runtime, _, problem in br.host_runtimes():
        if problem:
            assert rows[(runtime, "all")]["status"] == "not run" and rows[(runtime, "all")]["reason"] == problem
            continue
        for precision in br.PRECISIONS:
            row = rows[(runtime, precision)]
            refused = br.mode_problem(runtime, precision)
            if refused:
                assert (row["status"], row["reason"]) == ("not supported", refused)
                continue
            assert row["status"] == "ok", row
            assert 0 < row["preprocess_ms"] < row["e2e_ms"] and 0 < row["infer_ms"] < row["e2e_ms"], row
            assert row["bare_session_ms"] > 0 and row["eager_ms"] > 0 and row["floor_ms"] > 0
            assert all(v > 0 for v in row["ratios"].values()), row["ratios"]
            assert f"| example | {runtime} (" in text
    assert rows[("onnxruntime", "fp32")]["status"] == "ok"  # the default runtime runs everywhere the tests do
    qemu = {(q["runtime"], q["precision"]): q["result"] for q in report["qemu"]}
    assert {runtime for runtime, _ in qemu} == set(br.TARGETS[br.QEMU_TARGET].runtimes)
    for (runtime, precision), result in qemu.items():
        assert re.fullmatch(r"passed \(\d+ golden cases\)|(failed|not run|not supported): .+", result), (runtime, precision, result)
        # Float bundles are exact on aarch64; a quantized one is recorded as it comes out (the table is the report).
        if precision == "fp32":
            assert result.startswith(("passed", "not run")), (runtime, result)
