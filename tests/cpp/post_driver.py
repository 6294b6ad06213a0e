"""Build the generated detection / segmentation post-processing into one small program per task
(no runtime: the SDK's post-processing sources plus tests/cpp/post_driver.cpp.j2) and run it on
many cases at once: one compile covers every step option, since each case's options come from
the step macros as in Model::postprocess."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgesdk.render import make_environment, render_sdk

from .conftest import context

HERE = Path(__file__).resolve().parent
# The SDK's flags that matter for the numbers (CMakeLists.txt.j2): no FMA contraction.
CXX = ["g++", "-std=c++17", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror"]
# numpy dtype -> the SDK's DType enumerator (raw outputs may have dtypes the manifest's inputs cannot).
CPP_DTYPE = {"float32": "Float32", "float16": "Float16", "float64": "Float64", "uint8": "UInt8", "int8": "Int8", "int16": "Int16", "int32": "Int32", "int64": "Int64", "bool": "Bool"}
SOURCES = {"detection": ["types.cpp", "postprocess.cpp", "detection.cpp"], "segmentation": ["types.cpp", "postprocess.cpp", "segmentation.cpp"]}


@dataclass
class Case:
    id: str
    outputs: list[np.ndarray]
    steps: list[dict]
    geometry: dict  # scale_x, scale_y, pad_left, pad_top, src_width, src_height, input_width, input_height
    labels: list[str] = field(default_factory=list)
    output_index: int = 0
    truncate: int = 0  # bytes left out of the first output's data (a tensor that lies about its size)


def geometry_dict(g, input_width: int, input_height: int) -> dict:
    """A Geometry (edgesdk.processing.geometry) plus the model-input size, as the C++ struct holds it."""
    return {
        "scale_x": g.scale_x,
        "scale_y": g.scale_y,
        "pad_left": g.pad_left,
        "pad_top": g.pad_top,
        "src_width": g.src_width,
        "src_height": g.src_height,
        "input_width": input_width,
        "input_height": input_height,
    }


class Driver:
    def __init__(self, exe: Path, task: str, cases: list[Case]):
        self.exe, self.task, self.cases = exe, task, {c.id: c for c in cases}

    def write_inputs(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for case in self.cases.values():
            for k, array in enumerate(case.outputs):
                data = np.ascontiguousarray(array).tobytes()
                (folder / f"{case.id}.{k}.bin").write_bytes(data[: len(data) - case.truncate] if k == 0 else data)

    def run(self, folder: Path) -> dict[str, object]:
        """id -> list of (index, score, box, label) | uint8 mask [h, w] | the error message (str)."""
        self.write_inputs(folder)
        proc = subprocess.run([str(self.exe), str(folder)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        results: dict[str, object] = {}
        for cid in self.cases:
            err = folder / f"{cid}.err"
            if err.exists():
                results[cid] = err.read_text()
                continue
            data = (folder / f"{cid}.out").read_bytes()
            if self.task == "detection":
                rows = []
                for line in data.decode().splitlines():
                    index, score, x0, y0, x1, y1, label = line.split(" ", 6)
                    rows.append((int(index), float(score), (float(x0), float(y0), float(x1), float(y1)), label))
                results[cid] = rows
            else:
                head, _, body = data.partition(b"\n")
                width, height = map(int, head.split())
                results[cid] = np.frombuffer(body, np.uint8).reshape(height, width)
        return results

    def time(self, folder: Path, runs: int) -> dict[str, float]:
        """id -> median microseconds of the post-processing call."""
        self.write_inputs(folder)
        proc = subprocess.run([str(self.exe), str(folder), "--time", str(runs)], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        return {line.split()[0]: float(line.split()[1]) for line in proc.stdout.splitlines()}


def build(task: str, cases: list[Case], folder: Path, *, optimize: str = "-O1", templates_env=None) -> Driver:
    """Render the SDK of a `task` bundle and the driver for `cases` into `folder`, compile them."""
    ctx = context(
        "post driver",
        b"",
        task=task,
        inputs=[{"name": "image", "shape": [1, 3, 8, 8], "dtype": "float32"}],
        outputs=[{"name": "out", "shape": [1, 1], "dtype": "float32"}],
        input_color="rgb",
        pre=[],
        post=[],
        labels=[],
    )
    sdk = folder / "sdk"
    env = templates_env or make_environment()
    render_sdk(sdk, "cpp", "onnxruntime", ctx, env)
    driver_ctx = {
        **ctx,
        "cases": [
            {
                "id": c.id,
                "labels": c.labels,
                "geometry": c.geometry,
                "output_index": c.output_index,
                "steps": c.steps,
                "outputs": [{"name": f"out{k}", "shape": list(a.shape), "dtype": CPP_DTYPE[str(a.dtype)]} for k, a in enumerate(c.outputs)],
            }
            for c in cases
        ],
    }
    source = folder / "post_driver.cpp"
    source.write_text(env.from_string((HERE / "post_driver.cpp.j2").read_text(encoding="utf-8")).render(**driver_ctx), encoding="utf-8")
    exe = folder / "post_driver"
    cmd = [*CXX, optimize, "-I", str(sdk / "include"), "-I", str(sdk / "src"), "-o", str(exe), str(source), *(str(sdk / "src" / f) for f in SOURCES[task])]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr[-6000:]}"
    return Driver(exe, task, cases)
