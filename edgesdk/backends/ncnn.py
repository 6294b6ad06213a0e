"""ncnn backend (ARM's default): the model goes through pnnx to an ncnn graph, `model.ncnn.param`
(text) + `model.ncnn.bin` (weights), and runs in float32; `quantization.mode: fp16` stores the
weights in fp16 and turns on ncnn's fp16 storage and arithmetic (net_options, configure).

Conversion calls the pnnx binary (`pnnx.EXEC_PATH`; its Python wrapper fails on nn.Sequential)
on a traced TorchScript file: every torch source is brought to one ExportedProgram, whose module is
traced (pnnx crashes on scripted TorchScript and does not read .pt2). ONNX sources go to pnnx as
they are (pnnx reads ONNX too). pnnx writes fp16 weights by default: `fp16=0` keeps them fp32.

Blob names are pnnx's positional ones, `in0` for the input and `out<k>` for output k in the
manifest's order; the runner and the C++ adapter map them to the manifest's names, so the order,
not a name, ties a blob to its tensor. Tensors carry no batch axis in ncnn: the manifest's input
is [1, ...], fed without the 1, and outputs come back with a leading 1.

Host parity runs the files in the `ncnn` Python package with the options of the C++ adapter
(FP32_OPTIONS: fp16 and bf16 storage, packing and arithmetic off; otherwise a CPU with fp16 or
bf16 support runs reduced precision). The C++ glue links the ncnn C++ library built from the
`ncnn` sdist of the same release (CPP_RUNTIME_VERSION) by `edgesdk/runtimes/ncnn/build_native.sh`
(`make native-deps`) into the cache; the same script cross-builds it for aarch64 with the toolchain
file ARM bundles carry (edgesdk/cross/), checked under qemu-aarch64, for `--device qemu-aarch64`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path

import numpy as np

from edgesdk import buildlog, shapes
from edgesdk.backends.base import Artifact, Backend, CppPackage, Runner, cache_dir, first_output_shape_mismatch
from edgesdk.backends.torch_export import example_inputs, exported_program
from edgesdk.bundle import sha256_file
from edgesdk.errors import BackendUnavailable, ManifestError, UnsupportedOpError
from edgesdk.manifest import Manifest, limits
from edgesdk.package_data import CROSS_TOOLCHAINS_DIR
from edgesdk.sources import SourceModel
from edgesdk.targets import TARGETS

# The ncnn release the C++ glue is built and checked against: the Python `ncnn` pin of the extra,
# and the source release build_native.sh compiles (its sdist, pinned by sha256 below).
CPP_RUNTIME_VERSION = "1.0.20261020"
SDIST_SHA256 = "ad8cdd63e9755cfa8e23b9b6d9ce46156077d80298a89e7c3ba325ffccfca200"
PARAM_FILE = "model.ncnn.param"
BIN_FILE = "model.ncnn.bin"
INPUT_BLOB = "in0"
OUTPUT_BLOB = "out{}"
# Float32 end to end. The C++ adapter sets the same options (tests/backends/test_ncnn.py holds
# the two to each other).
FP32_OPTIONS = {
    "use_fp16_storage": False,
    "use_fp16_packed": False,
    "use_fp16_arithmetic": False,
    "use_bf16_storage": False,
    "use_bf16_packed": False,
    "use_vulkan_compute": False,
}
PRECISION = "fp32: pnnx fp16=0; use_fp16_storage/packed/arithmetic and use_bf16_storage/packed off"
# `quantization.mode: fp16`: fp16 weights in the .bin (what pnnx fp16=1 writes) and, unless
# `runtime_options.ncnn` says otherwise, ncnn's own default options: fp16 storage, packing and
# arithmetic on (x86 CPUs with F16C store the weights in fp16; ARMv8.2 CPUs with asimdhp also
# store activations and compute in fp16), bf16 off.
FP16_OPTIONS = {**FP32_OPTIONS, "use_fp16_storage": True, "use_fp16_packed": True, "use_fp16_arithmetic": True}
# sdk.json `runtime_options` key of the options an fp16 bundle's runner and C++ adapter set.
NET_OPTIONS = "net_options"
OPTIONS_FIELD = "runtime_options.ncnn"
BUILD_SCRIPT = Path(__file__).resolve().parent.parent / "runtimes" / "ncnn" / "build_native.sh"
CROSS_ARCH = "aarch64"  # the CPU of ARM bundles (targets: arm's toolchain file)
PNNX_TIMEOUT_S = 900


def package_root() -> Path:
    """The ncnn C++ package folder (include/ncnn, lib/libncnn.a, lib/cmake/ncnn)."""
    return Path(os.environ.get("NCNN_ROOT", cache_dir() / f"ncnn-{CPP_RUNTIME_VERSION}"))


def cross_package_root(arch: str, cache: Path | None = None) -> Path:
    """The ncnn C++ package built for another CPU, keyed by version and architecture."""
    return (cache or cache_dir()) / f"ncnn-{CPP_RUNTIME_VERSION}-linux-{arch}"


def _cmake_package(root: Path, how: str) -> CppPackage:
    config = root / "lib" / "cmake" / "ncnn"
    if not (root / ".ok").is_file() or not (config / "ncnnConfig.cmake").is_file():
        raise BackendUnavailable(f"the ncnn C++ library is not built at {root} ({how})")
    # A static library: the built program needs no library path.
    return CppPackage((f"-Dncnn_DIR={config}",), ())


def _versions() -> dict[str, str]:
    """Raises PackageNotFoundError when the extra is missing."""
    return {"python": metadata.version("ncnn"), "pnnx": metadata.version("pnnx")}


class NcnnBackend(Backend):
    name = "ncnn"
    display_name = "ncnn"
    extra = "ncnn"
    languages = ("cpp",)
    quantizer = "edgesdk.quantize.ncnn"  # calibrated int8 as ncnn2table + ncnn2int8 do it, computed by edgesdk
    dynamic_shapes = "pnnx converts at two sizes (inputshape, inputshape2) so shape arithmetic stays dynamic; ncnn runs any size, the SDK feeds each image's"

    def is_available(self) -> tuple[bool, str]:
        try:
            versions = _versions()
            import ncnn  # noqa: F401
            import pnnx
        except (metadata.PackageNotFoundError, ImportError):
            return False, "pip install 'edgesdk[ncnn]' (pnnx converts, the ncnn package runs host parity)"
        if not os.access(pnnx.EXEC_PATH, os.X_OK):
            return False, f"the pnnx package has no executable converter at {pnnx.EXEC_PATH}: reinstall pnnx"
        return True, (f"pnnx {versions['pnnx']} (convert), ncnn {versions['python']} (host parity); C++ glue targets ncnn {CPP_RUNTIME_VERSION}, built from its source by `make native-deps`")

    def check_manifest(self, manifest: Manifest) -> None:
        """Reduced-precision options change the numbers: they are a choice of `quantization.mode:
        fp16` (gated as fp16), never a float32 or int8 bundle's."""
        if manifest.quantization.mode == "fp16":
            return
        chosen = manifest.runtime_options.ncnn.model_dump(exclude_none=True)
        for option, value in chosen.items():
            if value:
                raise ManifestError(f"{OPTIONS_FIELD}.{option}", f"reduced precision needs quantization.mode fp16 (mode '{manifest.quantization.mode}' is float32 in ncnn); allowed: false or unset")

    def configure(self, artifact: Artifact, manifest: Manifest) -> Artifact:
        if manifest.quantization.mode != "fp16":
            return artifact
        options = net_options(manifest)
        on = [name for name, value in options.items() if value]
        precision = "fp16: fp16 weights (pnnx fp16=1); " + (", ".join(on) + " on" if on else "fp16 and bf16 storage and arithmetic off: float32 compute")
        return replace(
            artifact,
            runtime_options={NET_OPTIONS: options},
            runtime_versions={**artifact.runtime_versions, "precision": precision},
            notes=[precision, *(note for note in artifact.notes if note != PRECISION)],
        )

    def device_precision(self, artifact: Artifact) -> str:
        """bf16 storage, else fp16 storage or arithmetic (ARMv8.2 computes in fp16; x86 cannot)."""
        options = artifact.runtime_options.get(NET_OPTIONS, FP32_OPTIONS)
        if options["use_bf16_storage"]:
            return "bfloat16"
        return "float16" if options["use_fp16_storage"] or options["use_fp16_arithmetic"] else "float32"

    def runtime_options(self, artifact: Artifact, manifest: Manifest) -> dict:
        """An fp16 bundle's Net options (the runner and the C++ adapter set exactly these); float32
        and int8 bundles record their fixed options in runtime_versions.precision only."""
        return dict(artifact.runtime_options)

    def convert(self, source: SourceModel, manifest: Manifest, out_dir: Path) -> Artifact:
        self.require()
        _check_manifest_io(manifest)
        with tempfile.TemporaryDirectory(prefix="edgesdk-pnnx-") as tmp:
            work = Path(tmp)
            model_file = _pnnx_input(source, manifest, work)
            _run_pnnx(model_file, manifest, work, source.origin)
            graph = read_param(work / PARAM_FILE)
            _check_graph(graph, manifest, source.origin)
            out_dir.mkdir(parents=True, exist_ok=True)
            for name in (PARAM_FILE, BIN_FILE):
                shutil.copyfile(work / name, out_dir / name)
        artifact = Artifact(
            folder=out_dir,
            main=PARAM_FILE,
            files=[PARAM_FILE, BIN_FILE],
            runtime=self.name,
            runtime_versions={**_versions(), "cpp": CPP_RUNTIME_VERSION, "precision": PRECISION},
            notes=[
                PRECISION,
                f"blobs: {INPUT_BLOB} = {manifest.model.inputs[0].name}; " + ", ".join(f"{OUTPUT_BLOB.format(k)} = {o.name}" for k, o in enumerate(manifest.model.outputs)),
                "ncnn tensors have no batch axis: the input is fed without its leading 1, outputs get one back",
            ],
        )
        _check_output_shapes(self.runner(artifact), source, manifest)
        return artifact

    def runner(self, artifact: Artifact, threads: int = 1) -> Runner:
        import ncnn

        param = artifact.main_path
        outputs = [OUTPUT_BLOB.format(k) for k in range(len(read_param(param).outputs))]
        net = open_net(param, threads, artifact.runtime_options.get(NET_OPTIONS, FP32_OPTIONS))

        def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            (value,) = feeds.values()
            extractor = net.create_extractor()
            # ncnn.Mat refers to the array's memory, which must outlive the extraction; a Mat has no batch axis.
            image = np.ascontiguousarray(value[0], dtype=np.float32)
            extractor.input(INPUT_BLOB, ncnn.Mat(image))
            results = []
            for blob in outputs:
                status, mat = extractor.extract(blob)
                if status != 0:
                    raise RuntimeError(f"ncnn could not compute blob '{blob}' (status {status})")
                results.append(np.array(mat)[None])  # np.array copies: the Mat belongs to the extractor
            return results

        return run

    def cpp_package(self) -> CppPackage:
        return _cmake_package(package_root(), "run `make native-deps`, or set NCNN_ROOT to an ncnn install prefix holding lib/cmake/ncnn and a .ok file")

    def cross_cpp_package(self, arch: str) -> CppPackage:
        if arch != CROSS_ARCH:
            raise BackendUnavailable(f"no ncnn C++ package for {arch} ({CROSS_ARCH} only)")
        return _cmake_package(cross_package_root(arch), "run `make native-deps` with g++-aarch64-linux-gnu and qemu-user installed (`make system-deps`)")

    def fetch_native(self, cache: Path) -> None:
        host, cross = cache / f"ncnn-{CPP_RUNTIME_VERSION}", cross_package_root(CROSS_ARCH, cache)
        if (host / ".ok").is_file() and (cross / ".ok").is_file():
            return
        sdist = fetch_sdist(cache)
        subprocess.run(["bash", str(BUILD_SCRIPT), CPP_RUNTIME_VERSION, str(sdist), str(host)], check=True)
        if (cross / ".ok").is_file():
            return
        from edgesdk import qemutest

        problem = qemutest.tools_problem()
        if problem:  # the host build is what most tests need; say why the aarch64 one is missing
            print(f"ncnn for {CROSS_ARCH} not built: {problem}", file=sys.stderr)
            return
        toolchain = CROSS_TOOLCHAINS_DIR / f"{TARGETS['arm'].cross_toolchain}.cmake"
        env = {**os.environ, "CHECK_RUNNER": " ".join(qemutest.runner())}
        subprocess.run(["bash", str(BUILD_SCRIPT), CPP_RUNTIME_VERSION, str(sdist), str(cross), f"-DCMAKE_TOOLCHAIN_FILE={toolchain}"], check=True, env=env)


def net_options(manifest: Manifest) -> dict[str, bool]:
    """The Net options of a bundle: FP32_OPTIONS, or for `quantization.mode: fp16` FP16_OPTIONS
    with what `runtime_options.ncnn` sets."""
    if manifest.quantization.mode != "fp16":
        return dict(FP32_OPTIONS)
    return {**FP16_OPTIONS, **manifest.runtime_options.ncnn.model_dump(exclude_none=True)}


def open_net(param: Path, threads: int = 1, options: dict[str, bool] = FP32_OPTIONS):
    """`param` and its .bin (model.ncnn.param -> model.ncnn.bin) in an ncnn.Net with the options the
    C++ adapter sets (FP32_OPTIONS unless the bundle records others); `threads` 0 keeps ncnn's
    default, its count of big cores."""
    import ncnn

    weights = param.with_suffix(".bin")
    net = ncnn.Net()
    for option, value in options.items():
        setattr(net.opt, option, value)
    if threads > 0:
        net.opt.num_threads = threads
    if net.load_param(str(param)) != 0 or net.load_model(str(weights)) != 0:
        raise UnsupportedOpError(f"ncnn could not load {param.name} + {weights.name} (see the ncnn messages above)")
    return net


# ---- the converted graph ----------------------------------------------------------------------
@dataclass
class Layer:
    """One line of an ncnn text .param: `type name bottoms tops bottom... top... key=value...`."""

    kind: str
    name: str
    bottoms: list[str]
    tops: list[str]
    params: dict[str, str] = field(default_factory=dict)  # key -> value text, in file order

    def int_param(self, key: int, default: int = 0) -> int:
        return int(self.params.get(str(key), default))

    def line(self) -> str:
        fields = [self.kind, self.name, str(len(self.bottoms)), str(len(self.tops)), *self.bottoms, *self.tops]
        return " ".join([*fields, *(f"{k}={v}" for k, v in self.params.items())])


@dataclass(frozen=True)
class ParamGraph:
    """What edgesdk reads from an ncnn .param: layer types, input and output blobs."""

    layer_types: list[str]
    inputs: list[str]  # tops of the Input layers, in file order
    outputs: list[str]  # blobs no layer consumes, in file order


_PARAM_MAGIC = "7767517"


def read_layers(path: Path) -> tuple[str, list[Layer]]:
    """(the `layers blobs` count line, the layers) of an ncnn text .param: `magic`, the counts,
    then one layer per line."""
    lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines or lines[0] != [_PARAM_MAGIC] or len(lines) < 2:
        raise UnsupportedOpError(f"{path.name} is not an ncnn text param file (magic {_PARAM_MAGIC})")
    layers = []
    for tokens in lines[2:]:
        n_bottoms, n_tops = int(tokens[2]), int(tokens[3])
        ends = 4 + n_bottoms + n_tops
        params = dict(token.split("=", 1) for token in tokens[ends:])
        layers.append(Layer(tokens[0], tokens[1], tokens[4 : 4 + n_bottoms], tokens[4 + n_bottoms : ends], params))
    return " ".join(lines[1]), layers


def write_layers(path: Path, counts: str, layers: Sequence[Layer]) -> None:
    path.write_text("\n".join([_PARAM_MAGIC, counts, *(layer.line() for layer in layers)]) + "\n", encoding="utf-8")


def read_param(path: Path) -> ParamGraph:
    """The layer types, input and output blobs of an ncnn text .param."""
    _, layers = read_layers(path)
    consumed = {blob for layer in layers for blob in layer.bottoms}
    produced = [blob for layer in layers for blob in layer.tops]
    inputs = [blob for layer in layers if layer.kind == "Input" for blob in layer.tops]
    return ParamGraph([layer.kind for layer in layers], inputs, [blob for blob in produced if blob not in consumed])


# ---- conversion -------------------------------------------------------------------------------
def _check_manifest_io(manifest: Manifest) -> None:
    """ncnn runs float32 tensors without a batch axis, of at most 4 dimensions."""
    for i, spec in enumerate(manifest.model.inputs):
        field = f"model.inputs[{i}]"
        if spec.dtype != "float32":
            raise ManifestError(f"{field}.dtype", f"ncnn runs float32 inputs; '{spec.dtype}' is not supported (use runtime onnxruntime)")
        if not (spec.shape[0] == 1 or shapes.is_symbolic(spec.shape[0])) or not 2 <= len(spec.shape) <= 5:
            raise ManifestError(f"{field}.shape", f"ncnn needs a batch of 1 and 1 to 4 more dimensions, [1, ...]; got {spec.shape}")
    for i, output in enumerate(manifest.model.outputs):
        if output.dtype not in (None, "float32"):
            raise ManifestError(f"model.outputs[{i}].dtype", f"ncnn computes float32 outputs; '{output.dtype}' is not supported")


def _pnnx_input(source: SourceModel, manifest: Manifest, work: Path) -> Path:
    """The file pnnx reads: the ONNX source as is, or a traced TorchScript of a torch source."""
    if not source.is_torch:
        for i, (spec, name) in enumerate(zip(manifest.model.outputs, source.output_names)):
            if spec.name != name:
                raise ManifestError(f"model.outputs[{i}].name", f"'{spec.name}' is not the model's output name '{name}'")
        assert source.onnx_path is not None  # every non-torch source is an ONNX file
        return source.onnx_path
    import torch

    program = exported_program(source, manifest, "ncnn")
    target = work / "model.pt"
    try:
        with buildlog.capture("torch.jit.trace"), torch.no_grad():  # pnnx reads traces only
            torch.jit.trace(program.module(), example_inputs(manifest), check_trace=False).save(str(target))
    except Exception as exc:  # tracing raises many types; the first line says what failed
        text = str(exc).strip().splitlines()
        raise UnsupportedOpError(f"tracing {source.origin} for pnnx failed: {text[0] if text else type(exc).__name__}") from exc
    return target


def _run_pnnx(model_file: Path, manifest: Manifest, work: Path, origin: str) -> None:
    import pnnx

    spec = manifest.model.inputs[0]
    example = shapes.example_shape(spec, manifest.pre_steps())
    shape = ",".join(str(d) for d in example)
    # A second example size for each symbolic dim: pnnx then keeps the shape arithmetic that
    # depends on it (reshapes, pooling sizes) instead of baking the first size in.
    second = ",".join(str(_other_size(spec, axis, d)) for axis, d in enumerate(example))
    dynamic = [f"inputshape2=[{second}]f32"] if second != shape else []
    # Every output path is named, so pnnx writes nothing next to the source.
    outputs = {
        "pnnxparam": "model.pnnx.param",
        "pnnxbin": "model.pnnx.bin",
        "pnnxpy": "model_pnnx.py",
        "pnnxonnx": "model.pnnx.onnx",
        "ncnnparam": PARAM_FILE,
        "ncnnbin": BIN_FILE,
        "ncnnpy": "model_ncnn.py",
    }
    cmd = [pnnx.EXEC_PATH, str(model_file), f"inputshape=[{shape}]f32", *dynamic, "fp16=0", "device=cpu", *(f"{key}={work / name}" for key, name in outputs.items())]
    try:
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, errors="replace", timeout=PNNX_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise UnsupportedOpError(f"pnnx did not finish converting {origin} within {PNNX_TIMEOUT_S} s") from exc
    buildlog.record("pnnx", proc.stdout + proc.stderr, folders={work: "<pnnx work>"})
    if proc.returncode != 0 or not (work / PARAM_FILE).is_file() or not (work / BIN_FILE).is_file():
        log = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip() and not line.startswith("#####")]
        tail = " | ".join(log[-3:]) if log else "no output"
        raise UnsupportedOpError(f"pnnx could not convert {origin} to ncnn (exit {proc.returncode}): {tail}")


def _other_size(spec, axis: int, size: int) -> int:
    """Another size a symbolic dim may take (within its bounds): the size + 16, or - 16 at the top."""
    if axis == 0 or not shapes.is_symbolic(spec.shape[axis]):
        return size
    low, high = shapes.bounds(spec, axis) or (1, limits.MAX_TENSOR_DIM)
    return size + 16 if size + 16 <= high else max(size - 16, low)


def _check_graph(graph: ParamGraph, manifest: Manifest, origin: str) -> None:
    """Every layer must be one ncnn has (pnnx leaves operators it cannot map under their torch
    name), with one input `in0` and the manifest's outputs as `out0..`."""
    import ncnn

    unknown = sorted({kind for kind in graph.layer_types if ncnn.layer_to_index(kind) < 0})
    if unknown:
        raise UnsupportedOpError(f"ncnn has no layer for {', '.join(unknown)} in {origin} (pnnx could not map these operators); use runtime onnxruntime or rewrite them with supported operators")
    want_outputs = [OUTPUT_BLOB.format(k) for k in range(len(manifest.model.outputs))]
    if graph.inputs != [INPUT_BLOB] or sorted(graph.outputs) != sorted(want_outputs):
        raise UnsupportedOpError(f"pnnx made an ncnn graph of {origin} with inputs {graph.inputs} and outputs {graph.outputs}; the manifest needs [{INPUT_BLOB}] and {want_outputs}")


def _check_output_shapes(run: Runner, source: SourceModel, manifest: Manifest) -> None:
    """Outputs come back as [1, <Mat dims>], which must be the model's own output shapes."""
    mismatch = first_output_shape_mismatch(run, source, manifest)
    if mismatch is not None:
        k, w, g = mismatch
        raise UnsupportedOpError(
            f"ncnn output {OUTPUT_BLOB.format(k)} ({manifest.model.outputs[k].name}) of {source.origin} has shape "
            f"{list(g)}; the model's is {list(w)} (ncnn tensors carry no batch axis and at most 4 dimensions)"
        )


# ---- the C++ library's source ------------------------------------------------------------------
def fetch_sdist(cache: Path, version: str = CPP_RUNTIME_VERSION, sha256: str = SDIST_SHA256) -> Path:
    """The `ncnn` sdist (ncnn's full C++ source) in `cache`, downloaded from pip's index when missing.

    The file is fetched directly: `pip download --no-binary` runs the sdist's setup, which stalls.
    The index is pip's (PIP_INDEX_URL or pip's configured index-url, else PyPI); the archive must
    have the pinned sha256."""
    target = cache / f"ncnn-{version}.tar.gz"
    if target.is_file() and sha256_file(target) == sha256:
        return target
    url = _sdist_url(_index_url(), f"ncnn-{version}.tar.gz")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cache, prefix=".ncnn-sdist-", delete=False) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=120) as response:
                shutil.copyfileobj(response, tmp)
        except OSError as exc:
            os.unlink(tmp.name)
            raise BackendUnavailable(f"could not download {url}: {exc}") from exc
    if sha256_file(Path(tmp.name)) != sha256:
        os.unlink(tmp.name)
        raise BackendUnavailable(f"{url} does not have the pinned sha256 {sha256}")
    os.replace(tmp.name, target)
    return target


def _index_url() -> str:
    url = os.environ.get("PIP_INDEX_URL", "")
    if not url:
        proc = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"], capture_output=True, text=True)
        url = proc.stdout.strip() if proc.returncode == 0 else ""
    return (url or "https://pypi.org/simple").rstrip("/")


def _sdist_url(index: str, filename: str) -> str:
    """The file's URL on a simple index (PEP 691 JSON, or the PEP 503 HTML page)."""
    page = f"{index}/ncnn/"
    request = urllib.request.Request(page, headers={"Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            kind, body = response.headers.get("Content-Type", ""), response.read().decode("utf-8", "replace")
    except OSError as exc:
        raise BackendUnavailable(f"could not read the package index page {page}: {exc}") from exc
    if "json" in kind:
        links = {f["filename"]: f["url"] for f in json.loads(body).get("files", [])}
    else:
        links = {name: href for href, name in re.findall(r'<a[^>]*href="([^"]+)"[^>]*>\s*([^<\s]+)\s*</a>', body)}
    if filename not in links:
        raise BackendUnavailable(f"{page} lists no {filename}")
    return urllib.parse.urljoin(page, links[filename].split("#")[0])


BACKEND = NcnnBackend()
