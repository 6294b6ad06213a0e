"""Turn manifest strings into identifiers and literals for every generated language.

Names and labels come from users: they may hold quotes, backslashes, unicode, or collide with
reserved words. Everything that reaches generated code goes through these functions.

Guarantees (checked by tests/unit/test_naming.py, which compiles the output with g++ and kotlinc):

* Identifiers are plain ASCII `[A-Za-z][A-Za-z0-9_]*`, at most ~90 characters, deterministic.
  Unicode letters are never emitted (they are valid in all three languages, but not in every
  toolchain, file system and linker); a name holding non-ASCII characters gets a stable hash word
  (`u` + 8 hex digits) so distinct unicode names stay distinct. A name with no ASCII letters or
  digits at all becomes `model` (+ hash when it held non-ASCII text).
* `snake`/`pascal`/`camel` of manifest names (`[a-z][a-z0-9-]{0,63}`) collide only when
  (a) they differ only in runs of `-` or trailing `-` (`a--b`/`a-b`, `a-`/`a`): snake, pascal and
      camel all collide;
  (b) for pascal/camel only, a `-` is directly followed by a digit (`a-1b`/`a1b` -> `A1b`;
      snake keeps them apart: `a_1b`/`a1b`).
  Outside the grammar, case is folded (`Foo`/`foo`) and ASCII punctuation all separates words
  (`a.b`/`a:b`/`a_b`/`a-b`), and a leading digit gets a prefix (`1a` -> `m_1a` = snake(`m-1a`)).
* `cpp_ident`/`kotlin_ident`/`swift_ident` accept any string. A clean identifier comes back
  unchanged unless it is reserved, in which case `_` is appended (`class` -> `class_`); anything
  else is rebuilt from its ASCII words. They are idempotent: f(f(x)) == f(x).
  C++ escapes keywords, alternative tokens, `std`/`main`, `std<digits>` (reserved namespaces,
  prefixed `m_`), macros of the common C/POSIX/Windows/Apple headers and g++'s GNU-mode `linux`/
  `unix`, and every all-caps name (the macro namespace by convention: EOF, NULL, TRUE, ERROR...).
  It does NOT escape the ~1700 libc functions/typedefs declared at global scope (`time`, `random`,
  `index`, `log`...): templates must put generated namespaces inside a fixed project namespace
  (`namespace edgesdk { namespace <ident> {...} }`), where those names cannot clash. Measured with
  g++ 12/glibc: 1561 snake-shaped names clash with a global `namespace <name>` once <cmath>,
  <cstring>, <string>... are included; a manifest named `time` or `random` hits one.
  Kotlin and Swift escape hard keywords (Swift: contextual ones too, escaping is harmless) and the
  standard/platform type names a same-module declaration would shadow (`String`, `Data`, `Image`,
  `Bitmap`...), since a generated `class Data` would break every use of Foundation's `Data`.
* String literals are pure printable ASCII plus escapes, so they are exact whatever the source
  encoding, and never contain raw bidi/RTL controls (g++ -Wbidi-chars, review tools).
  NUL and control characters are allowed and encoded exactly (C++ `\\000`, Kotlin `\\u0000`, Swift
  `\\u{0}`); C++ code that reads a literal as a C string stops at a NUL, so length-aware storage
  (`std::string_view{lit, sizeof lit - 1}`) is needed to keep it. Python strings from YAML can hold
  surrogates (PyYAML turns `"\\ud83d\\ude00"` into two code points): a valid pair is joined into
  its character, a lone surrogate raises ValueError (it has no UTF-8 form and is no Swift scalar).
  Very long strings are split into 4 KiB C++ literal pieces (MSVC limits one piece to 16 KiB); the
  JVM limits one string constant to 65535 UTF-8 bytes, which the Kotlin compiler reports.
* Float literals are the shortest decimal that round-trips the float32 value, so they print back
  bit-exactly (negative zero and subnormals included); values beyond float32 range, inf and NaN
  raise ValueError. Swift converts a literal through Double (arm64) or Float80 (x86_64) before
  Float: where that double rounding would change the value, `Float(bitPattern: 0x...)` is used.
"""

from __future__ import annotations

import hashlib
import json
import math
import re

_WORD = re.compile(r"[A-Za-z0-9]+")
_ASCII_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
MAX_IDENT = 80  # longest snake name before it is shortened + hashed (grammar names are <= 64)

CPP_RESERVED = frozenset(
    """alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t
    char32_t class compl concept const consteval constexpr constinit const_cast continue co_await
    co_return co_yield decltype default delete do double dynamic_cast else enum explicit export
    extern false float for friend goto if inline int long mutable namespace new noexcept not not_eq
    nullptr operator or or_eq private protected public register reinterpret_cast requires return
    short signed sizeof static static_assert static_cast struct switch template this thread_local
    throw true try typedef typeid typename union unsigned using virtual void volatile wchar_t while
    xor xor_eq std main
    typeof restrict import module override final
    atomic_cancel atomic_commit atomic_noexcept reflexpr synchronized transaction_safe
    transaction_safe_dynamic
    """.split()
    # Macros: the standard library (always macros, any scope) and common platform headers.
    + """assert errno offsetof setjmp va_arg va_copy va_end va_start alloca math_errhandling
    stdin stdout stderr linux unix i386 major minor makedev sigmask issubnormal strdupa strndupa
    assert_perror d_fileno sa_handler sa_sigaction sched_priority st_atime st_ctime st_mtime
    si_addr si_band si_fd si_int si_pid si_ptr si_status si_uid si_value si_timerid si_overrun
    be16toh be32toh be64toh htobe16 htobe32 htobe64 htole16 htole32 htole64 le16toh le32toh
    le64toh pthread_cleanup_push pthread_cleanup_pop min max near far small hyper interface
    pascal cdecl fortran check verify require nil id
    """.split()
    # Global typedefs a global-scope namespace would clash with even inside the SDK's own headers.
    + """size_t ptrdiff_t nullptr_t max_align_t int8_t int16_t int32_t int64_t uint8_t uint16_t
    uint32_t uint64_t intptr_t uintptr_t intmax_t uintmax_t ssize_t off_t time_t clock_t""".split()
)
_CPP_MACRO_SHAPE = re.compile(r"[A-Z][A-Z0-9]*\Z|[LMP]_")  # all-caps; glibc's M_PIf, L_tmpnam...
_CPP_STD_NS = re.compile(r"std[0-9]")  # [namespace.std]: std followed by digits is reserved

KOTLIN_RESERVED = frozenset(
    """as break class continue do else false for fun if in interface is null object package return
    super this throw true try typealias typeof val var when while""".split()
    # Types from default imports (kotlin.*, java.lang.*) and the Android/ORT classes the SDK uses.
    + """Any Unit Nothing String Int Long Short Byte Float Double Boolean Char Number Array List Map
    Set Pair Triple Result Exception Throwable Error Comparable CharSequence Iterable Collection
    Sequence Lazy FloatArray IntArray ByteArray LongArray ShortArray DoubleArray BooleanArray
    CharArray MutableList MutableMap MutableSet HashMap ArrayList Regex Object System Math Integer
    Thread Runnable Class Enum Override Deprecated StringBuilder Iterator AutoCloseable
    RuntimeException IllegalArgumentException IllegalStateException Bitmap Context AssetManager
    Color Log Uri Build Bundle Activity Matrix Canvas Paint Rect File InputStream ByteBuffer
    ByteOrder FloatBuffer IntBuffer OrtSession OrtEnvironment OnnxTensor""".split()
)
SWIFT_RESERVED = frozenset(
    """associatedtype class deinit enum extension fileprivate func import init inout internal let open
    operator private precedencegroup protocol public rethrows static struct subscript typealias var
    break case catch continue default defer do else fallthrough for guard if in repeat return throw
    switch where while as Any false is nil self Self super throws true try Type Protocol
    await async actor any some borrowing consuming nonisolated package macro each consume copy
    discard associativity convenience didSet dynamic final get indirect infix lazy left mutating
    none nonmutating optional override postfix precedence prefix required right set unowned weak
    willSet""".split()
    # Standard/Foundation/SwiftUI/Core ML names a module-level declaration would shadow.
    + """String Int Int8 Int16 Int32 Int64 UInt UInt8 UInt16 UInt32 UInt64 Float Float32 Float64
    Float80 Double Bool Character Array Dictionary Set Optional Result Error Never Void AnyObject
    Data URL Date Bundle FileManager NSObject NSError JSONDecoder JSONEncoder JSONSerialization
    Range ClosedRange Sequence Collection Equatable Hashable Codable Decodable Encodable Comparable
    Identifiable Sendable Task Actor MainActor CGFloat CGImage CGSize CGRect Image Text View
    Color UIImage NSImage MLModel MLMultiArray MLFeatureProvider ObservableObject Published
    print min max abs zip fatalError precondition assert""".split()
)


def _hash_word(name: str) -> str:
    return "u" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _split(name: str, lower: bool) -> list[str]:
    """ASCII words of `name`; adds a hash word when the name lost non-ASCII text or length."""
    found = _WORD.findall(name)
    if lower:
        found = [w.lower() for w in found]
    lossy = not name.isascii()
    if sum(len(w) + 1 for w in found) > MAX_IDENT:  # shorten very long names, keep them distinct
        kept: list[str] = []
        room = MAX_IDENT - 10
        for w in found:
            if room <= 1:
                break
            kept.append(w[: room - 1])
            room -= len(kept[-1]) + 1
        found, lossy = kept, True
    if not found:
        found = ["model"]
    return found + [_hash_word(name)] if lossy else found


def words(name: str) -> list[str]:
    """Split a manifest name into lower-case ASCII words; a name with none becomes ['model']."""
    return _split(name, lower=True)


def snake(name: str) -> str:
    ident = "_".join(words(name))
    return ident if not ident[0].isdigit() else "m_" + ident


def pascal(name: str) -> str:
    ident = "".join(w[:1].upper() + w[1:] for w in words(name))
    return ident if not ident[0].isdigit() else "M" + ident


def camel(name: str) -> str:
    p = pascal(name)
    return p[:1].lower() + p[1:]


def _rebuild(ident: str) -> str:
    """A clean identifier from any string: its ASCII words joined by `_`, case kept."""
    ident = "_".join(_split(ident, lower=False))
    return ident if not ident[0].isdigit() else "m_" + ident


def cpp_ident(ident: str) -> str:
    # A leading `_` (global scope) and any `__` are reserved to the implementation.
    if not (_ASCII_IDENT.match(ident) and ident[0] != "_" and "__" not in ident and len(ident) <= MAX_IDENT + 12):
        ident = _rebuild(ident)
    if _CPP_STD_NS.match(ident):
        return "m_" + ident  # a suffix would keep the std<digits> prefix
    if ident.endswith("_"):
        return ident  # already escaped (idempotence); no reserved name or macro ends in `_`
    if ident in CPP_RESERVED or _CPP_MACRO_SHAPE.match(ident):
        return ident + "_"
    return ident


def cpp_namespace(name: str) -> str:
    """The generated C++ SDK's namespace: `edgesdk::<snake>`. Nesting keeps any model name clear
    of the C library's global names (a model called `time`, `index` or `log` would otherwise
    collide with a libc function at global scope)."""
    return "edgesdk::" + cpp_ident(snake(name))


def kotlin_ident(ident: str) -> str:
    if not (_ASCII_IDENT.match(ident) and ident.strip("_") and len(ident) <= MAX_IDENT + 12):
        ident = _rebuild(ident)  # `_`, `__`... are reserved in Kotlin
    return ident + "_" if ident in KOTLIN_RESERVED else ident


# Java keywords and literals: Android's namespace and R class need a package javac accepts.
JAVA_RESERVED = frozenset(
    """abstract assert boolean break byte case catch char class const continue default do double
    else enum extends final finally float for goto if implements import instanceof int interface
    long native new package private protected public return short static strictfp super switch
    synchronized this throw throws transient try void volatile while true false null var yield
    record sealed permits""".split()
)


def kotlin_package(name: str) -> str:
    """The SDK's package segment under `ai.edgesdk`: snake case, valid in Kotlin and Java."""
    ident = kotlin_ident(snake(name))
    return ident + "_" if ident in JAVA_RESERVED else ident


def swift_ident(ident: str) -> str:
    if not (_ASCII_IDENT.match(ident) and ident.strip("_") and len(ident) <= MAX_IDENT + 12):
        ident = _rebuild(ident)
    return ident + "_" if ident in SWIFT_RESERVED else ident


def swift_module(name: str) -> str:
    """The Swift package's module: `<Pascal>SDK`, so that it never shares a name with the SDK's
    class (`<Pascal>`), which Swift cannot then tell apart."""
    return swift_ident(pascal(name) + "SDK")


def _checked(text: str) -> str:
    """Join surrogate pairs (PyYAML leaves `\\ud83d\\ude00` split); refuse lone surrogates."""
    if not any("\ud800" <= ch <= "\udfff" for ch in text):
        return text
    joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    for i, ch in enumerate(joined):
        if "\ud800" <= ch <= "\udfff":
            raise ValueError(f"string {text!r} holds a lone surrogate U+{ord(ch):04X} at {i}: not valid unicode text")
    return joined


_CPP_SIMPLE = {"\\": "\\\\", '"': '\\"', "?": "\\?", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_CPP_PIECE = 4096  # bytes of string per literal piece


def cpp_string(text: str) -> str:
    """A C++ literal holding the UTF-8 bytes of `text`. Non-printable and non-ASCII bytes are
    3-digit octal escapes, which (unlike `\\x`) can never swallow a following digit; `?` is escaped
    against trigraphs (`??=`) in pre-C++17 modes. Pieces of 4 KiB are concatenated literals."""
    data = _checked(text).encode("utf-8")
    pieces = []
    for start in range(0, len(data), _CPP_PIECE) or [0]:
        parts = []
        for byte in data[start : start + _CPP_PIECE]:
            ch = chr(byte)
            if ch in _CPP_SIMPLE:
                parts.append(_CPP_SIMPLE[ch])
            elif 0x20 <= byte < 0x7F:
                parts.append(ch)
            else:
                parts.append("\\%03o" % byte)
        pieces.append('"' + "".join(parts) + '"')
    return " ".join(pieces)


def _escaped_literal(text: str, escaped: str, other) -> str:
    """A double-quoted literal: printable ASCII as is, `escaped` characters after a backslash,
    everything else through `other`."""
    out = []
    for ch in _checked(text):
        if ch in escaped:
            out.append("\\" + ch)
        elif 0x20 <= ord(ch) < 0x7F:
            out.append(ch)
        else:
            out.append(other(ch))
    return '"' + "".join(out) + '"'


def _utf16_units(ch: str) -> str:
    encoded = ch.encode("utf-16-be")
    return "".join("\\u%02X%02X" % (encoded[i], encoded[i + 1]) for i in range(0, len(encoded), 2))


def kotlin_string(text: str) -> str:
    """A Kotlin literal: `$` is escaped (string templates), non-ASCII as UTF-16 `\\uXXXX` units."""
    return _escaped_literal(text, '\\"$', _utf16_units)


def swift_string(text: str) -> str:
    """A Swift literal: `\\` also guards `\\(` interpolation; non-ASCII as `\\u{X}` scalars."""
    return _escaped_literal(text, '\\"', lambda ch: "\\u{%X}" % ord(ch))


def json_string(text: str) -> str:
    return json.dumps(_checked(text), ensure_ascii=True)


def _float32(value: float):
    import numpy as np

    if not math.isfinite(value):
        raise ValueError(f"non-finite value {value!r} cannot become a literal")
    with np.errstate(over="ignore"):
        f = np.float32(value)
    if not np.isfinite(f):
        raise ValueError(f"value {value!r} is out of float32 range")
    return f


def float_literal(value: float) -> str:
    """Shortest round-trip decimal for a float32 value, without a type suffix: positional for
    1e-4 <= |x| < 1e16 (`0.5`, `-0.0`), else scientific (`1.0e+38`, `1.0e-45`). Always holds a
    `.` with digits on both sides, valid in C++, Kotlin and Swift."""
    import numpy as np

    f = _float32(value)
    mag = abs(float(f))
    if mag != 0.0 and (mag < 1e-4 or mag >= 1e16):
        return np.format_float_scientific(f, unique=True, trim="0")
    text = np.format_float_positional(f, unique=True, trim="0")
    if text.endswith("."):
        text += "0"
    if "." not in text:
        text += ".0"
    return text


def cpp_float(value: float) -> str:
    return float_literal(value) + "f"


def kotlin_float(value: float) -> str:
    return float_literal(value) + "f"


def swift_float(value: float) -> str:
    import numpy as np

    f = _float32(value)
    text = float_literal(value)
    # Swift rounds a literal to Double (arm64) or Float80 (x86_64) first, then to Float.
    via_double = np.float32(float(text))
    via_float80 = np.float32(np.longdouble(text))
    same = [v.tobytes() == f.tobytes() for v in (via_double, via_float80)]
    if all(same):
        return "Float(" + text + ")"
    return "Float(bitPattern: 0x%08X)" % int(f.view(np.uint32))
