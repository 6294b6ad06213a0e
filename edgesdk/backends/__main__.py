"""`python -m edgesdk.backends fetch-native [--cache DIR]`: fetch the C/C++ and Android packages of
every implemented runtime that needs one (`make native-deps` calls it). Each backend knows where
its packages come from; this loop only asks them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgesdk.backends import IMPLEMENTED, get_backend
from edgesdk.backends.base import cache_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgesdk.backends", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch-native", help="fetch every runtime's native packages into the cache")
    fetch.add_argument("--cache", type=Path, default=None, help="cache folder (default: $EDGESDK_CACHE or ~/.cache/edgesdk)")
    args = parser.parse_args(argv)
    cache = args.cache or cache_dir()
    for name in IMPLEMENTED:
        get_backend(name).fetch_native(cache)
    return 0


if __name__ == "__main__":
    sys.exit(main())
