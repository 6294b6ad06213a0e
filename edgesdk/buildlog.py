"""The build log: what converters and quantizers print, kept in the bundle's reports/build.log.

Converters talk on every channel at once: print(), C/C++ code writing straight to file
descriptors 1 and 2, Python warnings and `logging` records. `capture(label)` takes all four for
the length of one converter call and files them, labelled with the build stage, in the active
build's log (`BuildLog.active()`); a call outside a build captures nothing, so its output goes
where it always went.

The log is part of the bundle, whose zip must be byte-identical across two builds of the same
inputs, so what is captured is made repeatable: warnings and log records get fixed filters and a
fixed format whatever the process configured, terminal-width wrapping gets one fixed width, and
temporary and installation paths, timestamps, elapsed times, progress bars, process ids and memory
addresses become placeholders. Captures change process-wide state (file descriptors, sys.stdout,
the root logger), like contextlib.redirect_stdout: one build at a time in a process.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import io
import logging
import os
import re
import sys
import sysconfig
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_ACTIVE: contextvars.ContextVar[BuildLog | None] = contextvars.ContextVar("edgesdk_build_log", default=None)

# (pattern, replacement) for every captured line, after the known folders are replaced.
_VOLATILE = [
    # glog / absl prefixes: level letter, date, time (or seconds since the epoch), thread id:
    # "W1128 09:32:06.112000 12441 file.py:107]", "I0000 00:00:1795862661.995563   11907 file.cc:4410]"
    (re.compile(r"^([IWEF])\d{4} [\d:.]+\s+\d+ "), r"\1 "),
    (re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?"), "<time>"),
    # Progress: litert-torch's "(00:21) ... (+00:03)", rich's "0:00:03 • 0:00:00", tqdm's "[00:01<00:00, 12.3it/s]";
    # a bar drawn as wide as the terminal is ten glyphs.
    (re.compile(r"\(\+?\d\d:\d\d(?::\d\d)?\)"), "(mm:ss)"),
    (re.compile(r"\[\d+:\d\d(?::\d\d)?<[\d:?]+,\s*[\d.?]+\s*\w+/\w+\]"), "[mm:ss<mm:ss, ?/s]"),
    (re.compile(r"\b\d+:\d\d:\d\d\b"), "h:mm:ss"),
    (re.compile(r"([━█])\1{10,}"), r"\1" * 10),
    (re.compile(r"\b0x[0-9a-fA-F]{6,}\b"), "0x?"),
    (re.compile(r"\b(pid|PID)( ?[=:]? ?)\d+"), r"\1\2?"),
]


@dataclass
class _Output:
    stage: str
    label: str
    text: str
    calls: int = 1

    @property
    def where(self) -> str:  # "stage: label"
        return f"{self.stage}: {self.label}" if self.stage else self.label

    def __str__(self) -> str:
        repeated = f" ({self.calls} calls, each printed this)" if self.calls > 1 else ""
        return f"--- output of {self.where}{repeated} ---\n{self.text}\n--- end of {self.where} ---"


def current() -> BuildLog | None:
    """The log of the build running in this context, if any."""
    return _ACTIVE.get()


class BuildLog:
    """Notes and captured converter output of one build, in the order they happened."""

    def __init__(self) -> None:
        self._entries: list[str | _Output] = []
        self._stage = ""
        self._folders: list[tuple[str, str]] = []
        self.tools_ran = False  # a capture was entered: some converter or quantizer ran

    def note(self, line: str) -> None:
        self._entries.append(line)

    def hide_folder(self, folder: str | Path, placeholder: str) -> None:
        """Write `placeholder` for `folder` in captured text (a staging folder has a random name)."""
        for spelling in {str(folder), str(Path(folder).resolve())}:
            if len(Path(spelling).parts) > 1:  # never "/" or "."
                self._folders.append((spelling, placeholder))

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        outer, self._stage = self._stage, name
        try:
            yield
        finally:
            self._stage = outer

    @contextlib.contextmanager
    def active(self) -> Iterator[BuildLog]:
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)

    def add_output(self, label: str, text: str) -> None:
        text = self._normalise(text)
        if not text:
            return
        last = self._entries[-1] if self._entries else None
        if isinstance(last, _Output) and (last.stage, last.label, last.text) == (self._stage, label, text):
            last.calls += 1  # a quantizer probed once per layer says the same every time
        else:
            self._entries.append(_Output(self._stage, label, text))

    def text(self) -> str:
        return "".join(f"{entry}\n" for entry in self._entries)

    def mark(self) -> int:
        """Where the log stands now: `since(mark)` gives what was filed after it."""
        return len(self._entries)

    def since(self, mark: int) -> list[list[str | int]]:
        """The entries filed after `mark`, as JSON-able records for `replay` (a cached stage's output)."""
        return [[e.label, e.text, e.calls] if isinstance(e, _Output) else [e] for e in self._entries[mark:]]

    def replay(self, records: list[list[str | int]]) -> None:
        """File again, in the current stage, what `since` gave: work taken from a cache leaves the
        log a computed one would."""
        self.tools_ran = True  # the tools ran, in the build that filled the cache
        for record in records:
            if len(record) == 1:
                self._entries.append(str(record[0]))
                continue
            label, text, calls = str(record[0]), str(record[1]), int(record[2])
            for _ in range(calls):
                self.add_output(label, text)

    def _normalise(self, text: str) -> str:
        # Longest first: the staging folder before the temporary folder it may sit in. A folder
        # matches whole: /root is not the start of /rootfs.
        folders = [(re.compile(re.escape(f) + r"(?=[/\\\s'\"():;,\]]|$)"), p) for f, p in sorted([*self._folders, *_standard_folders()], key=lambda f: -len(f[0]))]
        lines = []
        for line in text.replace("\r\n", "\n").split("\n"):
            line = line.rsplit("\r", 1)[-1]  # a progress bar redrawn with \r: its last state
            for folder, placeholder in folders:
                line = folder.sub(placeholder, line)
            for pattern, replacement in _VOLATILE:
                line = pattern.sub(replacement, line)
            lines.append(line.rstrip())
        return "\n".join(lines).strip("\n")


def _standard_folders() -> list[tuple[str, str]]:
    folders = [(sysconfig.get_paths()[key], "<site-packages>") for key in ("purelib", "platlib")]
    folders += [(str(Path(__file__).resolve().parent), "<edgesdk>"), (sys.prefix, "<python>"), (sys.base_prefix, "<python>")]
    folders += [(tempfile.gettempdir(), "<tmp>"), (str(Path.home()), "~")]
    return [(f, p) for f, p in folders if len(Path(f).parts) > 1]


def record(label: str, text: str, folders: dict[Path, str] | None = None) -> None:
    """File text a tool already handed back (a subprocess run with capture_output) in the active
    build's log, `folders` (e.g. the tool's temporary work folder) written as their placeholders."""
    log = _ACTIVE.get()
    if log is None:
        return
    log.tools_ran = True
    for folder, placeholder in (folders or {}).items():
        log.hide_folder(folder, placeholder)
    log.add_output(label, text)


@contextlib.contextmanager
def capture(label: str) -> Iterator[None]:
    """Everything printed, written to fds 1/2, warned or logged inside goes to the build log as `label`."""
    log = _ACTIVE.get()
    if log is None:
        yield
        return
    log.tools_ran = True
    with tempfile.TemporaryFile() as file:
        try:
            with _descriptors_to(file.fileno()), _python_streams_to_descriptors(), _logging_to_stderr(), _python_warnings_to_stderr(), _wide_terminal():
                yield
        finally:
            file.seek(0)
            log.add_output(label, file.read().decode("utf-8", errors="replace"))


class _Descriptor(io.TextIOBase):
    """sys.stdout / sys.stderr inside a capture: text goes straight to file descriptor 1 or 2, in
    order with what C code writes there. A library that keeps the stream past the capture (a
    logging handler made inside it) writes to the real descriptor afterwards, not a closed file."""

    encoding = "utf-8"

    def __init__(self, fd: int):
        self._fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def write(self, text: str) -> int:
        data = text.encode("utf-8", errors="replace")
        while data:
            data = data[os.write(self._fd, data) :]
        return len(text)


def _flush_c_stdio() -> None:
    """C code buffers stdout when it is not a terminal; flush it so its text lands on the right side of a redirect."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).fflush(None)


def _flush_python_stdio() -> None:
    for stream in {id(s): s for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__) if s is not None}.values():
        with contextlib.suppress(Exception):
            stream.flush()


@contextlib.contextmanager
def _descriptors_to(file_fd: int, descriptors: tuple[int, ...] = (1, 2)) -> Iterator[None]:
    """Point `descriptors` (stdout and stderr) at file_fd (C/C++ libraries, subprocesses), then back."""
    _flush_python_stdio()
    _flush_c_stdio()
    saved: list[tuple[int, int | None]] = []
    try:
        for fd in descriptors:
            try:
                saved.append((fd, os.dup(fd)))
            except OSError:  # closed: opened on the file for the capture, closed again after
                saved.append((fd, None))
            os.dup2(file_fd, fd)
        yield
    finally:
        _flush_python_stdio()
        _flush_c_stdio()
        for fd, copy in saved:
            if copy is None:
                os.close(fd)
            else:
                os.dup2(copy, fd)
                os.close(copy)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Descriptor 1 points at descriptor 2 inside: for a native library that prints diagnostics to
    stdout when it loads (MNN), which would corrupt a command's JSON on stdout."""
    with _descriptors_to(2, (1,)):
        yield


@contextlib.contextmanager
def _python_streams_to_descriptors() -> Iterator[None]:
    with contextlib.redirect_stdout(_Descriptor(1)), contextlib.redirect_stderr(_Descriptor(2)):
        yield


@contextlib.contextmanager
def _logging_to_stderr() -> Iterator[None]:
    """Records of WARNING and up (Python's default) reaching the root logger, in one format, whatever
    handlers and level the process set: a library's basicConfig must not change the log."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    handler = logging.StreamHandler(_Descriptor(2))
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.handlers = handlers
        root.setLevel(level)


@contextlib.contextmanager
def _python_warnings_to_stderr() -> Iterator[None]:
    """The warnings Python shows by default (not DeprecationWarning, which is for developers), each
    once per place and message, whatever filters the process (or pytest) set."""
    seen: set[tuple] = set()
    stderr = _Descriptor(2)

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        key = (category, str(message), filename, lineno)
        if key not in seen:
            seen.add(key)
            stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    with warnings.catch_warnings():
        # `seen` does the once-per-place: libraries that reset filters inside would repeat them otherwise.
        warnings.simplefilter("always")
        for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
            warnings.simplefilter("ignore", category)
        warnings.showwarning = show
        yield


@contextlib.contextmanager
def _wide_terminal() -> Iterator[None]:
    """Tools that wrap text for a terminal (rich) read COLUMNS first: one fixed, wide width, so the
    user's terminal does not change the log and long paths stay on one line to be normalised."""
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "1000"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = before
