"""Fuzz tests for edgesdk.naming: identifiers and literals must be valid and exact in C++, Kotlin
and Swift.

The compile tests render ONE source file per language holding a batch of fuzzed cases (names used
as namespace/class/function/variable names, labels as string literals, float32 literals), compile
and run it, and compare what the program prints with the Python originals byte for byte / bit for
bit. Hypothesis is used as the generator for the batch (no shrinking: the failing inputs are
printed instead), so one compile covers a few hundred examples.

Swift cannot be compiled on this machine without a 3 GB chroot, so the Swift tests decode the
literal syntax with an independent parser written from the Swift grammar and check identifiers
against the keyword list and the identifier grammar.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from toolchains import need

from edgesdk import naming, render

# Bounded, deadline-free settings, local to this module (tests/conftest.py belongs to others).
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
BATCH = settings(max_examples=160, deadline=None, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck))

# ---------------------------------------------------------------------------------- strategies

manifest_names = st.from_regex(r"[a-z][a-z0-9-]{0,63}", fullmatch=True)
wild_names = st.text(max_size=80)  # any unicode (no lone surrogates: st.text never makes them)
any_names = st.one_of(manifest_names, wild_names)

NASTY_TEXT = [
    "",
    '"',
    "\\",
    "'",
    "\\\\",
    '\\"',
    "$",
    "$x",
    "${x}",
    "\\$",
    "$$",
    "??=",
    "??/",
    "??(",
    "a??b",
    "\\x41",
    "\\x41BC",
    "\\u0041",
    "\\u{41}",
    "\\(x)",
    "\\0",
    "\\n",
    "\n",
    "\r\n",
    "\t",
    "\x00",
    "a\x00b",
    "\x00\x00",
    "\x01\x1f\x7f",
    "\x80\x9f",
    "é",
    "e\u0301",
    "😀",
    "👍🏽",
    "👨‍👩‍👧",
    "\U0010ffff",
    "\ufeff",
    "\ufffd",
    "\u2028\u2029",
    "שלום",
    "مرحبا",
    "\u202eevil\u202c",
    "\u200f",
    "\u200b",
    "中文标签",
    "\ud7ff\ue000",
    "class",
    "fun",
    "init",
    "namespace",
    "std",
    "main",
    "nil",
    "null",
    "self",
    "$0",
    "#if",
    "/*",
    "*/",
    "//",
    "\\u",
    "\\U0001F600",
    "x" * 3000,
    "é" * 2500,
]
NASTY_NAMES = [
    "class",
    "fun",
    "init",
    "namespace",
    "std",
    "std1",
    "main",
    "int",
    "string",
    "data",
    "image",
    "text",
    "view",
    "result",
    "error",
    "any",
    "unit",
    "object",
    "system",
    "float",
    "array",
    "type",
    "protocol",
    "self",
    "super",
    "linux",
    "unix",
    "errno",
    "assert",
    "stdin",
    "major",
    "minor",
    "min",
    "max",
    "interface",
    "small",
    "near",
    "eof",
    "null",
    "true",
    "e-o-f",
    "n-u-l-l",
    "time",
    "random",
    "index",
    "log",
    "exit",
    "abort",
    "signal",
    "int32-t",
    "size-t",
    "m-pi",
    "a-1b",
    "a1b",
    "1a",
    "m-1a",
    "a--b",
    "a-",
    "-",
    "",
    "---",
    "_",
    "__x__",
    "_Foo",
    "__init__",
    "模型",
    "café",
    "😀",
    "a" * 200,
    "flower-classifier",
    "resnet-50",
    "mobilenet-v2",
]

label_texts = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8"), max_size=12),
    st.text(st.sampled_from(list("\\\"'$?{}()=x0A\n\x00")), max_size=12),
    st.sampled_from(NASTY_TEXT),
)
float32_values = st.floats(width=32, allow_nan=False, allow_infinity=False)


def collect(strategy, n_settings=BATCH) -> list:
    """Draw a batch of examples from `strategy` (hypothesis as a generator)."""
    out: list = []

    @n_settings
    @given(strategy)
    def draw(x):
        out.append(x)

    draw()
    return out


def f32_bits(value: float) -> int:
    return struct.unpack("<I", struct.pack("<f", value))[0]


# ---------------------------------------------------------------------- identifier properties

IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def check_cpp_ident(ident: str) -> None:
    assert IDENT.match(ident), ident
    assert "__" not in ident and ident not in naming.CPP_RESERVED, ident
    assert not re.match(r"std[0-9]", ident) and not re.fullmatch(r"[A-Z][A-Z0-9]*", ident), ident


@FUZZ
@given(any_names)
def test_case_styles_are_clean_stable_identifiers(name):
    for style in (naming.snake, naming.pascal, naming.camel):
        ident = style(name)
        assert IDENT.match(ident) and "__" not in ident and not ident.endswith("_"), ident
        assert len(ident) <= naming.MAX_IDENT + 12
        assert style(name) == ident  # deterministic
    assert naming.snake(name) == naming.snake(name).lower()
    assert naming.pascal(name)[0].isupper() and naming.camel(name)[0].islower()


@FUZZ
@given(st.one_of(any_names, st.sampled_from(NASTY_NAMES)), st.sampled_from(["raw", "snake", "pascal", "camel"]))
def test_language_identifiers_valid_unreserved_idempotent(name, style):
    base = name if style == "raw" else getattr(naming, style)(name)
    cpp, kt, sw = naming.cpp_ident(base), naming.kotlin_ident(base), naming.swift_ident(base)
    check_cpp_ident(cpp)
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", kt) and kt.strip("_") and kt not in naming.KOTLIN_RESERVED
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", sw) and sw.strip("_") and sw not in naming.SWIFT_RESERVED
    assert naming.cpp_ident(cpp) == cpp and naming.kotlin_ident(kt) == kt and naming.swift_ident(sw) == sw
    if style != "raw":  # clean identifiers are only ever suffixed (or std<n> prefixed), never rewritten
        assert cpp in (base, base + "_", "m_" + base) and kt in (base, base + "_") and sw in (base, base + "_")


def test_documented_escapes():
    assert naming.snake("flower-classifier") == "flower_classifier"
    assert naming.pascal("flower-classifier") == "FlowerClassifier"
    assert naming.camel("flower-classifier") == "flowerClassifier"
    assert naming.snake("") == naming.snake("---") == "model"
    assert naming.cpp_ident("class") == "class_" and naming.cpp_ident("std1") == "m_std1"
    assert naming.cpp_ident("EOF") == "EOF_" and naming.cpp_ident("linux") == "linux_"
    assert naming.cpp_ident("_Foo") == "Foo" and naming.cpp_ident("a__b") == "a_b"
    assert naming.kotlin_ident("fun") == "fun_" and naming.kotlin_ident("String") == "String_"
    assert naming.swift_ident("init") == "init_" and naming.swift_ident("Data") == "Data_"
    # unicode-only and long names stay distinct through a hash word
    assert naming.snake("模型") != naming.snake("模特") and naming.snake("模型").startswith("model_u")
    assert naming.snake("a" * 300) != naming.snake("a" * 301)


def _dash_canonical(name: str) -> str:
    return "-".join(p for p in name.split("-") if p)


@FUZZ
@given(manifest_names, manifest_names)
def test_grammar_collisions_are_exactly_the_documented_ones(a, b):
    """snake collides only for dash runs / trailing dashes; pascal also when `-` precedes a digit."""
    ca, cb = _dash_canonical(a), _dash_canonical(b)
    assert (naming.snake(a) == naming.snake(b)) == (ca == cb)
    nodash_digit = lambda s: re.sub(r"-(?=[0-9])", "", s)  # noqa: E731
    assert (naming.pascal(a) == naming.pascal(b)) == (nodash_digit(ca) == nodash_digit(cb))


@FUZZ
@given(manifest_names.map(lambda s: s.replace("--", "-").rstrip("-")))
def test_grammar_collision_examples(name):
    mutated = name + "-"
    assert naming.snake(mutated) == naming.snake(name)  # documented collision (a)
    assert naming.pascal("a-1b") == naming.pascal("a1b") and naming.snake("a-1b") != naming.snake("a1b")


def test_render_filters_are_stable():
    for key in ("snake", "pascal", "camel", "cpp_ident", "kotlin_ident", "swift_ident", "cpp_string", "kotlin_string", "swift_string", "json_string", "cpp_float", "kotlin_float", "swift_float"):
        assert render.FILTERS[key] is getattr(naming, key)
    out = render.render_string('{{ n | snake | cpp_ident }} {{ "a\\"b" | cpp_string }}', {"n": "class"})
    assert out == 'class_ "a\\"b"'


# ------------------------------------------------------------------------- strings, no compile


def test_surrogates_joined_or_refused():
    pair = "\ud83d\ude00"  # what PyYAML makes of "\ud83d\ude00"
    assert naming.swift_string(pair) == naming.swift_string("😀") == '"\\u{1F600}"'
    assert naming.cpp_string(pair) == naming.cpp_string("😀")
    assert json.loads(naming.json_string(pair)) == "😀"
    for lone in ("\ud800", "a\udc80b", "\ude00\ud83d"):
        for fn in (naming.cpp_string, naming.kotlin_string, naming.swift_string, naming.json_string):
            with pytest.raises(ValueError, match="lone surrogate"):
                fn(lone)


@FUZZ
@given(label_texts)
def test_literals_are_printable_ascii_and_json_round_trips(text):
    for fn in (naming.cpp_string, naming.kotlin_string, naming.swift_string, naming.json_string):
        lit = fn(text)
        assert all(0x20 <= ord(c) < 0x7F for c in lit), lit
    assert json.loads(naming.json_string(text)) == text
    assert "??" not in naming.cpp_string(text)
    assert re.search(r"(?<!\\)(\\\\)*\$", naming.kotlin_string(text)[1:-1]) is None  # every $ escaped


def decode_swift_literal(lit: str) -> str:
    """Independent decoder of the Swift string literal grammar subset naming emits (Swift cannot be
    compiled here): printable ASCII except `"` and `\\`, and the escapes `\\\\`, `\\"`,
    `\\u{1-8 hex}` whose value must be a Unicode scalar (no surrogates, <= 0x10FFFF). Anything else
    (a raw control char, `\\(` interpolation, `\\x`, an unknown escape) is rejected."""
    assert lit.startswith('"') and lit.endswith('"') and len(lit) >= 2, lit
    body, out, i = lit[1:-1], [], 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            nxt = body[i + 1]
            if nxt in '\\"':
                out.append(nxt)
                i += 2
                continue
            m = re.match(r"u\{([0-9A-Fa-f]{1,8})\}", body[i + 1 :])
            assert m, f"bad escape at {i} in {lit!r}"
            code = int(m.group(1), 16)
            assert code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF, lit
            out.append(chr(code))
            i += 1 + m.end()
        else:
            assert 0x20 <= ord(c) < 0x7F and c != '"', f"raw {c!r} in {lit!r}"
            out.append(c)
            i += 1
    return "".join(out)


@FUZZ
@given(label_texts)
def test_swift_string_decodes_back(text):
    assert decode_swift_literal(naming.swift_string(text)) == text


SWIFT_FLOAT = re.compile(r"Float\((-?[0-9]+\.[0-9]+(?:e[+-][0-9]+)?)\)\Z|Float\(bitPattern: 0x([0-9A-F]{8})\)\Z")


@FUZZ
@given(float32_values)
def test_float_literals_round_trip(value):
    bits = f32_bits(value)
    text = naming.float_literal(value)
    assert re.fullmatch(r"-?[0-9]+\.[0-9]+(e[+-][0-9]+)?", text), text
    assert f32_bits(float(text)) == bits  # C++/Kotlin parse the decimal straight to float32
    assert naming.cpp_float(value) == naming.kotlin_float(value) == text + "f"
    m = SWIFT_FLOAT.match(naming.swift_float(value))
    assert m, naming.swift_float(value)
    if m.group(1):  # Swift: decimal -> Double or Float80 -> Float must not double-round
        assert f32_bits(float(np.float32(float(m.group(1))))) == bits
        assert f32_bits(float(np.float32(np.longdouble(m.group(1))))) == bits
    else:
        assert int(m.group(2), 16) == bits
    # shortest: dropping a significant digit must break the round trip
    mant = text.split("e")[0].lstrip("-").replace(".", "").strip("0")
    assert len(mant) <= 9


def test_float_edge_cases():
    assert naming.cpp_float(-0.0) == "-0.0f" and naming.swift_float(-0.0) == "Float(-0.0)"
    assert naming.cpp_float(1e38) == "1.0e+38f"
    assert naming.cpp_float(1e-45) == "1.0e-45f"  # smallest subnormal
    assert naming.cpp_float(0.1) == "0.1f" and naming.cpp_float(1) == "1.0f"
    for bad in (float("nan"), float("inf"), -float("inf"), 1e39):
        with pytest.raises(ValueError):
            naming.float_literal(bad)


# ------------------------------------------------------------------------------ batch builders

EDGE_FLOATS = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.1,
    1e-45,
    -1e-45,
    1.1754942e-38,
    1.17549435e-38,
    3.4028235e38,
    -3.4028235e38,
    1e38,
    1e-38,
    16777217.0,
    0.333333343,
    123456.789,
    1e16,
    9.999999e15,
    1e-4,
    9.9999e-5,
]


def batch_inputs():
    names = sorted(set(collect(st.one_of(manifest_names, wild_names)) + NASTY_NAMES))
    labels = collect(label_texts) + NASTY_TEXT
    floats = [float(np.float32(v)) for v in collect(float32_values) + EDGE_FLOATS]
    return names, labels, floats


def unique(idents):
    return list(dict.fromkeys(idents))


def cpp_program(names, labels, floats) -> str:
    lines = [
        f"#include <{h}>"
        for h in (
            "cstdio",
            "cstdlib",
            "cstring",
            "cmath",
            "ctime",
            "cstdint",
            "cstddef",
            "csignal",
            "cerrno",
            "cassert",
            "climits",
            "cfloat",
            "string",
            "string_view",
            "vector",
            "memory",
            "iostream",
            "algorithm",
            "array",
            "map",
            "functional",
            "stdexcept",
            "unistd.h",
            "sys/types.h",
            "sys/stat.h",
            "fcntl.h",
            "pthread.h",
            "dirent.h",
            "math.h",
        )
    ]
    # Generated namespaces live inside a project namespace (see naming's module docstring).
    lines.append("namespace edgesdk_fuzz {")
    calls = []
    for ns in unique(naming.cpp_ident(naming.snake(n)) for n in names):
        lines.append(f"namespace {ns} {{ int touch() {{ return 1; }} }}")
        calls.append(f"{ns}::touch()")
    for i, n in enumerate(names):
        ns, cls, fn = naming.cpp_ident(naming.snake(n)), naming.cpp_ident(naming.pascal(n)), naming.cpp_ident(naming.camel(n))
        var = naming.cpp_ident(naming.snake(n) + "_" + str(i))
        lines.append(f"namespace {ns} {{ struct {cls}Q{i} {{ static int {fn}() {{ int {var} = {i}; return {var}; }} }}; }}")
        calls.append(f"{ns}::{cls}Q{i}::{fn}()")  # Q: never doubles a `_`
    lines.append("}")
    lines.append("#define SV(s) std::string_view(s, sizeof(s) - 1)")
    lines.append("static const std::string_view kLabels[] = {")
    lines += [f"    SV({naming.cpp_string(t)})," for t in labels]
    lines.append("};")
    lines.append("static const float kFloats[] = {" + ", ".join(naming.cpp_float(v) for v in floats) + "};")
    lines.append("int main() {")
    lines.append("    long sum = 0;")
    lines += [f"    sum += edgesdk_fuzz::{c};" for c in calls]
    lines.append('    std::printf("sum %ld\\n", sum);')
    lines.append("    for (const auto& s : kLabels) {")
    lines.append('        std::printf("L");')
    lines.append('        for (unsigned char c : s) std::printf("%02x", c);')
    lines.append('        std::printf("\\n");')
    lines.append("    }")
    lines.append('    for (float f : kFloats) { std::uint32_t b; std::memcpy(&b, &f, 4); std::printf("F%08x\\n", b); }')
    lines.append("    return 0;")
    lines.append("}")
    return "\n".join(lines) + "\n"


def kotlin_program(names, labels, floats) -> str:
    lines = ['@file:JvmName("Fuzz_Main")', "package edgesdk.fuzz", ""]
    for i, n in enumerate(names):
        cls, fn = naming.kotlin_ident(naming.pascal(n)), naming.kotlin_ident(naming.camel(n))
        var = naming.kotlin_ident(naming.snake(n))
        lines.append(f"class {cls}_{i} {{ fun {fn}(): Int {{ val {var} = {i}; return {var} }} }}")
    for cls in unique(naming.kotlin_ident(naming.pascal(n)) for n in names):
        lines.append(f'class {cls} {{ val {naming.kotlin_ident(naming.camel(cls))}: String = "x" }}')
    lines.append("val LABELS: Array<String> = arrayOf(")
    lines += [f"    {naming.kotlin_string(t)}," for t in labels]
    lines.append(")")
    lines.append("val FLOATS: FloatArray = floatArrayOf(" + ", ".join(naming.kotlin_float(v) for v in floats) + ")")
    lines.append("fun main() {")
    lines.append("    var sum = 0L")
    for i, n in enumerate(names):
        cls, fn = naming.kotlin_ident(naming.pascal(n)), naming.kotlin_ident(naming.camel(n))
        lines.append(f"    sum += {cls}_{i}().{fn}()")
    lines.append("    val out = StringBuilder()")
    lines.append('    out.append("sum ").append(sum).append("\\n")')
    lines.append('    for (s in LABELS) { out.append("L"); for (c in s) out.append(String.format("%04x", c.code)); out.append("\\n") }')
    lines.append('    for (f in FLOATS) out.append("F").append(String.format("%08x", java.lang.Float.floatToRawIntBits(f))).append("\\n")')
    lines.append("    System.out.print(out)")
    lines.append("}")
    return "\n".join(lines) + "\n"


def expected_output(names, labels, floats, unit_hex) -> str:
    total = sum(range(len(names)))
    if unit_hex == "utf8":
        total += len(unique(naming.cpp_ident(naming.snake(n)) for n in names))
    rows = [f"sum {total}"]
    rows += ["L" + unit_hex_of(t, unit_hex) for t in labels]
    rows += ["F%08x" % f32_bits(v) for v in floats]
    return "\n".join(rows) + "\n"


def unit_hex_of(text: str, kind: str) -> str:
    return text.encode("utf-8").hex() if kind == "utf8" else text.encode("utf-16-be").hex()


def diff_hint(names, labels, floats, expected: str, got: str) -> str:
    exp, out = expected.splitlines(), got.splitlines()
    for i, (a, b) in enumerate(zip(exp, out)):
        if a != b:
            j = i - 1
            what = labels[j] if 0 <= j < len(labels) else floats[j - len(labels)] if j >= len(labels) else "sum"
            return f"line {i}: expected {a!r} got {b!r} for input {what!r}"
    return f"length differs: expected {len(exp)} lines, got {len(out)}"


# ------------------------------------------------------------------------------- compile tests


@pytest.mark.cpp
def test_cpp_batch_compiles_and_round_trips(tmp_path: Path):
    gxx = shutil.which("g++")
    if gxx is None:
        need("g++ not found on PATH")
    names, labels, floats = batch_inputs()
    src = tmp_path / "fuzz.cpp"
    src.write_text(cpp_program(names, labels, floats), encoding="ascii")  # ascii: literals are pure ASCII
    exe = tmp_path / "fuzz"
    # gnu++17 too: it is CMake's default (CXX_EXTENSIONS ON) and predefines `linux`/`unix` macros.
    for std in ("gnu++17", "c++17"):
        cc = subprocess.run([gxx, f"-std={std}", "-Wall", "-Wextra", "-Werror", "-O0", str(src), "-o", str(exe)], capture_output=True, text=True)
        assert cc.returncode == 0, cc.stderr[-4000:]
    run = subprocess.run([str(exe)], capture_output=True, check=True)
    got = run.stdout.decode("ascii")
    expected = expected_output(names, labels, floats, "utf8")
    assert got == expected, diff_hint(names, labels, floats, expected, got)
    assert len(labels) >= 100 and len(names) >= 100


def kotlinc_path() -> Path:
    default = Path.home() / ".cache/edgesdk/kotlinc-2.4.20/node_modules/kotlin-compiler/bin/kotlinc"
    return Path(os.environ.get("KOTLINC") or default)


@pytest.mark.kotlin
def test_kotlin_batch_compiles_and_round_trips(tmp_path: Path):
    kotlinc = kotlinc_path()
    if not kotlinc.exists():
        need(f"kotlinc not found at {kotlinc} (set KOTLINC or run: bash scripts/fetch_kotlinc.sh ~/.cache/edgesdk/kotlinc-2.4.20)")
    if shutil.which("java") is None:
        need("java not found on PATH (kotlinc and the test program need a JDK)")
    names, labels, floats = batch_inputs()
    src = tmp_path / "Fuzz.kt"
    src.write_text(kotlin_program(names, labels, floats), encoding="ascii")
    jar = tmp_path / "fuzz.jar"
    kc = subprocess.run([str(kotlinc), str(src), "-include-runtime", "-nowarn", "-d", str(jar)], capture_output=True, text=True, timeout=300)
    assert kc.returncode == 0 and jar.exists(), (kc.stdout + kc.stderr)[-4000:]
    run = subprocess.run(["java", "-cp", str(jar), "edgesdk.fuzz.Fuzz_Main"], capture_output=True, check=True, timeout=120)
    got = run.stdout.decode("ascii")
    expected = expected_output(names, labels, floats, "utf16")
    assert got == expected, diff_hint(names, labels, floats, expected, got)


def test_swift_batch_structure():
    """Swift stand-in for the compile tests: the same batch, checked by the independent decoder."""
    names, labels, floats = batch_inputs()
    for t in labels:
        assert decode_swift_literal(naming.swift_string(t)) == t
    for n in names:
        for ident in (naming.swift_ident(naming.pascal(n)), naming.swift_ident(naming.camel(n)), naming.swift_ident(naming.snake(n))):
            assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", ident) and ident not in naming.SWIFT_RESERVED
    for v in floats:
        assert SWIFT_FLOAT.match(naming.swift_float(v))
