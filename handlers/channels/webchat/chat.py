"""The local web chat: a small mobile-first page and its JSON API, served by our aiohttp server.

A browser is one web user, known by the `kc_web` cookie (a random token that is the user id on the
`web` channel). The page (handlers/channels/webchat/static/webchat/) shows the transcript kept by
storage/transcripts.py (transcript.py: what is kept and what the page is shown), posts what the user types, taps or uploads, and renders the replies.
Every update goes through the same runtime as Telegram and Zalo (handlers/runtime.py: dedupe,
per-user turn, session, locale); this module knows only HTTP and how the page shows an `Outgoing`.

Routes (URLs in the page are relative, so the whole thing can also be mounted under a prefix):
GET / (the page), GET /static/webchat/* (its assets), GET /api/chat/state, GET /api/chat/updates,
POST /api/chat/send, POST /api/chat/upload, GET /api/chat/files/{id} (a document the bot sent).
Nothing here logs what a user typed or uploaded.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
import secrets
from functools import partial
from pathlib import Path
from typing import Any, TypeGuard
from urllib.parse import quote

from aiohttp import BodyPartReader, hdrs, web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations.i18n import DEFAULT_LOCALE, N_, Translator, normalise_locale, translator
from conversations.messages import WEB, FileRef, Incoming, command_of
from conversations.record_ids import MAX_ID, record_id
from handlers.channels.webchat.transcript import label_of, outgoing_payload, page_message
from handlers.channels.webchat.upload_page import MAX_FILES
from handlers.runtime import Runtime, log_failure
from handlers.web_common import clean_content_type, clean_filename, from_foreign_site, origin_of, read_part
from storage import transcripts

log = logging.getLogger(__name__)

COOKIE = "kc_web"
COOKIE_MAX_AGE = 365 * 24 * 3600
HISTORY_LIMIT = 300
MAX_TEXT = 4000  # characters; Telegram's limit is 4096, so every channel can echo it back
MAX_JSON_BYTES = 64 * 1024
MULTIPART_SLACK = 64 * 1024  # headers and boundaries around the file in an upload
RECENT = 20  # messages looked at for a retried client id and for a tapped button's label
STATIC_DIR = Path(__file__).resolve().parent / "static" / "webchat"

_COOKIE_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_CLIENT_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{8,64}")

# What the page says, by key; the page never holds a sentence of its own.
UI_STRINGS: dict[str, str] = {
    "title": N_("Industrial Extension Assistant"),
    "subtitle": N_("Support for rural industrial facilities"),
    "placeholder": N_("Type a message…"),
    "send": N_("Send"),
    "attach": N_("Send a photo or a PDF file"),
    "uploading": N_("Uploading…"),
    "upload_failed": N_("The file was not sent. Check the connection and try again."),
    "too_large": N_("This file is too large. Please send a file of at most {limit} MB."),
    "text_cut": N_(
        "Your text was cut at {limit} characters, the most one message can hold. "
        "Please send the rest in another message."
    ),
    "empty_file": N_("This file is empty. Please choose another one."),
    "offline": N_("No connection. Your message has not been sent yet."),
    "no_connection": N_("No connection. Check the Wi-Fi or mobile data."),
    "load_failed": N_("The conversation could not be loaded. Check the connection."),
    "retry": N_("Try again"),
    "cancel": N_("Cancel"),
    "new_messages": N_("New messages"),
    "typing": N_("The assistant is writing…"),
    "open_link": N_("Open the page"),
    "download": N_("Download"),
    "error": N_("Something went wrong. Please try again."),
    "you": N_("You"),
    "bot": N_("Assistant"),
}
BAD_REQUEST = N_("The request could not be read. Please reload the page and try again.")
TOO_LONG = N_("The message is too long. Please write at most {limit} characters.")
CROSS_SITE = N_("This request came from another website and was refused.")
NOT_JSON = N_("The request could not be read (it was not sent as JSON). Please reload the page.")
FILE_GONE = N_("This file is no longer available.")


def setup_webchat(
    app: web.Application,
    pipeline: Runtime,
    sessions: async_sessionmaker[AsyncSession],
    *,
    max_upload_bytes: int,
    public_base_url: str | None = None,
) -> None:
    """Register the web chat's page, assets and API on `app`.

    `max_upload_bytes` is the dialogue's own file limit (Settings.max_file_bytes): the page checks
    it before uploading, so a file the bot would refuse is never sent. `public_base_url` (when
    https) makes the cookie Secure behind a TLS-terminating proxy, where this server sees http,
    and is an origin state-changing requests may come from.
    """
    chat = _WebChat(pipeline, sessions, max_upload_bytes, public_base_url)
    app.router.add_get("/", chat.index, name="webchat.index")
    app.router.add_static("/static/webchat", STATIC_DIR, name="webchat.static")
    app.router.add_get("/api/chat/state", chat.state, name="webchat.state")
    app.router.add_get("/api/chat/updates", chat.updates, name="webchat.updates")
    app.router.add_post("/api/chat/send", chat.send, name="webchat.send")
    app.router.add_post("/api/chat/upload", chat.upload, name="webchat.upload")
    app.router.add_get(r"/api/chat/files/{message_id:\d{1,18}}", chat.download, name="webchat.file")


class _WebChat:
    def __init__(
        self,
        pipeline: Runtime,
        sessions: async_sessionmaker[AsyncSession],
        max_upload_bytes: int,
        public_base_url: str | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.sessions = sessions
        self.max_upload = max_upload_bytes
        self.public_origin = origin_of(public_base_url) if public_base_url else None
        self.secure_cookie = bool(public_base_url and public_base_url.lower().startswith("https://"))
        assets = b"".join((STATIC_DIR / name).read_bytes() for name in ("chat.css", "chat.js"))
        self._version = hashlib.sha256(assets).hexdigest()[:12]
        self._page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")

    # --- routes -------------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.StreamResponse:
        user, fresh = _web_user(request)
        locale = await self._locale(user, request)
        boot = self._boot(locale)
        page = (
            self._page.replace("{{lang}}", locale)
            .replace("{{title}}", html.escape(boot["ui"]["title"]))
            .replace("{{version}}", self._version)
            .replace("{{boot}}", _script_json(boot))
        )
        response = web.Response(text=page, content_type="text/html", headers=_PAGE_HEADERS)
        return self._with_cookie(request, response, user, fresh)

    async def state(self, request: web.Request) -> web.StreamResponse:
        user, fresh = _web_user(request)
        locale = await self._locale(user, request)
        rows = [] if fresh else await self._history(user)
        data = self._boot(locale) | {"messages": [page_message(row) for row in rows]}
        return self._with_cookie(request, _json(data), user, fresh)

    async def updates(self, request: web.Request) -> web.StreamResponse:
        """Messages after the page's last known id: bot messages that arrived without a request."""
        user, fresh = _web_user(request)
        after = request.query.get("after", "0")
        if not (after.isascii() and after.isdigit()) or len(after) > 18:
            return await self._error(request, user, 400, BAD_REQUEST)
        # Past the largest id a message can have there is nothing newer (and PostgreSQL's integer
        # column would refuse the comparison).
        rows = [] if fresh else await self._history(user, after=min(int(after), MAX_ID))
        return self._with_cookie(
            request, _json({"messages": [page_message(row) for row in rows]}), user, fresh
        )

    async def send(self, request: web.Request) -> web.StreamResponse:
        user, fresh = _web_user(request)
        if self._cross_site(request):
            return await self._error(request, user, 403, CROSS_SITE)
        if request.content_type != "application/json":
            # A form post (text/plain, urlencoded) is what a foreign page can send without CORS.
            return await self._error(request, user, 415, NOT_JSON)
        body = await _read_json(request)
        client_id = body.get("id") if body else None
        if body is None or not _valid_client_id(client_id):
            return await self._error(request, user, 400, BAD_REQUEST)
        hint = _locale_hint(request)
        text, choice = body.get("text"), body.get("choice")
        if choice is not None:
            if not isinstance(choice, str) or not 0 < len(choice) <= 256:
                return await self._error(request, user, 400, BAD_REQUEST)
            label = body.get("label")
            label = label.strip()[:200] if isinstance(label, str) else ""
            incoming = Incoming(
                channel=WEB, user_id=user, update_id=client_id, choice=choice, locale_hint=hint
            )
            record: dict[str, Any] | None = {"text": label, "choice": choice}
        elif isinstance(text, str) and text.strip():
            text = text.strip()
            if len(text) > MAX_TEXT:
                return await self._error(request, user, 400, TOO_LONG, limit=lambda t: t.number(MAX_TEXT))
            command = command_of(text)
            incoming = Incoming(
                channel=WEB,
                user_id=user,
                update_id=client_id,
                text=None if command else text,
                command=command[0] if command else None,
                command_args=command[1] if command else "",
                locale_hint=hint,
            )
            # The page starts a new conversation with a silent /start: no "/start" bubble.
            record = None if (command and body.get("silent") is True) else {"text": text}
        else:
            return await self._error(request, user, 400, BAD_REQUEST)
        return await self._dispatch(request, user, fresh, incoming, record)

    async def upload(self, request: web.Request) -> web.StreamResponse:
        user, fresh = _web_user(request)
        if self._cross_site(request):
            return await self._error(request, user, 403, CROSS_SITE)
        if request.content_type != "multipart/form-data":
            return await self._error(request, user, 400, BAD_REQUEST)
        # Refuse before reading when the browser says how big the body is; otherwise while streaming.
        if (request.content_length or 0) > (self.max_upload + MULTIPART_SLACK) * MAX_FILES:
            return await self._error(request, user, 413, UI_STRINGS["too_large"], limit=self._limit_mb)
        try:
            client_id, uploads = await self._read_upload(request)
        except _TooLarge:
            return await self._error(request, user, 413, UI_STRINGS["too_large"], limit=self._limit_mb)
        except Exception as exc:  # a malformed body from a client: its problem, not a crash of ours
            log.info("web chat: unreadable upload body (%s)", type(exc).__name__)
            return await self._error(request, user, 400, BAD_REQUEST)
        if not uploads or not _valid_client_id(client_id):
            return await self._error(request, user, 400, BAD_REQUEST)
        if any(not data for _, _, data in uploads):
            return await self._error(request, user, 400, UI_STRINGS["empty_file"])
        files = [_file_ref(*upload) for upload in uploads]
        incoming = Incoming(
            channel=WEB,
            user_id=user,
            update_id=client_id,
            file=files[0],
            more_files=tuple(files[1:]),
            locale_hint=_locale_hint(request),
        )
        chips = [{"name": f.filename, "size": f.size} for f in files]
        record = {"text": "", "file": chips[0], "more_files": chips[1:]}
        return await self._dispatch(request, user, fresh, incoming, record)

    async def download(self, request: web.Request) -> web.StreamResponse:
        """A document the bot sent to this user (a receipt, a form to fill in)."""
        user, fresh = _web_user(request)
        row = None
        if not fresh:
            async with self.sessions() as session:
                row = await transcripts.get(session, user, record_id(request.match_info["message_id"]) or 0)
        document = row["payload"].get("document") if row and row["dir"] == transcripts.OUT else None
        path = Path(document["path"]) if document else None
        if document is None or path is None or not path.is_file():
            return await self._error(request, user, 404, FILE_GONE)
        name = document.get("filename") or path.name
        ascii_name = name.encode("ascii", "replace").decode().replace('"', "").replace("?", "_")
        disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
        headers = {
            hdrs.CONTENT_TYPE: document.get("content_type") or "application/octet-stream",
            hdrs.CONTENT_DISPOSITION: disposition,
            hdrs.CACHE_CONTROL: "private, no-store",
            "X-Content-Type-Options": "nosniff",
        }
        return web.FileResponse(path, headers=headers)

    # --- the one path every user action takes ---------------------------------------------------

    async def _dispatch(
        self,
        request: web.Request,
        user: str,
        fresh: bool,
        incoming: Incoming,
        record: dict[str, Any] | None,
    ) -> web.StreamResponse:
        """Run the update through the pipeline and keep the user's message and the replies.

        One request per web user at a time (a double tap and a retry racing each other), so the
        check for an already recorded client id and the recording itself cannot interleave.
        """
        client_id = incoming.update_id
        async with self.pipeline.turn(WEB, user, across_processes=True):
            recent = [] if fresh else await self._history(user, limit=RECENT)
            if any(m["dir"] == transcripts.IN and m["payload"].get("cid") == client_id for m in recent):
                # A retry of a request whose answer got lost on the way: the page re-reads the transcript.
                return self._with_cookie(request, _json({"messages": [], "duplicate": True}), user, fresh)
            try:
                outs = await self.pipeline.handle(incoming)
            except Exception as exc:
                log_failure(log, f"web chat: update {client_id}", exc)
                return await self._error(request, user, 500, UI_STRINGS["error"])
            sent: dict[str, Any] | None = None
            replies: list[dict[str, Any]] = []
            async with self.sessions() as session, session.begin():
                if record is not None:
                    if incoming.choice is not None:
                        # The label the bot showed wins over the one the page sent.
                        record["text"] = (
                            label_of(recent, incoming.choice) or record["text"] or incoming.choice
                        )
                    record["cid"] = client_id
                    sent_id = await transcripts.append(session, user, transcripts.IN, record)
                    sent = {"id": sent_id, "dir": transcripts.IN, "payload": record}
                for out in outs:
                    payload = outgoing_payload(out)
                    reply_id = await transcripts.append(session, user, transcripts.OUT, payload)
                    replies.append({"id": reply_id, "dir": transcripts.OUT, "payload": payload})
        data: dict[str, Any] = {"messages": [page_message(r) for r in replies]}
        if sent is not None:
            data["sent"] = page_message(sent)
        if not outs:
            data["duplicate"] = True
        # The answer may have switched the language (/language): the page reloads its strings.
        data["locale"] = await self._locale(user, request)
        return self._with_cookie(request, _json(data), user, fresh)

    # --- helpers --------------------------------------------------------------------------------

    def _with_cookie(
        self, request: web.Request, response: web.Response, user: str, fresh: bool
    ) -> web.Response:
        if fresh:
            response.set_cookie(
                COOKIE,
                user,
                max_age=COOKIE_MAX_AGE,
                path="/",
                httponly=True,
                samesite="Lax",
                secure=self.secure_cookie or request.secure,
            )
        return response

    def _cross_site(self, request: web.Request) -> bool:
        return from_foreign_site(request, self.public_origin)

    async def _history(self, user: str, limit: int = HISTORY_LIMIT, after: int | None = None) -> list[dict]:
        async with self.sessions() as session:
            return await transcripts.history(session, user, limit, after=after)

    async def _locale(self, user: str, request: web.Request) -> str:
        try:
            locale = await self.pipeline.locale_of(WEB, user)
        except Exception as exc:
            log.error("web chat: could not read a user's locale (%s)", type(exc).__name__)
            locale = None
        return normalise_locale(locale) or _locale_hint(request) or DEFAULT_LOCALE

    def _boot(self, locale: str) -> dict[str, Any]:
        t = translator(locale)
        ui = {key: t(msgid) for key, msgid in UI_STRINGS.items()}
        ui["too_large"] = t(UI_STRINGS["too_large"], limit=self._limit_mb(t))
        ui["text_cut"] = t(UI_STRINGS["text_cut"], limit=t.number(MAX_TEXT))
        return {
            "locale": locale,
            "ui": ui,
            "max_upload_bytes": self.max_upload,
            "max_files": MAX_FILES,
            "max_text": MAX_TEXT,
        }

    def _limit_mb(self, t: Translator) -> str:
        return _megabytes(self.max_upload, t)

    async def _error(
        self, request: web.Request, user: str, status: int, msgid: str, **values: Any
    ) -> web.Response:
        """A JSON `{"error": ...}` in the user's language; a value may be a function of the translator."""
        t = translator(await self._locale(user, request))
        values = {k: v(t) if callable(v) else v for k, v in values.items()}
        return _json({"error": t(msgid, **values)}, status=status)

    async def _read_upload(self, request: web.Request) -> tuple[str | None, list[tuple[str, str, bytes]]]:
        """The `id` field and the `file`s (name, type, bytes) of a multipart upload, up to
        MAX_FILES picked together, each streamed with a cap so an oversized file is refused after
        at most `max_upload_bytes` have been read."""
        reader = await request.multipart()
        client_id: str | None = None
        uploads: list[tuple[str, str, bytes]] = []
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise ValueError("nested multipart")
            if part.name == "file" and len(uploads) < MAX_FILES:
                data = await read_part(part, self.max_upload)
                if data is None:
                    raise _TooLarge
                content_type = part.headers.get(hdrs.CONTENT_TYPE, "")
                uploads.append((clean_filename(part.filename), clean_content_type(content_type), data))
            else:
                value = await read_part(part, 256)
                if value is None:
                    raise ValueError(f"oversized field {part.name!r}")
                if part.name == "id":
                    client_id = value.decode("utf-8")
        return client_id, uploads


def _file_ref(filename: str, content_type: str, data: bytes) -> FileRef:
    async def read() -> bytes:
        return data

    return FileRef(filename=filename, content_type=content_type, size=len(data), read=read)


class _TooLarge(Exception):
    pass


# Helpers that know HTTP and the page, not the chat.

_PAGE_HEADERS = {
    hdrs.CACHE_CONTROL: "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
_dumps = partial(json.dumps, ensure_ascii=False, default=str)


def _json(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps, headers={hdrs.CACHE_CONTROL: "no-store"})


def _script_json(data: dict[str, Any]) -> str:
    """JSON safe inside <script type="application/json">: no "</script>" can close it early."""
    return _dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _web_user(request: web.Request) -> tuple[str, bool]:
    """The cookie's user id, and whether it is new (no or malformed cookie: a new id is issued)."""
    value = request.cookies.get(COOKIE, "")
    if _COOKIE_RE.fullmatch(value):
        return value, False
    return secrets.token_urlsafe(24), True


def _locale_hint(request: web.Request) -> str | None:
    first = request.headers.get(hdrs.ACCEPT_LANGUAGE, "").split(",", 1)[0].split(";", 1)[0]
    return normalise_locale(first.strip())


def _valid_client_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and _CLIENT_ID_RE.fullmatch(value) is not None


async def _read_json(request: web.Request) -> dict[str, Any] | None:
    """The request's JSON object, or None when it is missing, too big or not an object."""
    if (request.content_length or 0) > MAX_JSON_BYTES:
        return None
    raw = bytearray()
    while chunk := await request.content.read(MAX_JSON_BYTES + 1 - len(raw)):
        raw += chunk
        if len(raw) > MAX_JSON_BYTES:
            return None
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def _megabytes(n: int, t: Translator) -> str:
    """A byte count as megabytes for a sentence: "20", "0,5" in Vietnamese."""
    mb = round(n / (1024 * 1024), 1)
    return t.number(int(mb) if mb == int(mb) else mb)
