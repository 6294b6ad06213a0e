"""Turn manifest strings into identifiers and literals for every generated language.

Names and labels come from users: they may hold quotes, backslashes, unicode, or collide with
reserved words. Everything that reaches generated code goes through these functions.
"""
from __future__ import annotations

import json
import math
import re

_WORD = re.compile(r"[A-Za-z0-9]+")

CPP_RESERVED = frozenset(
    """alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t
    char32_t class compl concept const consteval constexpr constinit const_cast continue co_await
    co_return co_yield decltype default delete do double dynamic_cast else enum explicit export
    extern false float for friend goto if inline int long mutable namespace new noexcept not not_eq
    nullptr operator or or_eq private protected public register reinterpret_cast requires return
    short signed sizeof static static_assert static_cast struct switch template this thread_local
    throw true try typedef typeid typename union unsigned using virtual void volatile wchar_t while
    xor xor_eq std main""".split()
)
KOTLIN_RESERVED = frozenset(
    """as break class continue do else false for fun if in interface is null object package return
    super this throw true try typealias typeof val var when while""".split()
)
SWIFT_RESERVED = frozenset(
    """associatedtype class deinit enum extension fileprivate func import init inout internal let open
    operator private precedencegroup protocol public rethrows static struct subscript typealias var
    break case catch continue default defer do else fallthrough for guard if in repeat return throw
    switch where while as Any false is nil self Self super throws true try Type Protocol""".split()
)


def words(name: str) -> list[str]:
    """Split a manifest name into ASCII words; a name with none becomes ['model']."""
    found = _WORD.findall(name)
    return [w.lower() for w in found] or ["model"]


def snake(name: str) -> str:
    ident = "_".join(words(name))
    return ident if not ident[0].isdigit() else "m_" + ident


def pascal(name: str) -> str:
    ident = "".join(w[:1].upper() + w[1:] for w in words(name))
    return ident if not ident[0].isdigit() else "M" + ident


def camel(name: str) -> str:
    p = pascal(name)
    return p[:1].lower() + p[1:]


def cpp_ident(ident: str) -> str:
    return ident + "_" if ident in CPP_RESERVED else ident


def kotlin_ident(ident: str) -> str:
    return ident + "_" if ident in KOTLIN_RESERVED else ident


def swift_ident(ident: str) -> str:
    return ident + "_" if ident in SWIFT_RESERVED else ident


def cpp_string(text: str) -> str:
    """A C++ UTF-8 string literal. Non-ASCII bytes are hex-escaped and each escape ends the
    literal segment, so a following hex digit cannot extend it."""
    parts = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch == "\\":
            parts.append("\\\\")
        elif ch == '"':
            parts.append('\\"')
        elif ch == "?":
            parts.append("\\?")  # avoid trigraphs in older modes
        elif 0x20 <= byte < 0x7F:
            parts.append(ch)
        else:
            parts.append('\\x%02x""' % byte)
    return '"' + "".join(parts) + '"'


def kotlin_string(text: str) -> str:
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '\\"$':
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        else:
            encoded = ch.encode("utf-16-be")
            for i in range(0, len(encoded), 2):
                out.append("\\u%02X%02X" % (encoded[i], encoded[i + 1]))
    return '"' + "".join(out) + '"'


def swift_string(text: str) -> str:
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '\\"':
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        else:
            out.append("\\u{%X}" % code)
    return '"' + "".join(out) + '"'


def json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=True)


def float_literal(value: float) -> str:
    """Shortest round-trip decimal for a float32 value, without a type suffix."""
    if not math.isfinite(value):
        raise ValueError(f"non-finite value {value!r} cannot become a literal")
    import numpy as np

    text = np.format_float_positional(np.float32(value), unique=True, trim="0")
    if text.endswith("."):
        text += "0"
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def cpp_float(value: float) -> str:
    return float_literal(value) + "f"


def kotlin_float(value: float) -> str:
    return float_literal(value) + "f"


def swift_float(value: float) -> str:
    return "Float(" + float_literal(value) + ")"
