"""One error hierarchy; the CLI maps each class to its documented exit code in one place."""
from __future__ import annotations


class EdgeSdkError(Exception):
    """Base of every error edgesdk reports to users. `exit_code` is the CLI's exit status."""

    exit_code = 1


class ManifestError(EdgeSdkError):
    """The manifest (or a file it names) is invalid. `field` is the dotted path, e.g. preprocess.steps[1].resize.size."""

    exit_code = 2

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


class InputError(EdgeSdkError):
    """Bad command-line input: a missing bundle, an unreadable image, a bundle that already exists."""

    exit_code = 2


class UnsupportedOpError(EdgeSdkError):
    """The model uses an operator the chosen runtime cannot run, or the manifest a step the generated glue cannot write."""

    exit_code = 2


class ParityError(EdgeSdkError):
    """The converted model or the generated SDK disagrees with the reference beyond tolerance."""

    exit_code = 3

    def __init__(self, message: str, report_path: str | None = None):
        self.report_path = report_path
        super().__init__(message + (f" (report: {report_path})" if report_path else ""))


class IntegrityError(EdgeSdkError):
    """Checksums, signatures or decryption failed."""

    exit_code = 4


class BackendUnavailable(EdgeSdkError):
    """A runtime or toolchain the request needs is not installed here; the message says how to get it."""

    exit_code = 5


class ToolchainError(EdgeSdkError):
    """Building or running generated code failed (compiler, CMake, the sample binary)."""

    exit_code = 1


class PackagingError(EdgeSdkError):
    """This edgesdk installation lacks a file it ships with (a template, an adapter, a sample app)."""

    exit_code = 1


EXIT_CODES = {
    "ok": 0,
    "internal error": EdgeSdkError.exit_code,
    "bad input": ManifestError.exit_code,
    "parity gate failed": ParityError.exit_code,
    "integrity or crypto failure": IntegrityError.exit_code,
    "backend unavailable": BackendUnavailable.exit_code,
}
