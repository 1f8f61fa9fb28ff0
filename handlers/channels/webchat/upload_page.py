"""The upload page: where a user of a channel that cannot carry a PDF (Zalo) sends one.

The checklist gives such a user a one-time link, /upload/<token> (storage/upload_links.py), bound
to one item of one draft. The page is plain HTML that works without JavaScript; upload.js only
adds a progress bar. A POST is checked and filed by `documents.receive_upload`, the same code a
file sent in the chat goes through, in one transaction with using the link up; then the chat the
link was shown in gets the confirmation and the checklist's progress through its channel's
`Sender`. A refused file (wrong type, too big) does not use the link up, so the user can try
again with another file.

The token is the only key: the page sends no referrer (the token is in its URL), is never
cached, and says nothing about the dossier beyond the item's name. Nothing is logged that
identifies the user or the file.
"""

from __future__ import annotations

import html
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, hdrs, web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations import documents
from conversations.dialogue import Dialogue
from conversations.i18n import DEFAULT_LOCALE, N_, Translator, normalise_locale, translator
from conversations.messages import FileRef, Incoming, Outgoing
from conversations.run import Run
from handlers.senders import Sender
from handlers.web_common import clean_content_type, clean_filename, read_part
from storage import accounts, applications, upload_links
from storage.db import claim_writer
from storage.models import Account, Application, ConversationState, Identity

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static" / "upload"
MAX_FILES = 5  # one submission; an item needing three photos takes them at once
MULTIPART_SLACK = 64 * 1024
TOKEN_PATTERN = "[A-Za-z0-9_-]{20,128}"

TITLE = N_("Upload a document")
SEND = N_("Send")
ACCEPT_PDF_OR_PHOTO = N_("A PDF file or a photo (JPG, PNG), at most {mb} MB each.")
ACCEPT_PHOTO = N_("Photos (JPG, PNG), at most {mb} MB each.")
MANY_FILES = N_("This item needs {needed} files; {count} received so far. You can choose several at once.")
VALID_UNTIL = N_("This link works once, until {time}.")
UPLOADING = N_("Sending…")
UPLOAD_FAILED = N_("The file was not sent. Check the connection and try again.")
TOO_LARGE = N_("This file is larger than {mb} MB. Please send a smaller file or a photo.")
NO_FILE = N_("Please choose a file first.")
RECEIVED_TITLE = N_("✅ Received")
RECEIVED = N_("Received {count} file(s) for “{item}”. You can close this page and go back to the chat.")
LINK_GONE = N_(
    "This link has been used already or has expired. In the chat, choose the document again to get a new link."
)
DOSSIER_CLOSED = N_("This dossier has been submitted, so documents can no longer be added through this link.")


@dataclass
class _Found:
    link: upload_links.UploadLink
    identity: Identity
    run: Run
    item: documents.ItemStatus
    live: bool  # the conversation waits at this draft's checklist: the page continues it


class _Refused(Exception):
    def __init__(self, status: int, message: str, t: Translator) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.t = t


class UploadPage:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        dialogue: Dialogue,
        senders: dict[str, Sender],
        *,
        max_files: int = MAX_FILES,
    ) -> None:
        self.sessions = sessions
        self.dialogue = dialogue
        self.senders = senders  # filled by the channels as they are built; read at upload time
        self.max_files = max_files

    @property
    def max_bytes(self) -> int:
        return self.dialogue.settings.max_file_bytes

    def attach(self, app: web.Application) -> None:
        if "upload.page" in app.router.named_resources():
            return  # another channel without documents attached it already
        app.router.add_get(f"/upload/{{token:{TOKEN_PATTERN}}}", self.show, name="upload.page")
        app.router.add_post(f"/upload/{{token:{TOKEN_PATTERN}}}", self.receive, name="upload.post")
        app.router.add_static("/static/upload", STATIC_DIR, name="upload.static")

    # --- routes -------------------------------------------------------------------------------------

    async def show(self, request: web.Request) -> web.StreamResponse:
        try:
            async with self.sessions() as session:
                found = await self._find(session, request, lock=False)
                return self._page(request, found.run.t, self._form(found))
        except _Refused as refused:
            return self._page(request, refused.t, _notice(refused.message), status=refused.status)

    async def receive(self, request: web.Request) -> web.StreamResponse:
        t = translator(_hint(request) or DEFAULT_LOCALE)
        if (request.content_length or 0) > self.max_files * (self.max_bytes + 1) + MULTIPART_SLACK:
            return self._answer(request, t, 413, t(TOO_LARGE, mb=self._mb()))
        try:
            files = await self._read_files(request)
        except Exception:  # a malformed body from a client: its problem, not a crash of ours
            log.info("upload page: unreadable upload body")
            return self._answer(request, t, 400, t(UPLOAD_FAILED))
        try:
            async with self.sessions() as session, session.begin():
                await claim_writer(session)
                found = await self._find(session, request, lock=True)
                run, t = found.run, found.run.t
                if not files:
                    raise _Refused(400, t(NO_FILE), t)
                if not await upload_links.claim(session, found.link, run.now):
                    raise _Refused(410, t(LINK_GONE), t)
                filed = await documents.receive_upload(run, found.link.item_id, files)
                if not filed:  # everything refused: roll back, the link stays usable
                    raise _Refused(422, "\n".join(m.text for m in run.out) or t(UPLOAD_FAILED), t)
                if found.live:
                    self.dialogue.remember_choices(run)  # "2" in the chat now means this checklist
        except _Refused as refused:
            return self._answer(
                request, refused.t, refused.status, refused.message, form=refused.status == 422
            )
        await self._confirm(found.identity, run.out)
        message = t(RECEIVED, count=filed, item=t(found.item.item.label))
        return self._answer(request, t, 200, message, title=t(RECEIVED_TITLE))

    # --- the link, its draft and its item --------------------------------------------------------

    async def _find(self, session: AsyncSession, request: web.Request, *, lock: bool) -> _Found:
        now = self.dialogue.clock()
        link = await upload_links.find(session, request.match_info["token"])
        account = await session.get(Account, link.account_id) if link is not None else None
        t = translator((account.locale if account else None) or _hint(request) or DEFAULT_LOCALE)
        if link is None or account is None or not link.usable(now):
            raise _Refused(410, t(LINK_GONE), t)
        identity = await session.get(Identity, link.identity_id)
        application = await session.get(Application, link.application_id)
        if identity is None or identity.account_id != account.id or application is None:
            raise _Refused(410, t(LINK_GONE), t)  # the identity was linked elsewhere, or data deleted
        if application.status not in applications.OPEN_STATUSES:
            raise _Refused(410, t(DOSSIER_CLOSED), t)
        state = (
            await accounts.locked_state(session, account.id)
            if lock
            else await session.get(ConversationState, account.id)
        )
        live = (
            state is not None
            and state.step == documents.STEP_ID
            and state.data.get("application_id") == application.id
        )
        if not live:
            # The conversation is elsewhere: the draft's checklist is read (and filed into)
            # without moving it, through a state that is never saved.
            state = ConversationState(
                account_id=account.id, data={"store": "application", "application_id": application.id}
            )
        assert state is not None
        # Upload links exist only for channels that cannot carry a PDF; today that is Zalo, which
        # has no buttons either: the messages this page sends to the chat are worded for it.
        incoming = Incoming(
            channel=identity.channel,
            user_id=identity.external_id,
            update_id=f"upload:{link.id}",
            can_send_documents=False,
            has_buttons=False,
        )
        run = await self.dialogue.run_for(session, account, state, incoming)
        if run.facility is None or run.facility.id != application.facility_id:
            raise _Refused(410, t(LINK_GONE), t)
        run.application = application
        item = next((s for s in await documents.status(run) if s.item.id == link.item_id), None)
        if item is None:
            raise _Refused(410, t(LINK_GONE), t)
        return _Found(link=link, identity=identity, run=run, item=item, live=live)

    async def _read_files(self, request: web.Request) -> list[FileRef]:
        """The `file` parts, each read with a cap: one byte past the limit is enough for the
        checklist to refuse it as too large, with its usual message."""
        if not request.content_type.startswith("multipart/"):
            return []
        reader = await request.multipart()
        files: list[FileRef] = []
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise ValueError("nested multipart")
            if part.name != "file" or len(files) >= self.max_files:
                await part.release()
                continue
            name = clean_filename(part.filename)
            content_type = clean_content_type(part.headers.get(hdrs.CONTENT_TYPE, ""))
            data = await read_part(part, self.max_bytes)
            if data is None:
                # Too large: the rest is not read, and nothing after it. Its size is all the
                # checklist needs to refuse it with its usual message.
                files.append(_file(name, content_type, b"", size=self.max_bytes + 1))
                break
            if not data and not part.filename:
                continue  # the empty part a form sends when no file was chosen
            files.append(_file(name, content_type, data))
        return files

    async def _confirm(self, identity: Identity, messages: list[Outgoing]) -> None:
        """The chat the link was shown in hears that the file arrived, and where the list stands."""
        sender = self.senders.get(identity.channel)
        if sender is None or not messages:
            return
        try:
            await sender.send(identity.external_id, messages)
        except Exception as exc:  # the file is filed; the confirmation is a courtesy
            log.warning("upload page: confirmation not delivered (%s)", type(exc).__name__)

    # --- HTML ---------------------------------------------------------------------------------------

    def _mb(self) -> int:
        return self.max_bytes // (1024 * 1024)

    def _form(self, found: _Found, error: str | None = None) -> str:
        t, item = found.run.t, found.item.item
        accept = ".pdf,application/pdf,image/jpeg,image/png,image/webp,image/heic,image/avif"
        rules = t(ACCEPT_PDF_OR_PHOTO, mb=self._mb())
        if item.accept == ("image",):
            accept, rules = (
                "image/jpeg,image/png,image/webp,image/heic,image/avif",
                t(ACCEPT_PHOTO, mb=self._mb()),
            )
        lines = [f'<p class="item">{_e(t(item.label))}</p>']
        if item.hint:
            lines.append(f'<p class="hint">{_e(t(item.hint))}</p>')
        lines.append(f"<p>{_e(rules)}</p>")
        if item.min_files > 1:
            lines.append(f"<p>{_e(t(MANY_FILES, needed=item.min_files, count=found.item.count))}</p>")
        strings = {
            "uploading": t(UPLOADING),
            "failed": t(UPLOAD_FAILED),
            "too_large": t(TOO_LARGE, mb=self._mb()),
            "no_file": t(NO_FILE),
        }
        lines.append(
            f'<form id="upload" method="post" enctype="multipart/form-data" '
            f'data-max-bytes="{self.max_bytes}" data-strings="{_e(json.dumps(strings, ensure_ascii=False))}">'
            f'<input type="file" name="file" accept="{accept}" required'
            f"{' multiple' if item.min_files > 1 else ''}>"
            f'<progress hidden max="100" value="0"></progress>'
            f'<p class="error" role="alert"{"" if error else " hidden"}>{_e(error or "")}</p>'
            f'<button type="submit">{_e(t(SEND))}</button></form>'
        )
        until = t.datetime(found.link.expires_at, self.dialogue.settings.timezone)
        lines.append(f'<p class="small">{_e(t(VALID_UNTIL, time=until))}</p>')
        return "\n".join(lines)

    def _page(self, request: web.Request, t: Translator, body: str, *, status: int = 200) -> web.Response:
        page = (
            "<!doctype html>\n"
            f'<html lang="{t.locale}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="robots" content="noindex">'
            f"<title>{_e(t(TITLE))}</title>"
            '<link rel="stylesheet" href="../static/upload/upload.css">'
            '<script src="../static/upload/upload.js" defer></script></head>'
            f'<body><main><h1>{_e(t(TITLE))}</h1>\n<div id="content">{body}</div></main></body></html>'
        )
        return web.Response(text=page, content_type="text/html", status=status, headers=_HEADERS)

    def _answer(
        self,
        request: web.Request,
        t: Translator,
        status: int,
        message: str,
        *,
        title: str | None = None,
        form: bool = False,
    ) -> web.Response:
        """JSON for upload.js (it asks for it), a whole page for a browser without JavaScript."""
        if "application/json" in request.headers.get(hdrs.ACCEPT, ""):
            body: dict[str, Any] = {"ok": status == 200, "message": message, "retry": form}
            if title:
                body["title"] = title
            return web.json_response(body, status=status, headers=_HEADERS, dumps=_dumps)
        content = (f"<h2>{_e(title)}</h2>" if title else "") + _notice(message)
        if form:
            content += f'<p><a href="{_e(request.path)}">{_e(t(TITLE))}</a></p>'
        return self._page(request, t, content, status=status)


_HEADERS = {
    hdrs.CACHE_CONTROL: "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",  # the token is in the URL
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex",
}


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _notice(message: str) -> str:
    return "".join(f"<p>{_e(line)}</p>" for line in message.split("\n") if line.strip())


def _hint(request: web.Request) -> str | None:
    first = request.headers.get(hdrs.ACCEPT_LANGUAGE, "").split(",", 1)[0].split(";", 1)[0]
    return normalise_locale(first.strip())


def _file(filename: str, content_type: str, data: bytes, *, size: int | None = None) -> FileRef:
    async def read() -> bytes:
        return data

    return FileRef(
        filename=filename, content_type=content_type, size=len(data) if size is None else size, read=read
    )
