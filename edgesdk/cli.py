"""Command line: parse arguments, call edgesdk.api, map errors to exit codes (errors.py)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgesdk import __version__
from edgesdk.errors import INTERRUPTED, EdgeSdkError, ManifestError, exit_codes_text
from edgesdk.results import TASKS
from edgesdk.targets import TARGETS

EPILOG = exit_codes_text()
DEBUG_ENV = "EDGESDK_DEBUG"
# Ranges of numeric flags: a runtime handed a million threads allocates until the machine stops.
THREADS = (1, 256)
BENCH_RUNS = (1, 1_000_000)
JOBS = (1, 256)


def _int_in(low: int, high: int):
    """An argparse type: an integer in [low, high], or argparse's usage error (exit 2) saying the range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer (allowed: {low} to {high})") from exc
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range (allowed: {low} to {high})")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    # Raw epilogs: argparse would otherwise reflow the exit-code table into one paragraph.
    p = argparse.ArgumentParser(prog="edgesdk", description="Trained model + manifest -> versioned, parity-checked SDK bundle.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"edgesdk {__version__}", help="print edgesdk's version and exit")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help=f"on an error, also print the traceback with every cause (for bug reports); {DEBUG_ENV}=1 does the same")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", help="what to do (COMMAND --help for its options)")

    def command(name: str, summary: str, **kwargs: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=summary, parents=[common], **kwargs)

    s = command("init", "write a commented edgesdk.yaml next to a model")
    s.add_argument("model", type=Path, help="the model file: .onnx, TorchScript .pt or torch.export .pt2")
    s.add_argument(
        "--task",
        default="classification",
        choices=list(TASKS),
        help="the manifest's task: classification writes softmax + top-5, detection letterbox + decode_boxes + nms, segmentation a mask step, custom no post-processing (default: classification)",
    )
    s.add_argument("--force", action="store_true", help="overwrite an existing edgesdk.yaml")
    s.add_argument(
        "--from",
        dest="from_spec",
        metavar="SPEC",
        help="import the pre-processing from the training recipe instead of writing a default: torchvision:MODULE:ATTR (a transform or weights enum; "
        "EDGESDK_IMPORT_PYTHON names another interpreter to import it in), timm:PATH/pretrained_cfg.json, hf:PATH/preprocessor_config.json (docs/importing.md)",
    )

    s = command("build", "build an SDK bundle from a manifest", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("-c", "--config", type=Path, default=Path("edgesdk.yaml"), help="manifest (default: edgesdk.yaml)")
    s.add_argument("--target", choices=list(TARGETS), help="build for this target instead of the manifest's `target`")
    s.add_argument("--runtime", help="convert for this runtime instead of the manifest's (default: the target's default runtime; see `edgesdk targets`)")
    s.add_argument("--out", type=Path, default=Path("dist"), help="folder the bundle and its zip are written to (default: dist)")
    s.add_argument("--force", action="store_true", help="replace an existing bundle of the same name and version")
    s.add_argument("--sign-key", type=Path, help="ed25519 private key (PEM, from `edgesdk keygen --sign`): sign SHA256SUMS into SHA256SUMS.sig")
    s.add_argument("--json", action="store_true", help="print a machine-readable summary")

    s = command(
        "matrix",
        "build many bundles from one matrix file (manifests x targets x runtimes x precisions), on local processes or Ray",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("matrix", type=Path, help="the matrix file (docs/matrix.md)")
    s.add_argument("--out", type=Path, default=Path("dist"), help="folder for the cells' bundles (OUT/<cell>/) and matrix.json, matrix.md, matrix.png (default: dist)")
    s.add_argument("--jobs", type=_int_in(*JOBS), default=1, help=f"cells built at once in local processes, {JOBS[0]} to {JOBS[1]} (default: 1)")
    s.add_argument("--ray", metavar="auto|ADDRESS", help="run the cells as Ray tasks: auto starts Ray on this machine, ADDRESS (ray://HOST:10001 or HOST:6379) connects to a cluster")
    s.add_argument("--force", action="store_true", help="rebuild cells whose folders already exist")
    s.add_argument("--json", action="store_true", help="print the results as JSON")

    s = command("validate", "check a manifest and the files it names, as build does before it loads the model; writes nothing")
    s.add_argument("-c", "--config", type=Path, default=Path("edgesdk.yaml"), help="manifest (default: edgesdk.yaml)")
    s.add_argument("--target", choices=list(TARGETS), help="check for this target instead of the manifest's `target`")
    s.add_argument("--runtime", help="check for this runtime instead of the manifest's")
    s.add_argument("--json", action="store_true", help="print the result as JSON")

    s = command("verify", "check a bundle's checksums and sdk.json, and its signature with --pubkey")
    s.add_argument("bundle", type=Path, help="the bundle folder")
    s.add_argument("--pubkey", type=Path, help="ed25519 public key (PEM): SHA256SUMS.sig must be its signature of SHA256SUMS")
    s.add_argument("--json", action="store_true", help="print the result as JSON")

    s = command("test", "build the bundle's SDK and run its golden tests through the generated glue")
    s.add_argument("bundle", type=Path, help="the bundle folder")
    s.add_argument(
        "--device",
        default="host",
        help=(
            "host (default); adb:SERIAL runs an Android bundle's instrumented GoldenTest on that device; "
            "ssh:[USER@]HOST[:PORT] builds and runs the C++ sample on a board (cmake, a compiler, tar and the runtime there); "
            "qemu-aarch64 cross-compiles an ARM bundle's C++ sample for aarch64 and runs it under qemu-user (correctness, not speed); "
            "macos or simulator:NAME runs an iOS bundle's Swift package tests with xcodebuild on a Mac"
        ),
    )
    s.add_argument("--build-dir", type=Path, help="keep the C++ build here (default: a temporary folder)")
    s.add_argument("--key", help="the model key of an encrypted bundle: env:NAME (64 hex digits) or file:PATH (32 bytes); the sample app reads it")
    s.add_argument("--cmake-arg", action="append", default=[], metavar="ARG", help="with --device ssh:, a CMake argument for the board's build, e.g. -Dncnn_DIR=/opt/ncnn/lib/cmake/ncnn (repeatable)")
    s.add_argument(
        "--remote-env", action="append", default=[], metavar="KEY=VALUE", help="with --device ssh:, an environment variable for the sample's runs there, e.g. LD_LIBRARY_PATH=/opt/ort/lib (repeatable)"
    )
    s.add_argument("--json", action="store_true", help="print every golden case's result as JSON")

    s = command("inspect", "I/O spec, operators, size and FLOPs of a bundle or a model file")
    s.add_argument("path", type=Path, help="a bundle folder or a model file (.onnx, .pt, .pt2)")

    s = command("bench", "latency of the bundle's C++ SDK vs a bare runtime session and the Python reference")
    s.add_argument("bundle", type=Path, help="the bundle folder")
    s.add_argument("--runs", type=_int_in(*BENCH_RUNS), default=50, help=f"timed runs of each contender, {BENCH_RUNS[0]} to {BENCH_RUNS[1]} (default: 50)")
    s.add_argument("--threads", type=_int_in(*THREADS), default=1, help=f"inference threads for every contender, {THREADS[0]} to {THREADS[1]} (default: 1)")
    s.add_argument("--roofline-png", type=Path, help="also draw the roofline (compute and memory roofs, the SDK's stages) into this PNG")

    s = command("keygen", "make a model key (AES-256) or, with --sign, an ed25519 signing pair")
    s.add_argument("--out", type=Path, help="write the key here (mode 0600; never overwritten); with --sign also OUT.pub")
    s.add_argument("--print", dest="print_key", action="store_true", help="print the model key as 64 hex digits instead, for an environment variable")
    s.add_argument("--sign", action="store_true", help="make an ed25519 pair for `build --sign-key` and `verify --pubkey`")

    s = command("targets", "targets, runtimes and languages, and which are available here")
    s.add_argument("--json", action="store_true", help="print the table as JSON")

    command("schema", "print the manifest's JSON Schema")
    return p


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _progress(enabled: bool):
    if not enabled or not sys.stderr.isatty():
        return None
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    return lambda stage: console.print(f"[dim]•[/dim] {stage}")


def _cmd_build(args: argparse.Namespace) -> int:
    from edgesdk import api

    result = api.build(args.config, target=args.target, runtime=args.runtime, out=args.out, force=args.force, progress=_progress(not args.json), sign_key=args.sign_key)
    if args.json:
        _print_json(result.as_dict())
        return 0
    print(f"bundle   {result.bundle}")
    print(f"zip      {result.zip} (sha256 {result.zip_sha256[:16]}...)")
    if result.parity.get("status") == "not_run":
        validated = result.parity["validated"]
        print(f"parity   not run: {result.parity['reason']}")
        if "summary" in validated:  # a backend's own one-line account of what it validated
            print(f"validated {validated['summary']}")
        else:
            print(f"validated {validated.get('package')}: {validated.get('format')} {validated.get('minimum_deployment_target')}, compute {validated.get('compute_precision')}, I/O as the manifest")
    else:
        outputs = result.parity["outputs"]
        figures = ", ".join(f"{name}: max_abs {m['max_abs']:.2e}, cosine {m['cosine']:.6f}" for name, m in outputs.items())
        task = ", ".join(f"{k} {v:.3f}" for k, v in result.parity.get("task", {}).items())
        print(f"parity   passed on {result.parity['samples']} images: {figures}" + (f"; {task}" if task else ""))
    from edgesdk.bundle import load_sdk_json

    image_input = load_sdk_json(result.bundle).get("runtime_options", {}).get("image_input")
    if image_input is not None:
        # Whether the model normalizes an image itself (Core ML ImageType), or why not, in a word.
        folded = f"image ({image_input.get('color_layout')}): normalize folded into the model" if image_input["folded"] else f"tensor (not folded: {image_input['reason']})"
        print(f"input    {folded}")
    print(f"built in {result.seconds:.1f} s")
    return 0


def _cmd_matrix(args: argparse.Namespace) -> int:
    from edgesdk.errors import MatrixCellsFailed
    from edgesdk.matrix import load_matrix, run_matrix
    from edgesdk.matrix.progress import reporter

    total = len(load_matrix(args.matrix).cells)  # a bad matrix file stops here, before any process starts
    with reporter(total, enabled=not args.json) as on_cell_done:
        result = run_matrix(args.matrix, out=args.out, jobs=args.jobs, ray_address=args.ray, force=args.force, on_cell_done=on_cell_done)
    data = result.as_dict()
    if args.json:
        _print_json(data)
    else:
        counts = data["counts"]
        print(f"{len(result.cells)} cells in {result.seconds:.1f} s on {result.executor}: {counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped")
        print(f"results  {result.files['markdown']} ({result.files['json']}, {result.files['png']})")
    if result.failed:
        raise MatrixCellsFailed(result.failed, result.files["json"])
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from edgesdk import api

    result = api.validate(args.config, target=args.target, runtime=args.runtime)
    if args.json:
        _print_json(result)
        return 0
    print(f"ok: {result['name']} {result['version']} for {result['target']}/{result['runtime']}: manifest and the files it names are valid")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from edgesdk import api

    result = api.verify(args.bundle, pubkey=args.pubkey)
    signed = ", signature verified" if result.get("signature") == "verified" else ""
    _print_json(result) if args.json else print(f"ok: {result['name']} {result['version']}, {result['files_checked']} files match SHA256SUMS{signed}")
    return 0


def _cmd_test(args: argparse.Namespace) -> int:
    from edgesdk import api

    result = api.test(args.bundle, device=args.device, build_dir=args.build_dir, key=args.key, cmake_args=args.cmake_arg, remote_env=args.remote_env)
    if args.json:
        _print_json(result)
        return 0
    if "xctest" in result:
        print(f"the Swift package's tests passed on {result['device']}: {result['xctest']}")
        return 0
    for case in result["cases"]:
        outs = ", ".join(f"{k} {v:.2e}" for k, v in case["outputs_max_abs"].items())
        print(f"ok  {case['id']:<16} preprocessed max_abs {case['preprocessed_max_abs']:.2e}; outputs max_abs {outs}; result matches")
    where = {"kotlin": "the Kotlin SDK's core on the host JVM", "swift": "the Swift SDK's core"}.get(
        result.get("language", ""), "the C++ SDK on " + result["device"] if "device" in result else "the C++ SDK"
    )
    print(f"{len(result['cases'])} golden cases passed through {where}")
    if "swift_test" in result:
        print(f"swift test ({result['swift']}): {result['swift_test']}")
    if "decrypted_sha256" in result:
        print(f"encrypted model opened by the Kotlin core: plaintext sha256 {result['decrypted_sha256']} matches sdk.json")
    if "android_layer" in result:
        print(f"Android layer: {result['android_layer']}")
    return 0


def _cmd_keygen(args: argparse.Namespace) -> int:
    from edgesdk.crypto import keys, signing
    from edgesdk.errors import InputError

    if args.sign:
        if args.out is None or args.print_key:
            raise InputError("keygen --sign: pass --out PATH (writes PATH and PATH.pub)")
        public = args.out.with_name(args.out.name + ".pub")
        signing.generate_pair(args.out, public)
        print(f"wrote {args.out} (private, mode 0600) and {public}")
        return 0
    if (args.out is None) == (not args.print_key):
        raise InputError("keygen: pass one of --out PATH or --print")
    key = keys.generate_key()
    if args.print_key:
        print(key.hex())
        return 0
    keys.write_key_file(args.out, key)
    print(f"wrote {args.out} (mode 0600), key id {keys.key_id(key).hex()}; name it in the manifest as encryption.key: file:{args.out}")
    return 0


def _cmd_targets(args: argparse.Namespace) -> int:
    from edgesdk import api

    rows = api.targets_table()
    if args.json:
        _print_json(rows)
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="edgesdk targets")
    for col in ("target", "runtime", "available here", "languages", "dynamic input shapes"):
        table.add_column(col, overflow="fold")
    for r in rows:
        mark = "yes" if r["available"] else "no"
        name = r["runtime"] + (" (default)" if r["default"] else "")
        langs = "\n".join(f"{k}: {v}" for k, v in r["languages"].items())
        # Details hold pip extras like `edgesdk[ncnn]`, which rich would read as markup.
        table.add_row(r["target"], name, escape(f"{mark}: {r['detail']}"), escape(langs), escape(r["dynamic_shapes"]))
    Console(width=160).print(table)
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from edgesdk import benchmark

    _print_json(benchmark.bench_bundle(args.bundle, runs=args.runs, threads=args.threads, roofline_png=args.roofline_png))
    return 0


def _report(exc: BaseException, message: str, debug: bool) -> None:
    """One line for users; with --debug (or EDGESDK_DEBUG=1) the traceback and its causes before it."""
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    print(message, file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        if args.command == "build":
            return _cmd_build(args)
        if args.command == "matrix":
            return _cmd_matrix(args)
        if args.command == "validate":
            return _cmd_validate(args)
        if args.command == "verify":
            return _cmd_verify(args)
        if args.command == "test":
            return _cmd_test(args)
        if args.command == "keygen":
            return _cmd_keygen(args)
        if args.command == "targets":
            return _cmd_targets(args)
        if args.command == "bench":
            return _cmd_bench(args)
        if args.command == "inspect":
            from edgesdk import api

            _print_json(api.inspect(args.path))
            return 0
        if args.command == "init":
            from edgesdk.scaffold import init_manifest

            print(f"wrote {init_manifest(args.model, task=args.task, force=args.force, from_spec=args.from_spec)}")
            return 0
        if args.command == "schema":
            from edgesdk.manifest import json_schema

            _print_json(json_schema())
            return 0
    except ManifestError as exc:
        config = str(getattr(args, "config", "") or getattr(args, "matrix", "") or "")
        where = f"{config}: " if config and not str(exc).startswith(config) else ""
        _report(exc, f"error: {where}{exc}", debug)
        return exc.exit_code
    except EdgeSdkError as exc:
        _report(exc, f"error: {exc}", debug)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        _report(exc, "interrupted", debug)
        return INTERRUPTED
    except Exception as exc:  # a bug must still end in one line and exit 1, not a traceback
        _report(exc, f"internal error: {type(exc).__name__}: {exc} (a bug in edgesdk; --debug prints the traceback for a report)", debug)
        return 1
    return 1


if __name__ == "__main__":
    sys.exit(main())
