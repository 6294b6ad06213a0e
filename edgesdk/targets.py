"""Targets as data: which runtimes and languages each target offers, and its default runtime."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    name: str
    runtimes: tuple[str, ...]
    default_runtime: str
    languages: tuple[str, ...]
    sample_app: str | None  # folder under edgesdk/sample_apps/; None: none written for this target yet
    description: str
    # A CMake toolchain file (edgesdk/cross/<name>.cmake) its C++ SDK carries, for
    # cross-compiling from an x86-64 machine; None: the SDK is built natively.
    cross_toolchain: str | None = None


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("android", ("tflite", "executorch", "onnxruntime"), "tflite", ("kotlin", "cpp"), "android", "Android phones and tablets (arm64-v8a, x86_64 emulator)"),
        Target("ios", ("coreml", "executorch", "onnxruntime"), "coreml", ("swift", "cpp"), "ios", "iPhone and iPad (iOS 16+)"),
        Target("jetson", ("tensorrt", "onnxruntime"), "tensorrt", ("cpp",), "cpp-cli", "NVIDIA Jetson boards (JetPack 6, TensorRT 10)", "aarch64-linux-gnu"),
        Target("arm", ("ncnn", "mnn", "onnxruntime"), "ncnn", ("cpp",), "cpp-cli", "ARM Linux boards (aarch64 CPU)", "aarch64-linux-gnu"),
        Target("x86", ("onnxruntime", "openvino"), "onnxruntime", ("cpp",), "cpp-cli", "x86-64 Linux PCs and servers"),
    )
}


def runtimes_for(target: str) -> tuple[str, ...]:
    return TARGETS[target].runtimes
