"""Reading an importer's config file: one error naming the file for anything unreadable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgesdk.importers.recipe import refuse

MAX_CONFIG_BYTES = 1 << 20  # a preprocessing config is a few hundred bytes; never read a model by mistake


def read_json(source: str, path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise refuse(source, "file", f"not found: {path}")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise refuse(source, "file", f"{path} is {path.stat().st_size} bytes; a config is a JSON object of at most {MAX_CONFIG_BYTES} bytes")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise refuse(source, "file", f"{path} is not a readable JSON file: {exc}") from exc
    if not isinstance(data, dict):
        raise refuse(source, "file", f"{path} holds {type(data).__name__}, expected a JSON object")
    return data
