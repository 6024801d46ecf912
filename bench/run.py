"""`make bench`: run every bench/bench_*.py and print one table of ratios measured in this run.

Each module defines run() -> list[Row]; a Row is (name, value, unit, ratio_text). Benchmarks
set up their own database (a throwaway SQLite file, or PostgreSQL when DATABASE_URL points at
it) and never assert timings: they measure and print, the reader judges against DESIGN.md's
targets, which each row names.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "operator_site.settings")
    # Benchmarks get their own var/ so they never touch `make run`'s data.
    os.environ.setdefault("OPERATOR_VAR_DIR", str(ROOT / "var" / "bench"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("only", nargs="*", help="names of bench modules to run (default: all)")
    args = parser.parse_args()
    setup_django()
    names = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    if args.only:
        names = [n for n in names if any(o in n for o in args.only)]
    rows = []
    for name in names:
        started = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}: {module.__doc__.strip().splitlines()[0]}", flush=True)
        for row in module.run():
            rows.append((name, *row))
            print(f"   {row[0]}: {row[1]:,.2f} {row[2]}  {row[3]}", flush=True)
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
    width = max((len(r[1]) for r in rows), default=10)
    print("\n" + f"{'benchmark':<28} {'measure':<{width}} {'value':>14} {'unit':<10} ratio / target")
    for bench, measure, value, unit, ratio in rows:
        print(f"{bench:<28} {measure:<{width}} {value:>14,.2f} {unit:<10} {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
