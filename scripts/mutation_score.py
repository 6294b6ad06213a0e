"""Print mutmut's kill rate from its CI/CD stats file and fail below a minimum.

Killed counts mutants a test failed on, timed out on or crashed on; survivors and mutants no
selected test runs ("no tests") count against the rate.
Usage: mutation_score.py mutants/mutmut-cicd-stats.json --min 0.90
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stats", type=Path)
    parser.add_argument("--min", type=float, required=True, help="lowest acceptable kill rate, 0..1")
    args = parser.parse_args(argv)
    stats = json.loads(args.stats.read_text(encoding="utf-8"))
    killed = stats["killed"] + stats["timeout"] + stats["segfault"]
    judged = stats["total"] - stats["skipped"]
    if judged <= 0:
        print(f"{args.stats}: no mutant was judged ({stats})")
        return 1
    rate = killed / judged
    print(f"python: {killed}/{judged} mutants killed ({100 * rate:.1f}%); survived {stats['survived']}, no tests {stats['no_tests']}, suspicious {stats['suspicious']}")
    if rate < args.min:
        print(f"the kill rate is below {100 * args.min:.0f}%: `mutmut results` lists the survivors, `mutmut show NAME` shows one")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
