"""One error hierarchy and one exit-code table (EXIT_CODES): each class gets its code from the
table, the CLI help and README's exit-code line are written from it."""

from __future__ import annotations

from dataclasses import dataclass


class EdgeSdkError(Exception):
    """Base of every error edgesdk reports to users. `exit_code` is the CLI's exit status (from
    EXIT_CODES); `log_path` is set when a failed build kept its log, and the message names it."""

    exit_code: int
    log_path: str | None = None

    def __str__(self) -> str:
        return super().__str__() + (f" (log: {self.log_path})" if self.log_path else "")


class ManifestError(EdgeSdkError):
    """The manifest (or a file it names) is invalid. `field` is the dotted path, e.g. preprocess.steps[1].resize.size."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


class InputError(EdgeSdkError):
    """Bad command-line input: a missing bundle, an unreadable image, a bundle that already exists."""


class UnsupportedOpError(EdgeSdkError):
    """The model uses an operator the chosen runtime cannot run, or the manifest a step the generated glue cannot write."""


class ParityError(EdgeSdkError):
    """The converted model or the generated SDK disagrees with the reference beyond tolerance."""

    def __init__(self, message: str, report_path: str | None = None):
        self.report_path = report_path
        super().__init__(message + (f" (report: {report_path})" if report_path else ""))


class IntegrityError(EdgeSdkError):
    """Checksums, signatures or decryption failed."""


class DecryptionError(IntegrityError):
    """An encrypted model that cannot be opened; `reason` is one of: truncated, not-an-envelope,
    unsupported-version, wrong-key, authentication (modified, or bound to another bundle)."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


class BackendUnavailable(EdgeSdkError):
    """A runtime or toolchain the request needs is not installed here; the message says how to get it."""


class ToolchainError(EdgeSdkError):
    """Building or running generated code failed (compiler, CMake, the sample binary)."""


class PackagingError(EdgeSdkError):
    """This edgesdk installation lacks a file it ships with (a template, an adapter, a sample app)."""


class MatrixCellsFailed(EdgeSdkError):
    """`edgesdk matrix`: one or more cells failed (each cell's own exit code is in the matrix's results)."""

    def __init__(self, cells: list[str], results: str):
        self.cells = cells
        super().__init__(f"{len(cells)} matrix cell(s) failed: {', '.join(cells)} (results: {results})")


@dataclass(frozen=True)
class ExitCode:
    code: int
    meaning: str
    errors: tuple[type[EdgeSdkError], ...] = ()


EXIT_CODES = (
    ExitCode(0, "ok"),
    ExitCode(1, "internal error or toolchain failure (compiler, CMake)", (EdgeSdkError, ToolchainError, PackagingError)),
    ExitCode(2, "bad input (manifest, files, flags) or an operator the runtime cannot run", (ManifestError, InputError, UnsupportedOpError)),
    ExitCode(3, "parity gate failed", (ParityError,)),
    ExitCode(4, "integrity or crypto failure", (IntegrityError, DecryptionError)),
    ExitCode(5, "backend unavailable", (BackendUnavailable,)),
    ExitCode(6, "a matrix cell failed (edgesdk matrix; each cell's own code is in its results)", (MatrixCellsFailed,)),
    ExitCode(130, "interrupted"),
)
INTERRUPTED = 130

for _row in EXIT_CODES:
    for _error in _row.errors:
        _error.exit_code = _row.code


def exit_codes_text() -> str:
    """The table as the CLI help prints it, one code a line."""
    return "exit codes:\n" + "\n".join(f"  {row.code:<4} {row.meaning}" for row in EXIT_CODES)


def exit_codes_line() -> str:
    """The table in one sentence, as README.md states it."""
    return "Exit codes: " + "; ".join(f"{row.code} {row.meaning}" for row in EXIT_CODES) + "."
