"""`edgesdk test BUNDLE --device qemu-aarch64`: an ARM bundle's C++ SDK and sample app
cross-compiled for aarch64 from the bundle alone (the CMake toolchain file it carries,
sdk/cpp/cmake/aarch64-linux-gnu.cmake, and the runtime's aarch64 C++ package from `make
native-deps`), its golden vectors run under qemu-user and compared as on the host (hosttest).

It shows the SDK computes the golden answers on a real aarch64 instruction set (the runtime's ARM
kernels, NEON included); it says nothing about speed: qemu translates every instruction.

The emulated board: Debian's qemu-user 7.2 passes this machine's x86 /proc/cpuinfo through, on
which ONNX Runtime's cpuinfo library crashes while the library loads. qemu looks every absolute path
up under its -L folder first, so the runs get a folder holding the aarch64 sysroot's entries and an
ARM /proc/cpuinfo (emulated_root). ONNX Runtime's aarch64 library (npm onnxruntime-node) also starts
its telemetry uploader in CreateEnv, which never returns under qemu; ORT_DISABLE_TELEMETRY=1 (the
library's own switch) turns it off for the runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from edgesdk import bundle as bundle_mod
from edgesdk.backends import get_backend
from edgesdk.backends.base import cache_dir
from edgesdk.errors import BackendUnavailable, InputError
from edgesdk.hosttest import SampleTarget

DEVICE = "qemu-aarch64"
ARCH = "aarch64"
# Debian's arm64 sysroot (libc, libstdc++ of g++-aarch64-linux-gnu): qemu's -L looks up the
# dynamic loader and every absolute library path there first.
SYSROOT = Path("/usr/aarch64-linux-gnu")
CROSS_COMPILER = "aarch64-linux-gnu-g++"
TOOLCHAIN_FILE = Path("sdk") / "cpp" / "cmake" / "aarch64-linux-gnu.cmake"
# Emulated, one golden image runs seconds; a run stuck past this is reported, not waited on.
RUN_TIMEOUT_S = 300.0
RUN_ENV = {"ORT_DISABLE_TELEMETRY": "1"}  # see the module's docstring
# /proc/cpuinfo of an ARM Cortex-A72 core (implementer 0x41 = Arm, part 0xd08), one entry per CPU.
CPUINFO_ENTRY = (
    "processor\t: {n}\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid\n"
    "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n"
)


def runner(root: Path = SYSROOT) -> tuple[str, ...]:
    """The command prefix that runs an aarch64 Linux binary on this machine, its absolute paths
    looked up under `root` first."""
    return (DEVICE, "-L", str(root))


def emulated_root(cache: Path | None = None) -> Path:
    """qemu's -L folder for the golden runs: links to the sysroot's entries and proc/cpuinfo,
    kept in the cache; staged and renamed into place when missing or out of date."""
    root = (cache or cache_dir()) / f"{DEVICE}-root"
    cpuinfo = "".join(CPUINFO_ENTRY.format(n=n) for n in range(os.cpu_count() or 1))
    links = {entry.name: entry for entry in SYSROOT.iterdir()}
    if _holds(root, links, cpuinfo):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{DEVICE}-root-", dir=root.parent))
    for name, target in links.items():
        (stage / name).symlink_to(target)
    (stage / "proc").mkdir()
    (stage / "proc" / "cpuinfo").write_text(cpuinfo, encoding="utf-8")
    shutil.rmtree(root, ignore_errors=True)
    try:
        stage.rename(root)
    except OSError:  # a concurrent run put its own (identical) folder there first
        shutil.rmtree(stage, ignore_errors=True)
    return root


def _holds(root: Path, links: dict[str, Path], cpuinfo: str) -> bool:
    cpuinfo_file = root / "proc" / "cpuinfo"
    if not cpuinfo_file.is_file() or cpuinfo_file.read_text(encoding="utf-8") != cpuinfo:
        return False
    return all((root / name).is_symlink() and (root / name).readlink() == target for name, target in links.items())


def tools_problem() -> str | None:
    """What this machine lacks to build and run aarch64 binaries, or None."""
    if shutil.which(DEVICE) is None:
        return f"'{DEVICE}' is not on PATH (Debian: apt-get install qemu-user; `make system-deps`)"
    if shutil.which(CROSS_COMPILER) is None:
        return f"'{CROSS_COMPILER}' is not on PATH (Debian: apt-get install g++-aarch64-linux-gnu; `make system-deps`)"
    if not (SYSROOT / "lib").is_dir():
        return f"no aarch64 sysroot at {SYSROOT} (Debian: apt-get install g++-aarch64-linux-gnu; `make system-deps`)"
    return None


def target(bundle: Path) -> SampleTarget:
    """The emulated aarch64 target of an ARM bundle, or the reason it cannot be tested here:
    InputError for a bundle that carries no aarch64 toolchain file, BackendUnavailable (naming what
    is missing and how to get it) for missing tools or a missing aarch64 runtime package."""
    toolchain = bundle / TOOLCHAIN_FILE
    sdk = bundle_mod.load_sdk_json(bundle)
    if "cpp" not in sdk.get("languages", []) or not toolchain.is_file():
        raise InputError(f"--device {DEVICE}: {bundle} has no C++ SDK for aarch64 ({TOOLCHAIN_FILE} is what arm and jetson bundles carry); build it with --target arm")
    problem = tools_problem()
    if problem:
        raise BackendUnavailable(f"--device {DEVICE}: {problem}")
    package = get_backend(sdk["runtime"]).cross_cpp_package(ARCH)
    definitions = (f"-DCMAKE_TOOLCHAIN_FILE={toolchain.resolve()}", *package.cmake_definitions)
    return SampleTarget(DEVICE, definitions, {**package.run_env(), **RUN_ENV}, runner(emulated_root()), RUN_TIMEOUT_S)
