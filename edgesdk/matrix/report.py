"""A matrix's results as matrix.json, matrix.md and matrix.png in its output folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

JSON_FILE, MARKDOWN_FILE, PNG_FILE = "matrix.json", "matrix.md", "matrix.png"
STATUS_COLORS = {"ok": "#2e7d32", "failed": "#c62828", "skipped": "#9e9e9e"}


def parity_summary(parity: dict[str, Any]) -> str:
    """The worst figures over the outputs, in a few words."""
    if not parity:
        return ""
    if parity.get("status") == "not_run":
        return "not run here"
    outputs = parity.get("outputs", {}).values()
    if not outputs:
        return parity.get("status", "")
    worst_abs = max(m.get("max_abs", 0.0) for m in outputs)
    worst_cos = min(m.get("cosine", 1.0) for m in outputs)
    top1 = parity.get("task", {}).get("top1_agreement")
    return f"{parity.get('status', '')}: max_abs {worst_abs:.2e}, cosine {worst_cos:.6f}" + (f", top-1 {top1:.3f}" if top1 is not None else "")


def _where(data: dict[str, Any]) -> str:
    return f"{data['executor']} (jobs {data['jobs']})" if data["jobs"] is not None else data["executor"]


def _size(n: int | None) -> str:
    return "" if n is None else f"{n / 1024:.0f} KiB"


def markdown(data: dict[str, Any]) -> str:
    counts = data["counts"]
    lines = [
        f"# edgesdk matrix: {data['matrix']}",
        "",
        f"{len(data['cells'])} cells on {_where(data)} in {data['seconds']:.1f} s (shared work {data['shared_seconds']:.1f} s): "
        f"{counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped.",
        "",
        "| cell | status | exit | target | runtime | precision | parity | size | build s | bundle sha256 | reason |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in data["cells"]:
        reason = " ".join(c["reason"].split())[:300].replace("|", "\\|")
        digest = c["bundle_sha256"][:16] if c["bundle_sha256"] else ""
        lines.append(
            f"| {c['name']} | {c['status']} | {c['exit_code']} | {c['target'] or ''} | {c['runtime'] or ''} | {c['precision']} | {parity_summary(c['parity'])} | {_size(c['size_bytes'])} "
            f"| {c['seconds']:.1f} | {digest} | {reason} |"
        )
    return "\n".join(lines) + "\n"


def overview_png(data: dict[str, Any], path: Path) -> None:
    """Build time and bundle size per cell, coloured by status."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = data["cells"]
    names = [c["name"] for c in cells]
    colors = [STATUS_COLORS[c["status"]] for c in cells]
    height = max(2.5, 0.32 * len(cells) + 1.2)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, height), sharey=True)
    ys = range(len(cells))
    left.barh(ys, [c["seconds"] for c in cells], color=colors)
    left.set_xlabel("build time (s)")
    left.set_yticks(list(ys), names, fontsize=8)
    left.invert_yaxis()
    right.barh(ys, [(c["size_bytes"] or 0) / 1024 for c in cells], color=colors)
    right.set_xlabel("bundle size (KiB)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=color) for color in STATUS_COLORS.values()]
    right.legend(handles, list(STATUS_COLORS), loc="lower right", fontsize=8)
    fig.suptitle(f"edgesdk matrix on {_where(data)}: {data['seconds']:.0f} s wall", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_reports(data: dict[str, Any], out: Path) -> dict[str, str]:
    files = {"json": out / JSON_FILE, "markdown": out / MARKDOWN_FILE, "png": out / PNG_FILE}
    data = {**data, "files": {k: str(v) for k, v in files.items()}}
    files["json"].write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    files["markdown"].write_text(markdown(data), encoding="utf-8")
    try:
        overview_png(data, files["png"])
    except ImportError:  # matplotlib comes with the onnx extra; the table says everything the picture does
        return {"json": str(files["json"]), "markdown": str(files["markdown"]), "png": "not written: matplotlib is not installed (pip install 'edgesdk[onnx]')"}
    return {k: str(v) for k, v in files.items()}
