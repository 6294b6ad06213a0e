"""reports/quantization.json and its plot. Both are byte-stable for the same inputs: the bundle zip
must not change between two builds (no timestamps or software tags in the PNG)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

JSON_FILE = "quantization.json"
PLOT_FILE = "quantization.png"


def json_safe(value: Any) -> Any:
    """inf/nan are not JSON: spell them as strings, like parity.json does."""
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else "-inf" if value < 0 else "nan"
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write(report: dict[str, Any], folder: Path) -> None:
    from edgesdk.bundle import write_json

    write_json(folder / JSON_FILE, json_safe(report))
    plot(report, folder / PLOT_FILE)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    metric = (report.get("accuracy_budget") or {}).get("metric", "cosine")
    rows = report["sensitivity"]
    kept = set(report["kept_float_layers"])
    fig, (ax_size, ax_layers) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [1, 3]})
    sizes = report["size_bytes"]
    ax_size.bar(["float32", report["mode"]], [sizes["before"] / 1024, sizes["after"] / 1024], color=["#888888", "#1f77b4"])
    ax_size.set_ylabel("model size (KiB)")
    ax_size.set_title(f"size x{report['size_ratio']:.2f}")
    if rows:
        values = [r[metric] if isinstance(r[metric], float) and math.isfinite(r[metric]) else 0.0 for r in rows]
        colors = ["#d62728" if r["layer"] in kept else "#1f77b4" for r in rows]
        ax_layers.bar(range(len(rows)), values, color=colors)
        ax_layers.set_xticks(range(len(rows)), [r["layer"] for r in rows], rotation=60, ha="right", fontsize=7)
        budget = report.get("accuracy_budget")
        if budget and budget["metric"] == metric:
            ax_layers.axhline(budget["min"], color="black", linestyle="--", linewidth=1)
        ax_layers.set_ylabel(f"{metric}, only this layer quantized")
        ax_layers.set_title("per-layer sensitivity (red: kept float)")
    else:
        ax_layers.set_axis_off()
        ax_layers.text(0.5, 0.5, "no sensitivity analysis (keep_float: auto or sensitivity: true runs it)", ha="center", va="center")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=80, metadata={"Software": None})
    plt.close(fig)
