"""Serving a test's aiohttp app on a free loopback port: the fake platforms and the console pages.

Port 0 lets the system pick a free port, so tests running side by side (xdist) never collide;
the chosen port is read back from the listening socket.
"""

from __future__ import annotations

import asyncio

from aiohttp import web


async def serve(app: web.Application, *, shutdown_timeout: float = 60.0) -> tuple[web.AppRunner, int]:
    """Start `app` on 127.0.0.1; the runner (`cleanup()` stops it) and the port."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.Server)
    return runner, int(server.sockets[0].getsockname()[1])
