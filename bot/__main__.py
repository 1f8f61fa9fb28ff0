"""Command line: `python -m bot run | migrate | staff add|remove|login-link` (see the README,
"Configuration" and "The staff console")."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from bot.config import Config


class StartError(Exception):
    """A configured value that fails only when used (a port taken, a database unreachable)."""


def _database_error(exc: BaseException) -> StartError:
    # Neither the URL (it may hold a password) nor the driver's text (it may quote data) is printed.
    return StartError(
        f"DATABASE_URL: cannot open the database ({type(exc).__name__}); "
        "expected a reachable database the bot may write to"
    )


async def _run(config: Config, take_over: bool) -> int:
    import errno

    from sqlalchemy.exc import DBAPIError, OperationalError

    from bot.assembly import build_system
    from handlers.heap import settled_heap
    from handlers.startup import StartRefused

    try:
        system = await build_system(config, take_over=take_over)
    except (OSError, OperationalError, DBAPIError) as exc:
        raise _database_error(exc) from None
    try:
        await system.start()
    except StartRefused as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if system.runner is not None:
            await system.runner.cleanup()
        await system.engine.dispose()
        if exc.errno == errno.EADDRINUSE:
            raise StartError(
                f"HTTP_PORT: port {config.http_port} on {config.http_host} is already in use; "
                "expected a free port (or stop the other process)"
            ) from None
        raise StartError(
            f"HTTP_HOST/HTTP_PORT: cannot listen on {config.http_host}:{config.http_port} "
            f"({exc.strerror or type(exc).__name__}); expected an address of this machine"
        ) from None
    print(f"Trợ lý Khuyến công: open http://{config.http_host}:{system.port} in a browser (Ctrl+C to stop)")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        with settled_heap():  # start-up's objects out of the collector's way (handlers/heap.py)
            await stop.wait()
    finally:
        await system.stop()
    return 0


async def _migrate(config: Config) -> None:
    from sqlalchemy.exc import DBAPIError, OperationalError

    from storage.db import create_engine
    from storage.migrate import migrate

    engine = create_engine(config.database_url)
    try:
        await migrate(engine)
    except (OSError, OperationalError, DBAPIError) as exc:
        raise _database_error(exc) from None
    finally:
        await engine.dispose()
    print("database is at the newest schema")


async def _staff(config: Config, args: argparse.Namespace) -> int:
    from storage import staff
    from storage.db import create_engine, session_factory
    from storage.migrate import migrate

    province = getattr(args, "province", None)
    if province:
        from conversations.places import find_province

        match = find_province(province)
        if match is None:
            print(f"error: unknown province {province!r}", file=sys.stderr)
            return 2
        province = match.province.name
    engine = create_engine(config.database_url)
    try:
        await migrate(engine)
        async with session_factory(engine)() as session, session.begin():
            if args.staff_command == "add":
                await staff.add_staff(
                    session,
                    channel=args.channel,
                    external_id=str(args.user_id),
                    role=args.role,
                    province=province,
                    added_by="cli",
                )
                scope = province or "all provinces"
                print(f"{args.channel}:{args.user_id} is now {args.role} for {scope}")
            elif args.staff_command == "login-link":
                from datetime import UTC, datetime

                from conversations.staff.web_login import login_link

                link = await login_link(
                    session, args.channel, str(args.user_id), config.public_base, datetime.now(UTC)
                )
                if link is None:
                    print(f"error: {args.channel}:{args.user_id} is not active staff", file=sys.stderr)
                    return 2
                print(link)
            else:
                removed = await staff.remove_staff(
                    session, channel=args.channel, external_id=str(args.user_id), role=args.role
                )
                print(f"removed {removed} role(s) of {args.channel}:{args.user_id}")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Trợ lý Khuyến công")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="start the web chat and every configured channel")
    run_parser.add_argument(
        "--take-over",
        action="store_true",
        help="poll even though a webhook is registered (deletes it: the other deployment stops receiving)",
    )
    sub.add_parser("migrate", help="bring the database to the newest schema")
    staff_parser = sub.add_parser("staff", help="manage staff roles")
    staff_sub = staff_parser.add_subparsers(dest="staff_command", required=True)
    for name in ("add", "remove"):
        cmd = staff_sub.add_parser(name, help=f"{name} a staff role")
        cmd.add_argument("--channel", required=True, choices=["telegram", "zalo", "zalo_oa", "web"])
        cmd.add_argument("--user-id", required=True)
        cmd.add_argument(
            "--role", required=(name == "add"), choices=["reviewer", "broadcaster", "admin"], default=None
        )
        if name == "add":
            cmd.add_argument(
                "--province", default=None, help="the province they work for (none: national admin)"
            )
    link = staff_sub.add_parser("login-link", help="print a one-time sign-in link to the staff console")
    link.add_argument("--channel", required=True, choices=["telegram", "zalo", "web"])
    link.add_argument("--user-id", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per plugin at every start
    try:
        config = Config.from_env()
    except ValueError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "run":
            return asyncio.run(_run(config, args.take_over))
        elif args.command == "migrate":
            asyncio.run(_migrate(config))
        elif args.command == "staff":
            return asyncio.run(_staff(config, args))
    except StartError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
