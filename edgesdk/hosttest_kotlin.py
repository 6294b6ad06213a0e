"""Check a bundle's Kotlin SDK on this machine.

Two compiles with kotlinc:
- the pure-Kotlin core (pre/post-processing, no android.*) + the golden .npy reader + a JVM golden
  runner, run on the host JVM: each golden case's decoded input goes through the core's
  pre-processing (byte and ARGB paths) and the golden raw outputs through its post-processing;
  the dumped tensor and printed result are held to the golden files by hosttest.compare_case.
  Inference itself is not run: the runtimes' Android libraries only load on Android.
- the Android layer + the runtime adapter against android.jar (API 23) and the runtime's Android
  library (its backend's `android_libraries()`), `-no-jdk -jvm-target 1.8`: every Bitmap/Context/
  runtime call must resolve. A runtime whose Android library is not reachable here is never
  compiled against a stand-in; the report says why (the backend's reason).

`--device adb:SERIAL` runs the module's instrumented GoldenTest on a phone or emulator instead.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any, ClassVar

from edgesdk import bundle as bundle_mod
from edgesdk import golden, naming
from edgesdk.backends import get_backend
from edgesdk.backends.base import cache_dir
from edgesdk.errors import BackendUnavailable, IntegrityError, ParityError, ToolchainError
from edgesdk.hosttest import HostTestReport, compare_case

KOTLINC_VERSION = "2.4.20"
ANDROID_API = 23
RUNNER_SOURCE = Path(__file__).resolve().parent / "kotlin_host" / "GoldenRunner.kt"
DECRYPT_RUNNER_SOURCE = Path(__file__).resolve().parent / "kotlin_host" / "DecryptRunner.kt"
COMPILE_SERVER_SOURCE = Path(__file__).resolve().parent / "kotlin_host" / "CompileServer.java"
# The compile server's heap: the kotlinc script's default (512M) makes a warm compiler collect
# garbage more than it compiles.
COMPILE_SERVER_JAVA_OPTS = ["-Xmx1g", "-Xms128M"]
SDK_DIR = "sdk/kotlin"
# kotlinc on the cores of a test module in one run: minutes when the machine is shared (the core
# grew with the app logic of docs/app-integration.md).
JVM_COMPILE_TIMEOUT_S = 900


def kotlinc() -> Path:
    path = Path(os.environ.get("KOTLINC", cache_dir() / f"kotlinc-{KOTLINC_VERSION}" / "node_modules" / "kotlin-compiler" / "bin" / "kotlinc"))
    if not path.is_file():
        raise BackendUnavailable(f"kotlinc is not at {path} (run `make native-deps`, or set KOTLINC)")
    if shutil.which("java") is None:
        raise BackendUnavailable("'java' is not on PATH: kotlinc and the golden runner need a JDK (run `make system-deps`)")
    return path


def android_jar() -> Path:
    path = Path(os.environ.get("ANDROID_JAR", cache_dir() / f"android-{ANDROID_API}" / "android.jar"))
    if not path.is_file():
        raise BackendUnavailable(f"android.jar is not at {path} (run `make native-deps`, or set ANDROID_JAR)")
    return path


def api_jars(runtime: str, work: Path) -> list[Path]:
    """The runtime's Android API as jars on the compile classpath: an .aar's classes.jar is
    extracted into `work`, a .jar is used as it is. Raises BackendUnavailable when the runtime's
    Android library is not here."""
    jars = []
    for library in get_backend(runtime).android_libraries():
        if library.suffix != ".aar":
            jars.append(library)
            continue
        out = work / f"{library.stem}-classes.jar"
        with zipfile.ZipFile(library) as z:
            out.write_bytes(z.read("classes.jar"))
        jars.append(out)
    return jars


def android_layer_problem(runtime: str) -> str | None:
    """Why the Android layer of a `runtime` bundle cannot be compile-checked here, or None."""
    return get_backend(runtime).android_layer_problem()


def toolchain_problem() -> str | None:
    try:
        kotlinc()
        android_jar()
    except BackendUnavailable as exc:
        return str(exc)
    return None


def package_of(name: str) -> str:
    return "ai.edgesdk." + naming.kotlin_package(name)


def core_sources(sdk_dir: Path) -> list[Path]:
    """The pure-Kotlin files: core/ and the golden .npy reader."""
    core = sorted(sdk_dir.glob("src/main/kotlin/**/core/*.kt"))
    npy = sorted(sdk_dir.glob("src/androidTest/kotlin/**/golden/Npy.kt"))
    if not core or len(npy) != 1:
        raise ToolchainError(f"{sdk_dir} is not a generated Kotlin SDK (no core/*.kt or golden/Npy.kt)")
    return core + npy


def write_runner(package: str, folder: Path, source: Path = RUNNER_SOURCE) -> Path:
    """A host runner (kotlin_host/) placed in the SDK's package, next to its core."""
    path = folder / package.replace(".", "_") / source.name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"package {package}.golden\n\nimport {package}.core.*\n\n" + source.read_text(encoding="utf-8"), encoding="utf-8")
    return path


def decrypt_with_core(jar: Path, package: str, sealed: Path, key_args: list[str]) -> str:
    """Open `sealed` through the compiled Kotlin core (DecryptRunner.kt); returns the plaintext's
    sha256, or raises IntegrityError (exit 4: a wrong key or any damage) / InputError (exit 2)."""
    from edgesdk.errors import InputError

    proc = subprocess.run(["java", "-cp", str(jar), f"{package}.golden.DecryptRunnerKt", str(sealed), *key_args], capture_output=True, text=True)
    message = proc.stderr.strip()
    if proc.returncode == 4:
        raise IntegrityError(f"the Kotlin SDK refused {sealed.name}: {message}")
    if proc.returncode == 2:
        raise InputError(f"the Kotlin SDK could not read the key: {message}")
    if proc.returncode != 0 or not proc.stdout.startswith("ok "):
        raise ToolchainError(f"the Kotlin decrypt runner failed (exit {proc.returncode}): {message[-2000:]}")
    return proc.stdout.split()[1]


def runner_class(package: str) -> str:
    return f"{package}.golden.GoldenRunnerKt"


def _compile_key(cmd: list[str], sources: list[Path], classpath: list[Path]) -> str:
    """What a compile's output depends on: the command's flags, every source's name and text,
    and the classpath jars (path, size, mtime -- they come from the versioned cache)."""
    digest = hashlib.sha256("\0".join(c for c in cmd if not c.endswith(".kt")).encode())
    for source in sources:
        digest.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    for jar in classpath:
        stat = jar.stat()
        digest.update(f"{jar}:{stat.st_size}:{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def compile_kotlin(sources: list[Path], out_jar: Path, classpath: list[Path] | None = None, android: bool = False) -> float:
    """kotlinc `sources` into `out_jar`; returns the seconds it took (0.0 when the same sources
    were compiled before: kotlinc takes about a minute here, so jars are kept in the cache, keyed
    by everything the output depends on; EDGESDK_KOTLIN_JAR_CACHE=0 turns that off). android=True
    compiles against android.jar only (no JDK classes), as on a device. The compiler runs in this
    process's compile server (CompileServer), warm after its first compile;
    EDGESDK_KOTLIN_COMPILE_SERVER=0 starts bin/kotlinc for every compile instead."""
    args = ["-nowarn"]
    if android:
        args += ["-no-jdk", "-jvm-target", "1.8"]
    else:
        args += ["-include-runtime"]
    if classpath:
        args += ["-cp", os.pathsep.join(str(p) for p in classpath)]
    compiler = kotlinc()
    cached = None
    if os.environ.get("EDGESDK_KOTLIN_JAR_CACHE", "1") != "0":
        cached = cache_dir() / "kotlin-jars" / f"{_compile_key([str(compiler), *args], sources, classpath or [])}.jar"
        if cached.is_file():
            shutil.copyfile(cached, out_jar)
            return 0.0
    args += [str(s) for s in sources] + ["-d", str(out_jar)]
    started = time.perf_counter()
    code, output = _run_compiler(compiler, args)
    if code != 0:
        tail = "\n".join(output.strip().splitlines()[-25:])
        raise ToolchainError(f"kotlinc failed{' (Android layer)' if android else ''}:\n{tail}")
    seconds = time.perf_counter() - started
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        shutil.copyfile(out_jar, partial)
        partial.replace(cached)  # atomic: a concurrent reader sees the whole jar or none
    return seconds


def _run_compiler(compiler: Path, args: list[str]) -> tuple[int, str]:
    """(exit code, the compiler's messages) of one kotlinc run with `args`."""
    server_jar = compiler.parent.parent / "lib" / "kotlin-compiler.jar"
    # One argument a line: an argument with a line break in it goes to a kotlinc of its own.
    if os.environ.get("EDGESDK_KOTLIN_COMPILE_SERVER", "1") != "0" and server_jar.is_file() and not any("\n" in a or "\r" in a for a in args):
        return CompileServer.shared(server_jar).compile(args, JVM_COMPILE_TIMEOUT_S)
    proc = subprocess.run([str(compiler), *args], capture_output=True, text=True, timeout=JVM_COMPILE_TIMEOUT_S)
    return proc.returncode, proc.stdout + proc.stderr


class CompileServer:
    """kotlinc's compiler in one JVM (kotlin_host/CompileServer.java) for every compile of this
    process: a fresh kotlinc spends about two thirds of a compile of a core starting and
    JIT-warming the compiler (measured: 59 s of CPU cold, 19-23 s warm). Same compiler, same
    arguments, same output. The server ends with this process (end of its stdin)."""

    _lock: ClassVar[threading.Lock] = threading.Lock()
    _servers: ClassVar[dict[Path, CompileServer]] = {}

    def __init__(self, compiler_jar: Path):
        self.compiler_jar = compiler_jar
        self.proc: subprocess.Popen | None = None
        self.pending = b""
        self.log = tempfile.TemporaryFile()  # the JVM's own stderr, for the error when it dies
        atexit.register(self._stop)

    @classmethod
    def shared(cls, compiler_jar: Path) -> CompileServer:
        with cls._lock:
            if compiler_jar not in cls._servers:
                cls._servers[compiler_jar] = cls(compiler_jar)
            return cls._servers[compiler_jar]

    def compile(self, args: list[str], timeout_s: float) -> tuple[int, str]:
        with self._lock:  # one compile at a time per server: the compiler sets System.out/err
            if self.proc is None or self.proc.poll() is not None:
                self._start()
            assert self.proc is not None and self.proc.stdin is not None
            try:
                self.proc.stdin.write(("\n".join([str(len(args)), *args]) + "\n").encode())
                self.proc.stdin.flush()
                header = self._read_until(b"\n", time.monotonic() + timeout_s)
                code, size = (int(v) for v in header.split())
                output = self._read_exactly(size, time.monotonic() + timeout_s).decode("utf-8", "replace")
            except (OSError, ValueError, TimeoutError) as exc:
                why = self._stop()
                raise ToolchainError(f"the kotlinc compile server failed ({exc}){why}") from exc
            if code not in (0, 1):  # an internal error or a crash: the next compile gets a fresh JVM
                self._stop()
            return code, output

    def _start(self) -> None:
        self.log.seek(0)
        self.log.truncate()
        cmd = ["java", *COMPILE_SERVER_JAVA_OPTS, "-cp", str(self.compiler_jar), str(COMPILE_SERVER_SOURCE)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)
        self.pending = b""

    def _read_until(self, end: bytes, deadline: float) -> bytes:
        while end not in self.pending:
            self._read_more(deadline)
        line, _, self.pending = self.pending.partition(end)
        return line

    def _read_exactly(self, size: int, deadline: float) -> bytes:
        while len(self.pending) < size:
            self._read_more(deadline)
        data, self.pending = self.pending[:size], self.pending[size:]
        return data

    def _read_more(self, deadline: float) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise TimeoutError("no answer in time")
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            raise OSError("the server ended")
        self.pending += chunk

    def _stop(self) -> str:
        """End the server; returns its stderr's tail, for an error message."""
        proc, self.proc = self.proc, None
        if proc is None:
            return ""
        if proc.stdin is not None:
            try:
                proc.stdin.close()
            except OSError:
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self.log.seek(0)
        tail = self.log.read().decode("utf-8", "replace").strip()[-2000:]
        return f": {tail}" if tail else ""


def run_runner(jar: Path, package: str, lines: list[str], work: Path) -> tuple[Path, dict[str, dict[str, Any]]]:
    """Run the golden runner on `lines` (see GoldenRunner.kt); returns the dump root and the
    printed record of each case id."""
    cases = work / "cases.tsv"
    cases.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dump = work / "dump"
    proc = subprocess.run(["java", "-cp", str(jar), runner_class(package), str(cases), str(dump)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolchainError(f"the Kotlin golden runner failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    printed = {}
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        printed[record["id"]] = record
    return dump, printed


def case_line(case_id: str, input_npy: Path, width: int, height: int, outputs: list[Path]) -> str:
    return "\t".join([case_id, str(input_npy), str(width), str(height)] + [str(p) for p in outputs])


def test_bundle(bundle: Path, build_dir: Path | None = None, key: str | None = None) -> tuple[HostTestReport, dict[str, Any]]:
    """Compile and run the bundle's Kotlin core on the golden vectors, compile-check its Android
    layer where the runtime's jar is here; returns the report, the compile seconds and
    `android_layer` (what happened to the Android layer). An encrypted model is opened through the
    core with `key` (env:NAME | file:PATH) first, and must decrypt to the model the SDK was made for."""
    from edgesdk.hosttest import key_arguments

    bundle = Path(bundle)
    sdk = bundle_mod.load_sdk_json(bundle)
    key_args = key_arguments(bundle, key)
    problems = bundle_mod.verify_checksums(bundle)
    if problems:
        raise IntegrityError(f"{bundle} failed its checksums: " + "; ".join(problems[:5]))
    index = golden.load_index(bundle)
    package = package_of(sdk["name"])
    sdk_dir = bundle / SDK_DIR
    gdir = bundle / golden.GOLDEN_DIR
    with tempfile.TemporaryDirectory(prefix="edgesdk-ktest-") as tmp:
        work = Path(build_dir) if build_dir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        runners = [write_runner(package, work / "src")] + ([write_runner(package, work / "src", DECRYPT_RUNNER_SOURCE)] if key_args else [])
        timings: dict[str, float | str] = {"jvm_compile_s": compile_kotlin(core_sources(sdk_dir) + runners, work / "core.jar")}
        if key_args:
            timings["decrypted_sha256"] = decrypt_with_core(work / "core.jar", package, bundle / sdk["model"]["file"], key_args)
        unchecked = android_layer_problem(sdk["runtime"])
        if unchecked:
            timings["android_layer"] = f"not compile-checked here ({unchecked})"
        else:
            android_sources = sorted(sdk_dir.glob("src/main/kotlin/**/*.kt")) + sample_app_sources(bundle, work / "src")
            timings["android_compile_s"] = compile_kotlin(android_sources, work / "android.jar", [android_jar(), *api_jars(sdk["runtime"], work)], android=True)
            checked = f"compile-checked against android.jar and the {get_backend(sdk['runtime']).display_name} Android library"
            needs_androidx = sample_app_androidx_files(bundle)
            if needs_androidx:
                checked += f"; not the sample app's {', '.join(needs_androidx)} (AndroidX and CameraX are not reachable here)"
            timings["android_layer"] = checked
        # The runner takes the outputs in model order (index.json keeps them by name, sorted).
        names = [o["name"] for o in sdk["io"]["outputs"]]
        lines = [case_line(c["id"], gdir / c["input"], c["width"], c["height"], [gdir / c["outputs"][n] for n in names]) for c in index["cases"]]
        dump, printed = run_runner(work / "core.jar", package, lines, work)
        cases = [compare_case(c, gdir, dump / c["id"], printed.get(c["id"], {}), index["tolerances"], check_outputs=False) for c in index["cases"]]
    return HostTestReport(str(bundle), cases), timings


ANDROIDX_IMPORT = re.compile(r"^import (androidx|kotlinx)\.", re.M)


def _sample_app_kotlin(bundle: Path) -> list[Path]:
    return sorted((bundle / "sample_app" / "app" / "src" / "main").glob("kotlin/**/*.kt"))


def sample_app_androidx_files(bundle: Path) -> list[str]:
    """The sample app's Kotlin files that use AndroidX (CameraX, ViewModel, coroutines): no
    AndroidX library is reachable here, so they are not compiled (never against stand-ins)."""
    return [p.name for p in _sample_app_kotlin(bundle) if ANDROIDX_IMPORT.search(p.read_text(encoding="utf-8"))]


def sample_app_sources(bundle: Path, folder: Path) -> list[Path]:
    """The sample app's plain-Android Kotlin files (those without AndroidX) plus the R class aapt
    would generate for its layouts (ids and layout names only), so they are compile-checked with
    the SDK."""
    app = bundle / "sample_app" / "app" / "src" / "main"
    skipped = set(sample_app_androidx_files(bundle))
    sources = [p for p in _sample_app_kotlin(bundle) if p.name not in skipped]
    if not sources:
        return []
    layouts = sorted(p.stem for p in app.glob("res/layout/*.xml"))
    ids = sorted({m for p in app.glob("res/layout/*.xml") for m in re.findall(r"@\+id/(\w+)", p.read_text(encoding="utf-8"))})
    declared = re.search(r"^package\s+([\w.]+)", sources[0].read_text(encoding="utf-8"), re.M)
    if declared is None:
        raise ToolchainError(f"{sources[0]} declares no package")
    package = declared.group(1)
    r = folder / "sample_R.kt"
    r.parent.mkdir(parents=True, exist_ok=True)

    def fields(names: list[str]) -> str:
        return "; ".join(f"const val {n} = {i + 1}" for i, n in enumerate(names))

    r.write_text(f"package {package}\n\nobject R {{\n    object layout {{ {fields(layouts)} }}\n    object id {{ {fields(ids)} }}\n}}\n", encoding="utf-8")
    return sources + [r]


# ---- on a device ----------------------------------------------------------------------------
def adb_commands(bundle: Path, serial: str, work: Path, gradle: str = "gradle") -> list[list[str]]:
    """What `edgesdk test --device adb:SERIAL` runs, in order: check the device, build the SDK
    module's instrumented test APK from a copy of the bundle (`work`) through the sample app's
    Gradle build, install it and run GoldenTest with `am instrument`."""
    sdk = bundle_mod.load_sdk_json(bundle)
    package = package_of(sdk["name"])
    apk = work / SDK_DIR / "build" / "outputs" / "apk" / "androidTest" / "debug" / "sdk-debug-androidTest.apk"
    adb = ["adb", "-s", serial]
    return [
        adb + ["wait-for-device"],
        [gradle, "-p", str(work / "sample_app"), ":sdk:assembleDebugAndroidTest"],
        adb + ["install", "-r", "-t", str(apk)],
        adb + ["shell", "am", "instrument", "-w", "-r", f"{package}.test/androidx.test.runner.AndroidJUnitRunner"],
    ]


def adb_problem(serial: str) -> str | None:
    if shutil.which("adb") is None:
        return "'adb' is not on PATH (Android platform-tools)"
    proc = subprocess.run(["adb", "-s", serial, "get-state"], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0 or proc.stdout.strip() != "device":
        return f"no adb device '{serial}' is reachable ({(proc.stderr or proc.stdout).strip() or 'not in device state'})"
    return None


def test_on_device(bundle: Path, serial: str) -> dict[str, Any]:
    bundle = Path(bundle)
    problem = adb_problem(serial)
    if problem:
        raise BackendUnavailable(problem)
    gradle = os.environ.get("GRADLE", "gradle")
    if shutil.which(gradle) is None:
        raise BackendUnavailable(f"'{gradle}' is not on PATH: building the test APK needs Gradle 8.9+ with the Android SDK (set GRADLE)")
    with tempfile.TemporaryDirectory(prefix="edgesdk-adb-") as tmp:
        work = Path(tmp) / "bundle"
        shutil.copytree(bundle, work)  # Gradle writes build/ folders; the bundle stays as its checksums say
        log = []
        for cmd in adb_commands(bundle, serial, work, gradle):
            proc = subprocess.run(cmd, capture_output=True, text=True)
            log.append(proc.stdout + proc.stderr)
            if proc.returncode != 0:
                raise ToolchainError(f"{' '.join(cmd[:4])} failed (exit {proc.returncode}):\n{log[-1].strip()[-3000:]}")
    instrument = log[-1]
    # am instrument exits 0 even when tests fail; its summary line says which.
    if "OK (" not in instrument or "FAILURES!!!" in instrument:
        raise ParityError(f"GoldenTest failed on {serial}:\n{instrument.strip()[-3000:]}")
    return {"bundle": str(bundle), "device": f"adb:{serial}", "passed": True, "instrument": instrument.strip().splitlines()[-1]}
