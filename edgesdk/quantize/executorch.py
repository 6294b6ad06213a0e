"""ExecuTorch translator: PT2E on the source's torch.export program, lowered to XNNPACK like the backend.

A `.pte` holds an already-lowered program that cannot be quantized afterwards, so this translator
starts again from the source model (the same ExportedProgram the backend converted), annotates it
with XNNPACKQuantizer (symmetric int8, per-channel weights per manifest), calibrates with the
shared calibration tensors (torchao prepare_pt2e / convert_pt2e), re-exports it and writes the
`.pte` through the backend's own lowering. Inputs and outputs stay float32: quantize / dequantize
nodes sit inside the program.

int8 observes activations with min/max (the manifest's `minmax`; XNNPACKQuantizer's default is a
histogram observer). int8-dynamic is XNNPACK's dynamic config, which quantizes linear layers
only; conv layers stay float. fp16 is not offered: XNNPACK here runs fp16 only on an fp16 program,
which would make the model's I/O float16.

Layers are the conv / linear modules, named by their weight's module path (`features.0.0`,
`head`); a layer kept float is left out of annotation by the quantizer's node filter.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from pathlib import Path

from edgesdk import buildlog
from edgesdk.backends.executorch import lower
from edgesdk.backends.torch_export import example_inputs, exported_program
from edgesdk.manifest import Manifest
from edgesdk.quantize.calibration import CalibrationSet
from edgesdk.sources import SourceModel

MODES = ("int8-dynamic", "int8")
CALIBRATION_METHODS = ("minmax",)


def _weight_layers(module) -> dict[str, str]:
    """layer (weight module path) -> node name of each conv / linear call."""
    import torch

    aten = torch.ops.aten
    packets = {aten.conv1d, aten.conv2d, aten.conv3d, aten.conv_transpose1d, aten.conv_transpose2d, aten.linear}
    layers = {}
    for node in module.graph.nodes:
        if node.op == "call_function" and getattr(node.target, "overloadpacket", None) in packets and node.args[1].op == "get_attr":
            layers[node.args[1].target.removesuffix(".weight")] = node.name
    return layers


def _weights_as_parameters(module):
    """A TorchScript file converted by torch.export holds its weights as buffers; PT2E's conv-BN
    fold writes the folded weight back as a parameter and fails on an attribute that is a buffer."""
    import torch

    for name, tensor in list(module.named_buffers()):
        if tensor.is_floating_point():
            owner_name, _, leaf = name.rpartition(".")
            owner = module.get_submodule(owner_name)
            del owner._buffers[leaf]
            owner.register_parameter(leaf, torch.nn.Parameter(tensor, requires_grad=False))
    return module


class ExecuTorchPlan:
    """One exported program, prepared for one mode: quantize(exclude=...) may be called many times."""

    def __init__(self, mode: str, per_channel: bool, calibration: CalibrationSet | None, source: SourceModel, manifest: Manifest):
        import torch

        self.mode = mode
        self.origin = source.origin
        self._program = exported_program(source, manifest, "executorch")
        self._example = example_inputs(manifest)
        self._samples = [torch.from_numpy(t) for t in calibration.tensors] if calibration is not None else []
        self._nodes = _weight_layers(self._program.module())
        self.layers = list(self._nodes)
        self.input_name = manifest.model.inputs[0].name
        self._config = self._quantization_config(per_channel)
        self._observed = self._prepare(only=None, exclude=()) if mode == "int8" else None

    def _quantization_config(self, per_channel: bool):
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import get_symmetric_quantization_config
        from torchao.quantization.pt2e import MinMaxObserver

        config = get_symmetric_quantization_config(is_per_channel=per_channel, is_dynamic=self.mode == "int8-dynamic")
        if self.mode != "int8":
            return config
        minmax = MinMaxObserver.with_args(eps=2**-12)  # the eps XNNPACKQuantizer gives its own observer
        return dataclasses.replace(
            config,
            input_activation=dataclasses.replace(config.input_activation, observer_or_fake_quant_ctr=minmax),
            output_activation=dataclasses.replace(config.output_activation, observer_or_fake_quant_ctr=minmax),
        )

    def _prepare(self, only: Sequence[str] | None, exclude: Sequence[str]):
        """A fresh copy of the program, annotated and (int8) calibrated."""
        import torch
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer
        from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

        floats = set(exclude) if only is None else set(self.layers) - set(only)
        blocked = {self._nodes[layer] for layer in floats}
        quantizer = XNNPACKQuantizer().set_global(self._config)
        # Every pattern holding a blocked conv / linear node stays unannotated, hence float.
        quantizer.set_filter_function(lambda node: node.name not in blocked)
        with buildlog.capture("torchao prepare_pt2e"):
            observed = prepare_pt2e(_weights_as_parameters(self._program.module()), quantizer)
            # Weight observers record on the first forward pass, so the dynamic mode needs one too.
            # Without autograd: the observers see the same values, and recording every op for a
            # backward pass that never comes was a quarter of the calibration's time.
            with torch.no_grad():
                for sample in self._samples if self.mode == "int8" else [self._example[0]]:
                    observed(sample)
        return observed

    def ranges(self) -> dict[str, tuple[float, float]]:
        """Calibrated activation ranges per observed tensor (int8 only)."""
        ranges: dict[str, tuple[float, float]] = {}
        if self._observed is None:  # not a calibrated (int8) plan
            return ranges
        for node in self._observed.graph.nodes:
            observer = getattr(self._observed, str(node.target), None) if node.op == "call_module" else None
            if observer is not None and hasattr(observer, "min_val") and observer.min_val.numel() == 1:
                ranges[node.args[0].name] = (float(observer.min_val), float(observer.max_val))
        return dict(sorted(ranges.items()))

    def quantize(self, dest: Path, exclude: Sequence[str] = (), only: Sequence[str] | None = None) -> Path:
        """Write the `.pte` with every conv / linear layer quantized except `exclude` (or only `only`)."""
        import torch
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

        full = only is None and not exclude
        observed = self._observed if full and self._observed is not None else self._prepare(only, exclude)
        with buildlog.capture("torchao convert_pt2e"):
            # convert_pt2e rewrites its argument; the plan's calibrated copy is kept for ranges().
            converted = convert_pt2e(copy.deepcopy(observed) if observed is self._observed else observed)
            program = torch.export.export(converted, self._example)
        dest.write_bytes(lower(program, self.origin))
        return dest


class ExecuTorchTranslator:
    runtime = "executorch"
    modes = MODES
    calibration_methods = CALIBRATION_METHODS
    quantizes_source = True

    def plan(self, float_model: Path, mode: str, per_channel: bool, calibration: CalibrationSet | None, workdir: Path, source: SourceModel, manifest: Manifest) -> ExecuTorchPlan:
        return ExecuTorchPlan(mode, per_channel, calibration, source, manifest)


TRANSLATOR = ExecuTorchTranslator()
