"""Fuzzed model names and labels rendered through the real SDK templates, compiled together into
one program (so names of different SDKs must not clash either) and round-tripped exactly."""

from __future__ import annotations

import os
import subprocess

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from toolchains import need

from edgesdk.naming import snake
from edgesdk.render import render_sdk

from .conftest import ORT_ROOT, context, cpp_toolchain_missing

pytestmark = pytest.mark.cpp

# Names that break naive generators: C++ keywords, libc globals, macros, the std namespace.
FIXED_NAMES = ["class", "time", "log", "index", "std", "linux", "errno", "edgesdk"]
LABEL_TEXT = st.one_of(
    st.text(min_size=1, max_size=24).filter(lambda s: s.strip() and "\n" not in s and "\r" not in s),
    st.sampled_from(['"quoted"', "back\\slash", "??=trigraph", "\\x41BC", "tab\there", "naïve café", "中文标签", "😀 emoji", "$x ${y}", "class"]),
)
MANIFEST_NAME = st.from_regex(r"[a-z][a-z0-9-]{0,40}", fullmatch=True)
PRE = [{"op": "resize", "size": [8, 8], "interpolation": "bilinear", "keep_ratio": False}, {"op": "layout", "layout": "nchw"}]
POST = [{"op": "softmax", "axis": -1}, {"op": "topk", "k": 3}]


def _main_cpp(sdks: list[tuple[str, dict]]) -> str:
    includes = "".join(f'#include "{ctx["ident"]["snake"]}/{ctx["ident"]["snake"]}.hpp"\n' for _, ctx in sdks)
    calls = "".join(f"  dump({ctx['cpp_namespace']}::kModelName, {ctx['cpp_namespace']}::labels());\n" for _, ctx in sdks)
    return (
        "#include <cstdio>\n#include <string>\n#include <vector>\n"
        + includes
        + 'static void hex(const std::string& s) { for (unsigned char c : s) std::printf("%02x", c); std::printf("\\n"); }\n'
        + "static void dump(const char* name, const std::vector<std::string>& labels) {\n"
        + '  hex(name); std::printf("%zu\\n", labels.size()); for (const auto& l : labels) hex(l);\n}\n'
        + "int main() {\n"
        + calls
        + "  return 0;\n}\n"
    )


def _build_and_run(tmp, sdks: list[tuple[str, dict]]) -> list[str]:
    root = tmp / "fuzz"
    lines = ["cmake_minimum_required(VERSION 3.18)", "project(fuzz_glue LANGUAGES CXX)"]
    libs = []
    for _name, ctx in sdks:
        sdk_dir = root / "sdks" / ctx["ident"]["snake"]
        render_sdk(sdk_dir, "cpp", ctx["runtime"], ctx)
        lines.append(f'add_subdirectory("{sdk_dir}" {ctx["ident"]["snake"]})')
        libs.append(f"{ctx['ident']['snake']}_sdk")
    lines += ["add_executable(fuzz main.cpp)", f"target_link_libraries(fuzz PRIVATE {' '.join(libs)})"]
    (root / "CMakeLists.txt").write_text("\n".join(lines) + "\n")
    (root / "main.cpp").write_text(_main_cpp(sdks), encoding="utf-8")
    env = dict(os.environ, ONNXRUNTIME_ROOT=str(ORT_ROOT))
    for cmd in (["cmake", "-S", ".", "-B", "build", "-DCMAKE_BUILD_TYPE=Debug", "-DCMAKE_CXX_FLAGS=-Werror -O0"], ["cmake", "--build", "build", "-j2"]):
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    env["LD_LIBRARY_PATH"] = str(ORT_ROOT / "lib")
    run = subprocess.run([str(root / "build" / "fuzz")], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout.splitlines()


@settings(max_examples=1, deadline=None, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck))
@given(
    names=st.lists(MANIFEST_NAME, min_size=3, max_size=3, unique_by=snake),
    labels=st.lists(st.lists(LABEL_TEXT, min_size=1, max_size=6), min_size=len(FIXED_NAMES) + 3, max_size=len(FIXED_NAMES) + 3),
)
def test_fuzzed_names_and_labels_compile_and_round_trip(names, labels, tmp_path_factory):
    need(cpp_toolchain_missing())
    chosen = FIXED_NAMES + [n for n in names if snake(n) not in {snake(f) for f in FIXED_NAMES}]
    sdks = []
    for name, label_list in zip(chosen, labels):
        ctx = context(
            name,
            b"model",
            task="classification",
            inputs=[{"name": "x", "shape": [1, 3, 8, 8], "dtype": "float32"}],
            outputs=[{"name": "y", "shape": [1, len(label_list)], "dtype": "float32"}],
            input_color="rgb",
            pre=PRE,
            post=POST,
            labels=label_list,
        )
        sdks.append((name, ctx))
    out = _build_and_run(tmp_path_factory.mktemp("fuzz"), sdks)
    expected = []
    for name, ctx in sdks:
        expected += [name.encode().hex(), str(len(ctx["postprocess"]["labels"]))]
        expected += [label.encode("utf-8").hex() for label in ctx["postprocess"]["labels"]]
    assert out == expected, f"names {chosen}"
