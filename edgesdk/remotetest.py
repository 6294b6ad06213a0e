"""`edgesdk test BUNDLE --device ssh:[USER@]HOST[:PORT]`: a bundle's C++ sample app built and run on
a board (ARM, Jetson) over ssh, its dumps held here to the golden vectors, as on the host.

The board needs cmake, a C++ compiler, tar, and the bundle's runtime as a C++ package; CMake finds
it through `--cmake-arg` definitions (e.g. `-Dncnn_DIR=/opt/ncnn/lib/cmake/ncnn`), and
`--remote-env KEY=VALUE` sets what the sample needs to run (e.g. LD_LIBRARY_PATH). Each step is one
ssh command line in BatchMode (no password prompt: use a key or an agent):

1. `mktemp -d` a work folder on the board;
2. stream the bundle into it (tar over the connection: nothing but tar is needed there);
3. configure and build the sample app (`cmake -S bundle/sample_app -B build`, `cmake --build`);
4. per golden case, `edgesdk-run --json --dump-dir dump/<case>`;
5. stream the dumps back, compare them here (hosttest.compare_case, the host run's tolerances);
6. remove the work folder, also after a failure.

`Remote` runs a command line through a prefix: `ssh ... HOST` for a board, `bash -c` for the same
command lines on this machine (how the tests run the whole sequence without a board).
"""

from __future__ import annotations

import io
import json
import re
import shlex
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgesdk import golden
from edgesdk.errors import BackendUnavailable, InputError, ToolchainError
from edgesdk.hosttest import SAMPLE_BINARY, CaseReport, HostTestReport, compare_case

SSH_PREFIX = "ssh:"
# No leading '-' anywhere: ssh would read `-oProxyCommand=...` as an option, not a host.
_DESTINATION = re.compile(r"^(?:[A-Za-z0-9_][A-Za-z0-9._-]*@)?[A-Za-z0-9][A-Za-z0-9.-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SSH_UNREACHABLE = 255  # ssh's own exit status when it cannot connect or authenticate
STEP_TIMEOUT_S = 1800


@dataclass(frozen=True)
class SshTarget:
    destination: str  # [user@]host
    port: int | None = None

    @classmethod
    def parse(cls, device: str) -> SshTarget:
        """`ssh:[USER@]HOST[:PORT]`, or an InputError saying what is allowed."""
        spec = device[len(SSH_PREFIX) :] if device.startswith(SSH_PREFIX) else ""
        host, _, port = spec.partition(":")
        if not _DESTINATION.match(host) or (port and not (port.isdigit() and 1 <= int(port) <= 65535)):
            raise InputError(f"--device '{device}' is not ssh:[USER@]HOST[:PORT] (a host name or address, a port 1 to 65535)")
        return cls(host, int(port) if port else None)

    def command_prefix(self) -> list[str]:
        port = ["-p", str(self.port)] if self.port else []
        return ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=15", *port, self.destination]


class Remote:
    """Runs command lines on the board through `prefix` (see the module's docstring)."""

    def __init__(self, prefix: list[str], name: str):
        self.prefix, self.name = prefix, name

    def run(self, argv: list[str], what: str, stdin: bytes | None = None) -> bytes:
        line = shlex.join(argv)
        try:
            proc = subprocess.run([*self.prefix, line], input=stdin, capture_output=True, timeout=STEP_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise ToolchainError(f"{what} on {self.name} did not finish within {STEP_TIMEOUT_S} s") from exc
        if proc.returncode == SSH_UNREACHABLE and self.prefix[0] == "ssh":
            raise BackendUnavailable(f"cannot reach {self.name} over ssh: {_tail(proc.stderr)}")
        if proc.returncode != 0:
            raise ToolchainError(f"{what} on {self.name} failed (exit {proc.returncode}): {_tail(proc.stdout + proc.stderr)}")
        return proc.stdout


def _tail(output: bytes, lines: int = 12) -> str:
    return " | ".join(output.decode("utf-8", "replace").strip().splitlines()[-lines:]) or "no output"


def parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not _ENV_NAME.match(key):
            raise InputError(f"--remote-env '{pair}' is not KEY=VALUE (KEY: letters, digits and _, not starting with a digit)")
        env[key] = value
    return env


def _tar(folder: Path, name: str) -> bytes:
    """`folder` as an uncompressed tar stream whose members start with `name/`."""
    with tempfile.TemporaryFile() as buffer:
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            archive.add(folder, arcname=name)
        buffer.seek(0)
        return buffer.read()


def test_bundle(bundle: Path, remote: Remote, cmake_args: list[str], env: dict[str, str]) -> HostTestReport:
    """Build and run the bundle's sample app through `remote`; compare here. The bundle's checksums
    were verified by the caller (api.test)."""
    index = golden.load_index(bundle)
    if not (bundle / "sample_app" / "CMakeLists.txt").is_file():
        raise InputError(f"{bundle} has no C++ sample app (sample_app/CMakeLists.txt)")
    work = remote.run(["mktemp", "-d", "/tmp/edgesdk-test.XXXXXX"], "making a work folder").decode().strip()
    if not work.startswith("/tmp/edgesdk-test."):
        raise ToolchainError(f"mktemp on {remote.name} printed {work!r}, not a work folder")
    try:
        remote.run(["tar", "-C", work, "-xf", "-"], "unpacking the bundle", stdin=_tar(bundle, "bundle"))
        build = f"{work}/build"
        remote.run(["cmake", "-S", f"{work}/bundle/sample_app", "-B", build, "-DCMAKE_BUILD_TYPE=Release", *cmake_args], "configuring the sample app")
        remote.run(["cmake", "--build", build, "-j", "2"], "building the sample app")
        env_prefix = ["env", *(f"{k}={v}" for k, v in env.items())] if env else []
        printed = {}
        for case in index["cases"]:
            dump = f"{work}/dump/{case['id']}"
            remote.run(["mkdir", "-p", dump], "making a dump folder")
            image = f"{work}/bundle/{golden.GOLDEN_DIR}/{case['image']}"
            out = remote.run([*env_prefix, f"{build}/{SAMPLE_BINARY}", "--bundle", f"{work}/bundle", "--input", image, "--json", "--dump-dir", dump], f"{SAMPLE_BINARY} on {case['image']}")
            try:
                printed[case["id"]] = json.loads(out)
            except json.JSONDecodeError as exc:
                raise ToolchainError(f"{SAMPLE_BINARY} on {remote.name} printed invalid JSON for {case['image']}: {exc}") from exc
        dumps = remote.run(["tar", "-C", f"{work}/dump", "-cf", "-", "."], "collecting the dumps")
    finally:
        try:
            remote.run(["rm", "-rf", work], "removing the work folder")
        except (ToolchainError, BackendUnavailable):
            pass  # the result (or the first error) matters more than a leftover folder in /tmp
    with tempfile.TemporaryDirectory(prefix="edgesdk-remote-") as tmp:
        local = Path(tmp)
        with tarfile.open(fileobj=io.BytesIO(dumps), mode="r:") as archive:
            archive.extractall(local, filter="data")  # refuses links, absolute paths and `..`
        gdir = bundle / golden.GOLDEN_DIR
        cases: list[CaseReport] = [compare_case(case, gdir, local / case["id"], printed[case["id"]], index["tolerances"]) for case in index["cases"]]
    return HostTestReport(str(bundle), cases)
