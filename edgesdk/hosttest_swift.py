"""Check a bundle's Swift package on this machine.

Swift on Linux has Foundation but none of Apple's frameworks, so what runs here is the package's
plain-Swift core (pre- and post-processing, sdk.json facts): the Apple layer and the runtime
adapters compile away behind `#if canImport(...)`. Two things run, both on copies outside the
bundle (it stays exactly as its SHA256SUMS say):
- the package's own `swift test` (its golden XCTest, told where golden/ is by EDGESDK_GOLDEN_DIR);
- a golden runner (swift_host/GoldenRunner.swift, the twin of the Kotlin one), added to the copy
  as an executable target on the SDK's core (one build compiles both): each golden case's decoded input goes through the core's
  pre-processing, the golden raw outputs through its post-processing, and the dumps and printed
  results are held to the golden files by hosttest.compare_case, as for C++ and Kotlin.

Swift comes from `swift` on PATH (macOS, or a Linux install) or else from the Debian chroot that
swift_host/setup_chroot.sh makes (`make native-deps`), run through swift_host/run_in_chroot.sh.
`--device macos` and `--device simulator:NAME` run the package's tests, the Apple runtime tests
included, with xcodebuild on a Mac (`xcode_test_commands`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from edgesdk import bundle as bundle_mod
from edgesdk import golden, naming
from edgesdk.backends.base import cache_dir
from edgesdk.errors import BackendUnavailable, InputError, IntegrityError, ParityError, ToolchainError
from edgesdk.hosttest import HostTestReport, compare_case

SWIFT_HOST = Path(__file__).resolve().parent / "swift_host"
SETUP_SCRIPT = SWIFT_HOST / "setup_chroot.sh"
RUN_SCRIPT = SWIFT_HOST / "run_in_chroot.sh"
RUNNER_SOURCE = SWIFT_HOST / "GoldenRunner.swift"
BENCH_SOURCE = SWIFT_HOST / "PreprocessBench.swift"
SDK_DIR = "sdk/swift"
SWIFT_TIMEOUT_S = 900
# Inside the chroot the work folder is mounted here (run_in_chroot.sh).
CHROOT_WORK = "/mnt/work"
SIMULATOR_PREFIX = "simulator:"


def chroot_dir() -> Path:
    """Where setup_chroot.sh puts the chroot: keyed by the script, so a changed recipe makes a new one."""
    if "EDGESDK_SWIFT_CHROOT" in os.environ:
        return Path(os.environ["EDGESDK_SWIFT_CHROOT"])
    key = hashlib.sha256(SETUP_SCRIPT.read_bytes()).hexdigest()[:12]
    return cache_dir() / f"swift-chroot-{key}"


class Swift:
    """How `swift` is run here: natively, or inside the chroot with `work` mounted at CHROOT_WORK.
    Paths given to `run` are host paths under `work`; they are rewritten for the chroot."""

    def __init__(self, work: Path):
        self.work = work.resolve()
        native = shutil.which("swift")
        self.chroot = None if native else chroot_dir()
        if self.chroot is not None and not (self.chroot / ".edgesdk-ready").is_file():
            raise BackendUnavailable(toolchain_problem() or "no Swift toolchain")

    def path(self, host_path: Path) -> str:
        if self.chroot is None:
            return str(host_path)
        return CHROOT_WORK + "/" + host_path.resolve().relative_to(self.work).as_posix()

    def run(self, args: list[str], what: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """Run `args`; a non-zero exit raises ToolchainError unless check=False."""
        full_env = {**os.environ, **(env or {})}
        cmd = args if self.chroot is None else ["bash", str(RUN_SCRIPT), str(self.chroot), str(self.work), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=SWIFT_TIMEOUT_S)
        if check and proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
            raise ToolchainError(f"{what} failed (exit {proc.returncode}):\n{tail}")
        return proc


def toolchain_problem() -> str | None:
    """Why Swift packages cannot be built and tested here, or None."""
    if shutil.which("swift"):
        return None
    root = chroot_dir()
    if not (root / ".edgesdk-ready").is_file():
        return f"no 'swift' on PATH and no Swift chroot at {root} (run `make native-deps`, which creates it as root, or install Swift 5.9+)"
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return "running Swift in its chroot needs root and unshare (util-linux); or install Swift 5.9+ natively"
    return None


def module_of(name: str) -> str:
    return naming.swift_module(name)


def add_host_program(package: Path, module: str, source_file: Path = RUNNER_SOURCE, name: str = "GoldenRunner") -> str:
    """Add a host program (the golden runner by default) to a copy of the SDK package as an
    executable target on its core, so one build compiles the core for the program and the
    package's tests alike; returns the target's name."""
    folder = package / "EdgesdkHost" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.swift").write_text(f"import {module}Core\n" + source_file.read_text(encoding="utf-8"), encoding="utf-8")
    with (package / "Package.swift").open("a", encoding="utf-8") as manifest:
        manifest.write(
            "\n// Added by edgesdk's host test to this copy only: a host program on the SDK's core.\n"
            f'package.targets.append(.executableTarget(name: "{name}", dependencies: [.target(name: "{module}Core")], path: "EdgesdkHost/{name}"))\n'
        )
    return name


def _summary(output: str) -> str:
    """XCTest's last summary line (`Executed N tests, with 0 failures ...`)."""
    lines = [line.strip() for line in output.splitlines() if "Executed" in line]
    return lines[-1] if lines else output.strip().splitlines()[-1] if output.strip() else ""


def test_bundle(bundle: Path, build_dir: Path | None = None, key: str | None = None) -> tuple[HostTestReport, dict[str, Any]]:
    """Build the bundle's Swift package, run its own XCTest golden tests and the golden runner;
    returns the runner's report and timings plus `swift_test` (XCTest's summary line)."""
    bundle = Path(bundle)
    sdk = bundle_mod.load_sdk_json(bundle)
    if key is not None or sdk["model"].get("encrypted"):
        raise InputError("the Swift SDK does not open encrypted models yet; test its unencrypted build")
    problems = bundle_mod.verify_checksums(bundle)
    if problems:
        raise IntegrityError(f"{bundle} failed its checksums: " + "; ".join(problems[:5]))
    if not (bundle / SDK_DIR / "Package.swift").is_file():
        raise InputError(f"{bundle} has no Swift package ({SDK_DIR}/Package.swift)")
    problem = toolchain_problem()
    if problem:
        raise BackendUnavailable(problem)
    module = module_of(sdk["name"])
    index = golden.load_index(bundle)
    with tempfile.TemporaryDirectory(prefix="edgesdk-swifttest-") as tmp:
        work = Path(build_dir) if build_dir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        # The bundle's layout is kept in the copy: the package finds ../../golden by itself.
        copy = work / "bundle"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(bundle / SDK_DIR, copy / SDK_DIR)
        shutil.copytree(bundle / golden.GOLDEN_DIR, copy / golden.GOLDEN_DIR)
        package = copy / SDK_DIR
        runner = add_host_program(package, module)
        swift = Swift(work)
        # Outside the copy, so that a second test in the same build_dir rebuilds only what changed.
        scratch = ["--scratch-path", swift.path(work / "swift-build")]
        timings: dict[str, Any] = {}
        started = time.perf_counter()
        swift.run(["swift", "build", "--build-tests", "--package-path", swift.path(package), *scratch], "swift build --build-tests (the SDK, its XCTest and the golden runner)")
        timings["swift_build_s"] = round(time.perf_counter() - started, 1)
        names = [o["name"] for o in sdk["io"]["outputs"]]
        gdir = copy / golden.GOLDEN_DIR
        lines = ["\t".join([c["id"], swift.path(gdir / c["input"]), str(c["width"]), str(c["height"]), *(swift.path(gdir / c["outputs"][n]) for n in names)]) for c in index["cases"]]
        (work / "cases.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        dump = work / "dump"
        shutil.rmtree(dump, ignore_errors=True)
        proc = swift.run([swift.path(work / "swift-build" / "debug" / runner), swift.path(work / "cases.tsv"), swift.path(dump)], "the Swift golden runner")
        printed = {record["id"]: record for record in map(json.loads, proc.stdout.splitlines())}
        cases = [compare_case(c, bundle / golden.GOLDEN_DIR, dump / c["id"], printed.get(c["id"], {}), index["tolerances"], check_outputs=False) for c in index["cases"]]
        started = time.perf_counter()
        # Built above: a failing XCTest now means the SDK disagrees with its golden vectors (exit 3), not a toolchain problem.
        tested = swift.run(["swift", "test", "--skip-build", "--package-path", swift.path(package), *scratch], "swift test", env={"EDGESDK_GOLDEN_DIR": swift.path(gdir)}, check=False)
        timings["swift_test_s"] = round(time.perf_counter() - started, 1)
        timings["swift_test"] = _summary(tested.stdout + tested.stderr)
        timings["swift"] = "native" if swift.chroot is None else f"Debian chroot {swift.chroot}"
        if tested.returncode != 0:
            failures = [line.strip() for line in (tested.stdout + tested.stderr).splitlines() if "error:" in line or "failed" in line]
            runner_problems = [f"{c.id}: {p}" for c in cases for p in c.problems]
            raise ParityError("the Swift package's swift test failed on the golden vectors: " + "; ".join((failures or [timings["swift_test"]])[:8] + runner_problems[:4]))
    return HostTestReport(str(bundle), cases), timings


def bench_preprocess(bundle: Path, runs: int = 200) -> dict[str, Any]:
    """The Swift core's pre-processing time on the bundle's first golden image, built in release
    mode (swift_host/PreprocessBench.swift): {"runs", "preprocess_ms": {median, p10, p90}}."""
    bundle = Path(bundle)
    problem = toolchain_problem()
    if problem:
        raise BackendUnavailable(problem)
    module = module_of(bundle_mod.load_sdk_json(bundle)["name"])
    case = golden.load_index(bundle)["cases"][0]
    with tempfile.TemporaryDirectory(prefix="edgesdk-swiftbench-") as tmp:
        work = Path(tmp)
        shutil.copytree(bundle / SDK_DIR, work / "bundle" / SDK_DIR)
        shutil.copyfile(bundle / golden.GOLDEN_DIR / case["input"], work / "image.npy")
        package = work / "bundle" / SDK_DIR
        bench = add_host_program(package, module, BENCH_SOURCE, "PreprocessBench")
        swift = Swift(work)
        scratch = ["--scratch-path", swift.path(work / "swift-build")]
        swift.run(["swift", "build", "-c", "release", "--product", bench, "--package-path", swift.path(package), *scratch], "swift build -c release (pre-processing bench)")
        binary = work / "swift-build" / "release" / bench
        proc = swift.run([swift.path(binary), swift.path(work / "image.npy"), str(case["width"]), str(case["height"]), str(runs)], "the Swift pre-processing bench")
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "image": case["image"], "width": case["width"], "height": case["height"]}


# ---- on a Mac -------------------------------------------------------------------------------
def xcode_destination(device: str) -> str:
    """xcodebuild's -destination for `--device macos` / `--device simulator:NAME`."""
    if device == "macos":
        return "platform=macOS"
    if device.startswith(SIMULATOR_PREFIX) and device[len(SIMULATOR_PREFIX) :].strip():
        return f"platform=iOS Simulator,name={device[len(SIMULATOR_PREFIX) :]}"
    raise InputError(f"--device '{device}': a Swift SDK is tested with 'host', 'macos' or 'simulator:NAME' (an iOS simulator's name, e.g. simulator:iPhone 16)")


def xcode_test_commands(bundle: Path, device: str, work: Path) -> tuple[list[tuple[list[str], Path]], dict[str, str]]:
    """What `edgesdk test --device macos|simulator:NAME` runs on a Mac with Xcode, each command
    with its working folder, and their environment: the package's XCTest (golden and Apple runtime
    tests) through xcodebuild, in a copy of the bundle (`work`). xcodebuild hands
    TEST_RUNNER_-prefixed variables to the tests."""
    module = module_of(bundle_mod.load_sdk_json(bundle)["name"])
    test = ["xcodebuild", "test", "-scheme", f"{module}-Package", "-destination", xcode_destination(device), "-derivedDataPath", str(work / "DerivedData")]
    env = {"TEST_RUNNER_EDGESDK_GOLDEN_DIR": str(work / golden.GOLDEN_DIR), "TEST_RUNNER_EDGESDK_MODEL_DIR": str(work / "model")}
    return [(["xcodebuild", "-version"], work), (test, work / SDK_DIR)], env


def test_on_xcode(bundle: Path, device: str) -> dict[str, Any]:
    bundle = Path(bundle)
    xcode_destination(device)  # a bad --device value is an input error wherever this runs
    if shutil.which("xcodebuild") is None:
        raise BackendUnavailable(f"--device {device} runs xcodebuild: it needs a Mac with Xcode 15+ (this machine has none); `--device host` tests the Swift core here")
    with tempfile.TemporaryDirectory(prefix="edgesdk-xcode-") as tmp:
        work = Path(tmp) / "bundle"
        shutil.copytree(bundle, work)  # xcodebuild writes into the package folder; the bundle stays as its checksums say
        commands, env = xcode_test_commands(bundle, device, work)
        output = ""
        for cmd, cwd in commands:
            proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, **env})
            output = proc.stdout + proc.stderr
            if proc.returncode != 0:
                raise ParityError(f"{' '.join(cmd[:3])} failed (exit {proc.returncode}):\n{output.strip()[-3000:]}")
    return {"bundle": str(bundle), "device": device, "passed": True, "xctest": _summary(output)}
