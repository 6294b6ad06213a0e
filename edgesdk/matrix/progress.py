"""One line per finished cell (readable in a CI log); on a terminal, a rich progress bar below them."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.markup import escape

from edgesdk.matrix.report import parity_summary

STYLES = {"ok": "green", "failed": "bold red", "skipped": "dim"}


def cell_line(cell: dict[str, Any], done: int, total: int) -> str:
    width = len(str(total))
    detail = parity_summary(cell["parity"]) if cell["status"] == "ok" else " ".join(cell["reason"].split())[:240]
    size = f"  {cell['size_bytes'] / 1024:.0f} KiB" if cell["size_bytes"] else ""
    return f"[{done:>{width}}/{total}] {cell['status']:<7} {cell['name']}  {cell['seconds']:.1f} s{size}  {detail}"


@contextlib.contextmanager
def reporter(total: int, enabled: bool = True) -> Iterator[Any]:
    """Yields the callback run_matrix calls for each finished cell."""
    console = Console(stderr=True, highlight=False)
    if not enabled:
        yield None
        return
    if not sys.stderr.isatty():
        yield lambda cell, done, n: console.print(escape(cell_line(cell, done, n)), markup=True, soft_wrap=True)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("matrix"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("cells", total=total)

        def done_one(cell: dict[str, Any], done: int, n: int) -> None:
            bar.console.print(f"[{STYLES[cell['status']]}]" + escape(cell_line(cell, done, n)) + "[/]", soft_wrap=True)
            bar.update(task, completed=done)

        yield done_one
