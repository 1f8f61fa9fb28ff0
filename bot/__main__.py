"""Command line: `python -m bot run | migrate` (see DESIGN.md, "Stable interfaces")."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from bot.config import Config


async def _run(config: Config) -> None:
    from bot.assembly import build_system

    system = await build_system(config)
    await system.start()
    print(f"Trợ lý Khuyến công: open http://{config.http_host}:{system.port} in a browser (Ctrl+C to stop)")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await system.stop()


async def _migrate(config: Config) -> None:
    from storage.db import create_engine
    from storage.migrate import migrate

    engine = create_engine(config.database_url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()
    print("database is at the newest schema")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Trợ lý Khuyến công")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start the web chat and every configured channel")
    sub.add_parser("migrate", help="bring the database to the newest schema")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = Config.from_env()
    except ValueError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "run":
        asyncio.run(_run(config))
    elif args.command == "migrate":
        asyncio.run(_migrate(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
