"""What every backend provides, and the artifact it hands to the rest of the build.

A runtime is a plug-in: this module's `Backend` (one subclass per runtime, in
`edgesdk/backends/<runtime>.py`), its adapters in `edgesdk/runtimes/<runtime>/<lang>/`, and one
line in the registry (`edgesdk/backends/__init__.py`). Everything the rest of edgesdk knows about
a runtime is asked of its backend: host tests, the bench, the sample apps, the generated READMEs
and the quantize stage never name a runtime. docs/adding-a-runtime.md is the recipe.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesdk import shapes
from edgesdk.errors import BackendUnavailable

if TYPE_CHECKING:
    from edgesdk.manifest import Manifest
    from edgesdk.sources import SourceModel

Runner = Callable[[dict[str, np.ndarray]], list[np.ndarray]]


@dataclass
class Artifact:
    """The converted model: files under one folder; `main` is what the glue loads."""

    folder: Path
    main: str
    files: list[str]
    runtime: str
    runtime_versions: dict[str, str] = field(default_factory=dict)  # e.g. {"python": "1.32.0", "cpp": "1.29.0"}
    notes: list[str] = field(default_factory=list)
    # The model outputs' names in the manifest's order, for runners of formats that keep outputs
    # by name only (MNN's sessions map them by name).
    output_names: list[str] = field(default_factory=list)
    # How the source reached this format when it took a converter of another framework first
    # (an ONNX source to LiteRT: "onnx -> onnx2fx <version> -> torch.export -> LiteRT"); "" otherwise.
    route: str = ""
    # The runtime settings the host runner applies, as sdk.json records them in `runtime_options`
    # (ncnn: its Net options); set by Backend.configure, read back from sdk.json by `bench`.
    runtime_options: dict[str, Any] = field(default_factory=dict)

    @property
    def main_path(self) -> Path:
        return self.folder / self.main


@dataclass(frozen=True)
class ImageFeed:
    """The converted model takes an image and does the manifest's normalize itself (a Core ML
    ImageType): the SDK runs `steps` (the manifest's steps before normalize, then a cast to
    uint8), whose result is the HWC uint8 image of `height` x `width` in channel order `color`."""

    steps: list[dict]
    color: str
    height: int
    width: int


@dataclass(frozen=True)
class CppPackage:
    """How a host build finds a runtime's C/C++ package: the CMake definitions its adapter's
    runtime.cmake reads, and the folders of the shared libraries a built program loads."""

    cmake_definitions: tuple[str, ...]
    library_dirs: tuple[Path, ...]

    def run_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """`base` (default: this process's environment) with the libraries on LD_LIBRARY_PATH."""
        env = dict(os.environ if base is None else base)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [*map(str, self.library_dirs), env.get("LD_LIBRARY_PATH")]))
        return env


def first_output_shape_mismatch(run: Runner, source: SourceModel, manifest: Manifest) -> tuple[int, tuple, tuple] | None:
    """(index, the model's shape, the artifact's shape) of the first output whose shape the
    converted artifact changed, for a zero input; None when all match. Converters may fold or
    drop an axis the model keeps, and then the SDK's tensors would not be the model's."""
    spec = manifest.model.inputs[0]
    feeds = {spec.name: np.zeros(shapes.example_shape(spec, manifest.pre_steps()), dtype=np.float32)}
    want = [o.shape for o in source.reference_runner()(feeds)]
    got = [o.shape for o in run(feeds)]
    return next(((k, w, g) for k, (w, g) in enumerate(zip(want, got)) if w != g), None)


def cache_dir() -> Path:
    """Where native packages are fetched to (`make native-deps`; EDGESDK_CACHE moves it)."""
    return Path(os.environ.get("EDGESDK_CACHE", Path.home() / ".cache" / "edgesdk"))


class Backend:
    """One runtime. Subclasses set the class attributes and implement `is_available`, `convert`
    and `runner`; the other methods default to "this runtime has no such thing" and are
    overridden by runtimes that have it."""

    name: str
    # Human name used in messages and generated docs ("ONNX Runtime").
    display_name: str
    # The pip extra that installs its Python side: `pip install 'edgesdk[<extra>]'`.
    extra: str
    # Languages it has adapters for under edgesdk/runtimes/<name>/<lang>/; a bundle is generated
    # in those of them its target uses, and a missing adapter folder is an error.
    languages: tuple[str, ...] = ()
    # Module holding its quantization translator (`TRANSLATOR`), or None: no quantization.
    quantizer: str | None = None
    # How it takes a model input with symbolic dims (`edgesdk targets` shows it), or None: it
    # takes a fixed input shape only, and a manifest with a symbolic dim is refused at build time.
    dynamic_shapes: str | None = None

    # ---- build ---------------------------------------------------------------------------
    def is_available(self) -> tuple[bool, str]:
        """(True, versions) or (False, why not and how to fix it)."""
        raise NotImplementedError

    def require(self) -> None:
        ok, why = self.is_available()
        if not ok:
            raise BackendUnavailable(f"runtime '{self.name}' is not installed: {why}")

    # True: `convert` reads `quantization` (the whole block goes into the conversion's cache key).
    convert_reads_quantization = False

    def convert(self, source: SourceModel, manifest: Manifest, out_dir: Path) -> Artifact:
        """Write the runtime artifact into out_dir."""
        raise NotImplementedError

    def runner(self, artifact: Artifact, threads: int = 1) -> Runner:
        """Run the artifact on the host in the real runtime, for parity."""
        raise NotImplementedError

    def check_manifest(self, manifest: Manifest) -> None:
        """Refuse what this runtime can never take from `manifest` (ManifestError), before the
        model is loaded or anything is written; `validate` and `build` both call it."""

    def host_prediction(self) -> str | None:
        """None when `runner` predicts on this host; else why it cannot (Core ML on Linux). The
        build then checks the artifact with `validate` instead of the parity gate, records
        `{"status": "not_run", "reason", "validated"}` as the parity report, and the golden
        vectors carry the reference's outputs."""
        return None

    def validate(self, artifact: Artifact, manifest: Manifest, source: SourceModel) -> dict:
        """What the build checks instead of predicting, for a runtime without host prediction:
        a dict of what was checked, with `problems` (a list of strings, empty when it passed)."""
        raise NotImplementedError(f"runtime '{self.name}' predicts on the host; it has no validation-only check")

    def image_feed(self, manifest: Manifest) -> ImageFeed | None:
        """How the SDK feeds the converted model when it takes the image before normalize
        instead of the manifest's tensor; None (the default): the manifest's tensor. The golden
        vectors, the parity gate's candidate and the generated glue follow it."""
        return None

    def configure(self, artifact: Artifact, manifest: Manifest) -> Artifact:
        """The artifact with the runtime settings `manifest` chooses (ncnn: fp16 storage and
        arithmetic), applied after quantization (whose measurements compare with the float model
        run as converted, so that reference stays float) and before the parity gate, so the gate,
        the golden vectors and the glue all run with them. By default unchanged."""
        return artifact

    def device_precision(self, artifact: Artifact) -> str:
        """The lowest precision the runtime may store or compute in on a device with these settings
        ("float32", "float16", "bfloat16"): it loosens the golden check (parity.golden_tolerances),
        since the golden vectors come from a host that may lack it."""
        return "float32"

    def runtime_options(self, artifact: Artifact, manifest: Manifest) -> dict:
        """Settings baked into the artifact that sdk.json records as `runtime_options` (Core ML:
        deployment target, compute precision); empty (and not written) for most runtimes."""
        return {}

    def glue_runtime_version(self, artifact: Artifact) -> str:
        """The runtime release the generated glue is written for and checks at load (its version
        guard): by default the C/C++ library the C++ adapter links."""
        return artifact.runtime_versions.get("cpp", "")

    # ---- host checks of the generated glue --------------------------------------------------
    def cpp_package(self) -> CppPackage:
        """The runtime's C/C++ package on this machine, for compiling and running the C++ SDK."""
        raise BackendUnavailable(f"runtime '{self.name}' has no C++ package for host builds")

    def cross_cpp_package(self, arch: str) -> CppPackage:
        """The runtime's C/C++ package for another CPU (`aarch64`), to cross-compile the C++ SDK
        with the target's CMake toolchain file (edgesdk/cross/)."""
        raise BackendUnavailable(f"no {self.display_name} C++ package for {arch} here")

    def android_libraries(self) -> list[Path]:
        """The runtime's Android libraries (.aar or .jar) holding its Java/Kotlin API, to
        compile-check the Kotlin SDK's Android layer against; never stand-ins."""
        raise BackendUnavailable(f"no {self.display_name} Android library here")

    def android_layer_problem(self) -> str | None:
        """Why the Android layer of this runtime's Kotlin SDK cannot be compile-checked here."""
        try:
            self.android_libraries()
        except BackendUnavailable as exc:
            return str(exc)
        return None

    # ---- native packages ----------------------------------------------------------------------
    def fetch_native(self, cache: Path) -> None:
        """Fetch the runtime's C/C++/Android packages into `cache` (`make native-deps`); nothing
        by default: runtimes whose native package ships with their wheel need no fetch."""
