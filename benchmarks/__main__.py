"""`python -m benchmarks [name ...]`: run every benchmark module (or the named ones), print figures.

A module offers `run()`, plain or async, returning a list of `Figure`s or a {name: number} dict
(or printing its own line and returning nothing): whatever shape, its figures end up here.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import logging
import pkgutil
import sys
import time
from typing import Any

import benchmarks
from benchmarks import Figure


def _figures(result: Any) -> list[Figure]:
    if isinstance(result, dict):
        return [Figure(str(k), float(v), "") for k, v in result.items() if isinstance(v, int | float)]
    if isinstance(result, list | tuple):
        return [f for f in result if isinstance(f, Figure)]
    return []


def main(argv: list[str] | None = None) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if not m.name.startswith("_"))
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="Run the benchmarks.")
    parser.add_argument("only", nargs="*", help=f"benchmarks to run (default: all of {', '.join(names)})")
    args = parser.parse_args(argv)
    unknown = set(args.only) - set(names)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in args.only or names:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        result = module.run()
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
        for figure in _figures(result):
            note = f"  ({figure.note})" if figure.note else ""
            print(f"  {figure.name:<44} {figure.value:>10.1f} {figure.unit}{note}")
        print(f"  took {time.perf_counter() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
