"""Signing in to the console and the checks every page passes.

A one-time link (from /web in chat, or `python -m bot staff login-link`) opens a session: an
HttpOnly cookie (Secure when PUBLIC_BASE_URL is https, SameSite=Lax so the link can be opened
from a chat app), valid until 8 hours without use. Every request re-reads the member's active
roles, so removing a member closes their console at once; every POST must carry the session's
CSRF token. Whoever is not signed in (or no longer staff) sees a page explaining how to sign in,
and no data.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Awaitable, Callable

import aiohttp_jinja2
from aiohttp import web

from conversations.i18n import DEFAULT_LOCALE, N_, normalise_locale, translator
from conversations.staff.access import ANY_ROLE, REVIEW_ROLES
from conversations.staff.desk import desk_run, staff_member
from handlers.console.common import CONSOLE, Console, Desk
from storage import accounts, console_auth

COOKIE = "kc_staff"
SIGN_IN = N_(
    "To open the staff console, send /web to the assistant in Telegram or Zalo from your staff "
    "account and open the link it gives you. A link works once, within 15 minutes."
)
LINK_USED = N_("This sign-in link has already been used or has expired. Ask for a new one with /web.")
SIGNED_OUT = N_("You have signed out.")
PRESS_TO_SIGN_IN = N_("Press the button to sign in to the staff console on this computer.")
NO_ROLE = N_("Your account has no staff role for this page.")

Handler = Callable[[Desk], Awaitable[web.StreamResponse]]


def _locale(request: web.Request) -> str:
    return normalise_locale(request.headers.get("Accept-Language", "")[:5]) or DEFAULT_LOCALE


def sign_in_page(
    request: web.Request, message: str, status: int = 401, action: str | None = None
) -> web.Response:
    t = translator(_locale(request))
    return aiohttp_jinja2.render_template(
        "signin.html",
        request,
        {"_": t, "message": t(message), "locale": t.locale, "action": action},
        status=status,
    )


def desk_page(
    roles: tuple[str, ...] = ANY_ROLE, *, own_writes: bool = False
) -> Callable[[Handler], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    """Run a page handler inside one transaction for a signed-in staff member holding one of
    `roles`; a POST without the session's CSRF token is refused before anything is read.

    The sign-in check commits on its own first: it may write (the session's idle clock, once a
    minute), and on SQLite a write holds the database's only write lock until its transaction
    ends, so a page that only reads (an export, the statistics) would otherwise keep owners'
    messages waiting for as long as it runs. A long handler that writes in transactions of its
    own (`own_writes`, the certificate import) gets no transaction around it; its
    `desk.session` only reads."""

    def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def serve(request: web.Request, desk: Desk) -> web.StreamResponse:
            if not desk.member.has(roles):
                return desk.render("message.html", status=403, message=desk.run.t(NO_ROLE))
            return await handler(desk)

        @functools.wraps(handler)
        async def page(request: web.Request) -> web.StreamResponse:
            console = request.app[CONSOLE]
            sid = request.cookies.get(COOKIE, "")
            now = console.now()
            async with console.sessions() as session:
                async with session.begin():
                    signed = await console_auth.current(session, sid, now) if sid else None
                    member = (
                        await staff_member(session, signed.channel, signed.external_id) if signed else None
                    )
                    if signed is None or member is None:
                        return sign_in_page(request, SIGN_IN)
                    if request.method == "POST":
                        form = await request.post()
                        token = str(form.get("csrf", ""))
                        if not secrets.compare_digest(token.encode(), signed.csrf.encode()):
                            raise web.HTTPForbidden(text="CSRF token missing or wrong")
                    locale = signed.locale or DEFAULT_LOCALE
                    desk = Desk(
                        request,
                        session,
                        member,
                        signed,
                        desk_run(session, console.dialogue, member, locale, now),
                        console,
                    )
                if own_writes:
                    return await serve(request, desk)
                async with session.begin():
                    try:
                        return await serve(request, desk)
                    except web.HTTPRedirection as done:
                        redirect = done  # after an action: commit first, then send the browser on
            raise redirect

        return page

    return wrap


def _set_cookie(response: web.StreamResponse, console: Console, value: str) -> None:
    response.set_cookie(
        COOKIE,
        value,
        path="/staff",
        httponly=True,
        secure=console.secure_cookies,
        samesite="Lax",
        max_age=int(console_auth.SESSION_IDLE.total_seconds()),
    )


async def login_page(request: web.Request) -> web.StreamResponse:
    """The link's page: a button that signs in. Opening the link does not use it up, because chat
    apps fetch a link to show its preview before the person taps it."""
    console = request.app[CONSOLE]
    async with console.sessions() as session:
        live = await console_auth.link_is_live(session, request.match_info["token"], console.now())
    if not live:
        return sign_in_page(request, LINK_USED, status=403)
    response = sign_in_page(request, PRESS_TO_SIGN_IN, status=200, action=request.path)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


async def login(request: web.Request) -> web.StreamResponse:
    """Open a session from a one-time link. The token is used up before anything else happens."""
    console = request.app[CONSOLE]
    now = console.now()
    async with console.sessions() as session, session.begin():
        who = await console_auth.redeem_link(session, request.match_info["token"], now)
        member = await staff_member(session, *who) if who is not None else None
        if who is None or member is None:
            return sign_in_page(request, LINK_USED, status=403)
        account, _ = await accounts.get_or_create_account(session, who[0], who[1])
        sid = await console_auth.open_session(session, who[0], who[1], now, locale=account.locale)
    # Reviewers land on the queue, broadcasters on their broadcasts.
    response = web.HTTPSeeOther("/staff/" if member.has(REVIEW_ROLES) else "/staff/broadcasts")
    _set_cookie(response, console, sid)
    response.headers["Referrer-Policy"] = "no-referrer"
    raise response


@desk_page()
async def logout(desk: Desk) -> web.StreamResponse:
    await console_auth.close(desk.session, desk.request.cookies.get(COOKIE, ""))
    response = sign_in_page(desk.request, SIGNED_OUT, status=200)
    response.del_cookie(COOKIE, path="/staff")
    return response


@desk_page()
async def language(desk: Desk) -> web.StreamResponse:
    form = await desk.request.post()
    locale = normalise_locale(str(form.get("locale", ""))) or DEFAULT_LOCALE
    await console_auth.set_locale(desk.session, desk.request.cookies.get(COOKIE, ""), locale)
    back = str(form.get("back", "/staff/"))
    raise web.HTTPSeeOther(back if back.startswith("/staff/") else "/staff/")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/staff/login/{token}", login_page)
    router.add_post("/staff/login/{token}", login)
    router.add_post("/staff/logout", logout)
    router.add_post("/staff/lang", language)
