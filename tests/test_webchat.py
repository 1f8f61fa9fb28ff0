"""The local web chat over real HTTP: a fake pipeline behind it, SQLite in a temporary folder.

The Vietnamese texts come from the real catalogs in locales/.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient, TestServer

from conversations.messages import Choice, Document, Incoming, Outgoing
from handlers.channels.webchat.chat import COOKIE, setup_webchat
from handlers.runtime import UserTurns
from storage import transcripts
from storage.db import session_factory
from tests.conftest import migrated_sqlite

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 64 * 1024  # a small upload limit keeps the oversized-file tests fast
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


class FakePipeline:
    """Echoes what it gets, records every Incoming, and drops a repeated update id like the real one."""

    def __init__(self) -> None:
        self.received: list[Incoming] = []
        self.file_bytes: list[bytes] = []
        self.locale = "vi"
        self.fail = False
        self._seen: set[tuple[str, str]] = set()
        self._turns = UserTurns()

    def turn(self, channel: str, user_id: str, *, across_processes: bool = False) -> Any:
        return self._turns.turn(channel, user_id)

    async def handle(self, incoming: Incoming) -> list[Outgoing]:
        if self.fail:
            raise RuntimeError("engine exploded at /secret/path/engine.py")
        key = (incoming.channel, incoming.update_id)
        if key in self._seen:
            return []
        self._seen.add(key)
        self.received.append(incoming)
        if incoming.file is not None:
            self.file_bytes.append(await incoming.file.read())
            return [Outgoing(text=f"got {incoming.file.filename}")]
        said = incoming.command or incoming.choice or incoming.text
        return [Outgoing(text=f"echo: {said}", choices=[Choice("Có", "yes"), Choice("Không", "no")])]

    async def locale_of(self, channel: str, user_id: str) -> str:
        return self.locale


@pytest.fixture
async def sessions(tmp_path, sqlite_template):
    # A copy of the migrated template (tests/conftest.py): building the schema per test cost more.
    engine = migrated_sqlite(sqlite_template, tmp_path / "bot.db")
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
def pipeline() -> FakePipeline:
    return FakePipeline()


@pytest.fixture
async def client(pipeline, sessions):
    app = web.Application(client_max_size=LIMIT + 1024 * 1024)
    setup_webchat(app, pipeline, sessions, max_upload_bytes=LIMIT)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


def new_id() -> str:
    return str(uuid.uuid4())


def cookie_of(client: TestClient) -> str | None:
    for cookie in client.session.cookie_jar:
        if cookie.key == COOKIE:
            return cookie.value
    return None


async def open_page(client: TestClient) -> str:
    response = await client.get("/")
    assert response.status == 200
    return cookie_of(client) or ""


async def send(client: TestClient, **body) -> dict:
    response = await client.post("/api/chat/send", json={"id": new_id(), **body})
    assert response.status == 200, await response.text()
    return await response.json()


async def state(client: TestClient) -> dict:
    response = await client.get("/api/chat/state")
    assert response.status == 200
    return await response.json()


def pdf_form(content: bytes = PDF, name: str = "giay-phep.pdf", client_id: str | None = None) -> FormData:
    form = FormData()
    form.add_field("id", client_id or new_id())
    form.add_field("file", content, filename=name, content_type="application/pdf")
    return form


# --- the page and the cookie -------------------------------------------------------------------


async def test_first_visit_sets_the_cookie_and_a_second_keeps_it(client):
    response = await client.get("/")
    assert response.status == 200
    set_cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie and "Path=/" in set_cookie
    assert "Max-Age=31536000" in set_cookie
    first = cookie_of(client)
    assert first and len(first) >= 32

    again = await client.get("/")
    assert "Set-Cookie" not in again.headers
    assert cookie_of(client) == first


async def test_page_is_self_contained_and_carries_its_strings(client):
    response = await client.get("/")
    page = await response.text()
    assert "{{" not in page
    assert '<html lang="vi">' in page
    assert "Trợ lý Khuyến công" in page  # the header appears before any request of the page
    assert "http" not in re.sub(r"<script id=\"kc-boot\".*?</script>", "", page, flags=re.S)
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    for asset in re.findall(r'(?:href|src)="(static/webchat/[^"]+)"', page):
        served = await client.get("/" + asset)
        assert served.status == 200, asset


async def test_state_gives_vietnamese_ui_strings(client):
    await open_page(client)
    data = await state(client)
    assert data["locale"] == "vi"
    assert data["ui"]["title"] == "Trợ lý Khuyến công"
    assert data["ui"]["send"] == "Gửi"
    assert data["ui"]["too_large"] == "Tệp này quá lớn. Vui lòng gửi tệp không quá 0,1 MB."
    assert data["messages"] == []
    assert data["max_upload_bytes"] == LIMIT


async def test_state_gives_english_ui_strings_when_the_pipeline_says_en(client, pipeline):
    pipeline.locale = "en"
    await open_page(client)
    data = await state(client)
    assert data["locale"] == "en"
    assert data["ui"]["title"] == "Industrial Extension Assistant"
    assert data["ui"]["placeholder"] == "Type a message…"


# --- sending -----------------------------------------------------------------------------------


async def test_text_reaches_the_pipeline_as_the_cookie_user_and_the_reply_comes_back(client, pipeline):
    user = await open_page(client)
    client_id = new_id()
    response = await client.post("/api/chat/send", json={"id": client_id, "text": "  Xin chào  "})
    data = await response.json()

    incoming = pipeline.received[-1]
    assert (incoming.channel, incoming.user_id, incoming.update_id) == ("web", user, client_id)
    assert incoming.text == "Xin chào" and incoming.command is None
    assert [m["text"] for m in data["messages"]] == ["echo: Xin chào"]
    reply = data["messages"][0]
    assert reply["dir"] == "out"
    assert reply["choices"] == [{"label": "Có", "payload": "yes"}, {"label": "Không", "payload": "no"}]
    assert data["sent"]["text"] == "Xin chào" and data["sent"]["dir"] == "in"


async def test_a_slash_text_arrives_as_a_command(client, pipeline):
    await open_page(client)
    data = await send(client, text="/menu")
    assert (pipeline.received[-1].command, pipeline.received[-1].text) == ("menu", None)
    assert data["messages"][0]["text"] == "echo: menu"
    await send(client, text="/apply@KhuyenCongBot food")
    assert (pipeline.received[-1].command, pipeline.received[-1].command_args) == ("apply", "food")


async def test_a_tapped_button_sends_its_payload_and_shows_its_label(client, pipeline):
    await open_page(client)
    await send(client, text="bắt đầu")
    data = await send(client, choice="yes", label="Có")
    assert pipeline.received[-1].choice == "yes"
    assert pipeline.received[-1].text is None
    assert data["sent"]["text"] == "Có"
    history = (await state(client))["messages"]
    assert [(m["dir"], m["text"]) for m in history[-2:]] == [("in", "Có"), ("out", "echo: yes")]


async def test_the_label_shown_is_the_one_the_bot_offered_not_what_the_page_claims(client):
    await open_page(client)
    await send(client, text="bắt đầu")
    data = await send(client, choice="no", label="Something else")
    assert data["sent"]["text"] == "Không"


async def test_a_silent_start_is_not_shown_as_the_users_message(client, pipeline):
    await open_page(client)
    await send(client, text="/start", silent=True)
    assert pipeline.received[-1].command == "start"
    history = (await state(client))["messages"]
    assert [(m["dir"], m["text"]) for m in history] == [("out", "echo: start")]


# --- the transcript ----------------------------------------------------------------------------


async def test_history_survives_a_reload_and_is_private_to_the_cookie(client):
    await open_page(client)
    await send(client, text="một")
    await send(client, text="hai")
    history = (await state(client))["messages"]
    assert [(m["dir"], m["text"]) for m in history] == [
        ("in", "một"),
        ("out", "echo: một"),
        ("in", "hai"),
        ("out", "echo: hai"),
    ]
    assert [m["id"] for m in history] == sorted(m["id"] for m in history)

    client.session.cookie_jar.clear()
    await open_page(client)
    assert (await state(client))["messages"] == []


async def test_a_retried_request_is_applied_and_recorded_once(client, pipeline):
    await open_page(client)
    body = {"id": new_id(), "text": "nộp hồ sơ"}
    first = await (await client.post("/api/chat/send", json=body)).json()
    again = await (await client.post("/api/chat/send", json=body)).json()
    assert first["messages"] and "duplicate" not in first
    assert again == {"messages": [], "duplicate": True}
    assert len(pipeline.received) == 1
    history = (await state(client))["messages"]
    assert [m["text"] for m in history] == ["nộp hồ sơ", "echo: nộp hồ sơ"]


async def test_a_duplicate_the_transcript_missed_is_recorded_once(client, pipeline, sessions):
    """The pipeline saw the id already (e.g. a crash after it committed): keep the user's message
    once, no replies, and tell the page to re-read."""
    user = await open_page(client)
    client_id = new_id()
    pipeline._seen.add(("web", client_id))
    data = await (await client.post("/api/chat/send", json={"id": client_id, "text": "a"})).json()
    assert data["duplicate"] is True and data["messages"] == []
    await client.post("/api/chat/send", json={"id": client_id, "text": "a"})
    async with sessions() as session:
        rows = await transcripts.history(session, user)
    assert [(r["dir"], r["payload"]["text"]) for r in rows] == [("in", "a")]


async def test_updates_return_only_messages_after_the_given_id(client, pipeline, sessions):
    from handlers.channels.webchat.transcript import deliver_to_web

    user = await open_page(client)
    data = await send(client, text="xin chào")
    last = data["messages"][-1]["id"]
    async with sessions() as session, session.begin():
        await deliver_to_web(session, user, [Outgoing(text="Nhắc: hạn nộp hồ sơ là 30/06")])
    response = await client.get(f"/api/chat/updates?after={last}")
    assert [m["text"] for m in (await response.json())["messages"]] == ["Nhắc: hạn nộp hồ sơ là 30/06"]
    assert (await client.get("/api/chat/updates?after=abc")).status == 400


async def test_transcript_forget_deletes_only_that_user(sessions):
    async with sessions() as session, session.begin():
        await transcripts.append(session, "alice-browser-0001", "in", {"text": "a"})
        await transcripts.append(session, "bob-browser-00001", "in", {"text": "b"})
        assert await transcripts.forget(session, "alice-browser-0001") == 1
    async with sessions() as session:
        assert await transcripts.history(session, "alice-browser-0001") == []
        assert len(await transcripts.history(session, "bob-browser-00001")) == 1
        with pytest.raises(ValueError):
            await transcripts.append(session, "bob-browser-00001", "sideways", {})


async def test_history_keeps_the_latest_messages_oldest_first(sessions):
    async with sessions() as session, session.begin():
        for n in range(5):
            await transcripts.append(session, "carol-browser-001", "in", {"text": str(n)})
    async with sessions() as session:
        rows = await transcripts.history(session, "carol-browser-001", limit=3)
    assert [r["payload"]["text"] for r in rows] == ["2", "3", "4"]


# --- uploads -----------------------------------------------------------------------------------


async def test_an_uploaded_pdf_reaches_the_pipeline_as_a_file_reference(client, pipeline):
    user = await open_page(client)
    client_id = new_id()
    response = await client.post("/api/chat/upload", data=pdf_form(client_id=client_id))
    assert response.status == 200, await response.text()
    data = await response.json()

    incoming = pipeline.received[-1]
    assert (incoming.user_id, incoming.update_id) == (user, client_id)
    assert incoming.file is not None
    assert (incoming.file.filename, incoming.file.content_type, incoming.file.size) == (
        "giay-phep.pdf",
        "application/pdf",
        len(PDF),
    )
    assert pipeline.file_bytes == [PDF]
    assert data["messages"][0]["text"] == "got giay-phep.pdf"
    assert data["sent"]["file"] == {"name": "giay-phep.pdf", "size": len(PDF)}
    history = (await state(client))["messages"]
    assert history[0]["file"] == {"name": "giay-phep.pdf", "size": len(PDF)}


async def test_a_vietnamese_file_name_survives_the_upload(client, pipeline):
    await open_page(client)
    response = await client.post("/api/chat/upload", data=pdf_form(name="Giấy chứng nhận ATTP.pdf"))
    assert response.status == 200
    assert pipeline.received[-1].file.filename == "Giấy chứng nhận ATTP.pdf"


async def test_a_browser_style_upload_is_read_like_a_browser_sends_it(client, pipeline):
    """Browsers send the name as raw UTF-8 with a quote as %22, and some a whole Windows path."""
    await open_page(client)
    boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="id"\r\n\r\n{new_id()}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="C:\\Hồ sơ\\Ảnh %22cơ sở%22.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        ).encode()
        + b"\xff\xd8\xff\xe0jpeg"
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = await client.post(
        "/api/chat/upload", data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert response.status == 200, await response.text()
    file = pipeline.received[-1].file
    assert (file.filename, file.content_type, file.size) == ('Ảnh "cơ sở".jpg', "image/jpeg", 8)


async def test_a_file_over_the_limit_is_refused_with_a_translated_message(client, pipeline):
    await open_page(client)
    # Just over the limit: the size is only found out while streaming the body.
    response = await client.post("/api/chat/upload", data=pdf_form(content=b"x" * (LIMIT + 1)))
    assert response.status == 413
    assert (await response.json()) == {"error": "Tệp này quá lớn. Vui lòng gửi tệp không quá 0,1 MB."}
    # Far over the limit: refused from the Content-Length before reading.
    response = await client.post("/api/chat/upload", data=pdf_form(content=b"x" * (LIMIT * 3)))
    assert response.status == 413
    assert "quá lớn" in (await response.json())["error"]
    assert pipeline.received == []
    assert (await state(client))["messages"] == []


async def test_an_upload_without_a_file_or_an_id_is_a_bad_request(client, pipeline):
    await open_page(client)
    form = FormData()
    form.add_field("id", new_id())
    assert (await client.post("/api/chat/upload", data=form)).status == 400
    form = FormData()
    form.add_field("file", PDF, filename="a.pdf", content_type="application/pdf")
    assert (await client.post("/api/chat/upload", data=form)).status == 400
    assert (await client.post("/api/chat/upload", data=pdf_form(content=b""))).status == 400
    assert pipeline.received == []


# --- documents the bot sends -------------------------------------------------------------------


async def test_a_document_from_the_bot_downloads_for_its_user_only(client, sessions, tmp_path):
    from handlers.channels.webchat.transcript import deliver_to_web

    receipt = tmp_path / "receipt-KC-0042.pdf"
    receipt.write_bytes(PDF)
    user = await open_page(client)
    async with sessions() as session, session.begin():
        await deliver_to_web(
            session,
            user,
            [Outgoing(text="Biên nhận", document=Document(str(receipt), "Biên nhận.pdf", "application/pdf"))],
        )
    message = (await state(client))["messages"][-1]
    assert message["file"]["name"] == "Biên nhận.pdf"
    assert str(tmp_path) not in json.dumps(message)  # the path on disk stays on the server
    response = await client.get("/" + message["file"]["href"])
    assert response.status == 200
    assert await response.read() == PDF
    assert "attachment" in response.headers["Content-Disposition"]

    client.session.cookie_jar.clear()
    await open_page(client)
    assert (await client.get("/" + message["file"]["href"])).status == 404


async def test_only_web_links_reach_the_page(client, sessions):
    from handlers.channels.webchat.transcript import deliver_to_web

    user = await open_page(client)
    async with sessions() as session, session.begin():
        await deliver_to_web(
            session,
            user,
            [
                Outgoing(text="tải lên", url="/upload/abc", url_label="Mở trang tải lên"),
                Outgoing(text="xấu", url="javascript:alert(1)", url_label="x"),
            ],
        )
    good, bad = (await state(client))["messages"]
    assert (good["url"], good["url_label"]) == ("/upload/abc", "Mở trang tải lên")
    assert bad["url"] is None


# --- errors ------------------------------------------------------------------------------------


async def test_invalid_json_is_a_translated_bad_request_without_a_traceback(client, pipeline):
    await open_page(client)
    response = await client.post(
        "/api/chat/send", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    body = await response.text()
    assert json.loads(body) == {"error": "Không đọc được yêu cầu. Vui lòng tải lại trang rồi thử lại."}
    assert "Traceback" not in body
    assert pipeline.received == []


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"text": "no id"},
        {"id": "short", "text": "an id too short"},
        {"id": "x" * 65, "text": "an id too long"},
        {"id": "bad id with spaces", "text": "x"},
        {"id": str(uuid.uuid4())},
        {"id": str(uuid.uuid4()), "text": "   "},
        {"id": str(uuid.uuid4()), "choice": ""},
    ],
)
async def test_malformed_sends_are_refused(client, pipeline, body):
    await open_page(client)
    response = await client.post("/api/chat/send", json=body)
    assert response.status == 400
    assert "error" in await response.json()
    assert pipeline.received == []


async def test_a_too_long_message_is_refused_with_the_limit(client, pipeline):
    await open_page(client)
    response = await client.post("/api/chat/send", json={"id": new_id(), "text": "a" * 4001})
    assert response.status == 400
    assert (await response.json())["error"] == "Tin nhắn quá dài. Vui lòng viết tối đa 4.000 ký tự."


async def test_a_failing_engine_gives_a_polite_error_and_records_nothing(client, pipeline):
    await open_page(client)
    pipeline.fail = True
    response = await client.post("/api/chat/send", json={"id": new_id(), "text": "xin chào"})
    assert response.status == 500
    body = await response.text()
    assert json.loads(body) == {"error": "Đã có lỗi xảy ra. Vui lòng thử lại."}
    assert "secret" not in body and "Traceback" not in body
    assert (await state(client))["messages"] == []


async def test_a_post_from_another_site_is_refused(client, pipeline):
    await open_page(client)
    response = await client.post(
        "/api/chat/send", json={"id": new_id(), "text": "x"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status == 403
    assert pipeline.received == []


async def test_an_api_call_without_a_cookie_gets_one(client, pipeline):
    data = await send(client, text="xin chào")
    assert data["messages"]
    user = cookie_of(client)
    assert user and pipeline.received[-1].user_id == user
    assert [m["text"] for m in (await state(client))["messages"]] == ["xin chào", "echo: xin chào"]


async def test_files_picked_together_reach_the_pipeline_as_one_message(client, pipeline):
    await open_page(client)
    form = FormData()
    form.add_field("id", new_id())
    for i in range(3):
        form.add_field("file", PDF + bytes([i]), filename=f"trang{i}.pdf", content_type="application/pdf")
    response = await client.post("/api/chat/upload", data=form)
    assert response.status == 200, await response.text()
    assert len(pipeline.received) == 1  # one message, answered once
    incoming = pipeline.received[-1]
    assert incoming.file is not None and incoming.file.filename == "trang0.pdf"
    assert [f.filename for f in incoming.more_files] == ["trang1.pdf", "trang2.pdf"]
    assert [await f.read() for f in incoming.more_files] == [PDF + b"\x01", PDF + b"\x02"]
    history = (await state(client))["messages"]
    assert history[0]["file"]["name"] == "trang0.pdf"
    assert [f["name"] for f in history[0]["more_files"]] == ["trang1.pdf", "trang2.pdf"]
    assert (await state(client))["max_files"] == 5


async def test_an_empty_file_among_several_is_refused_before_the_pipeline(client, pipeline):
    await open_page(client)
    form = FormData()
    form.add_field("id", new_id())
    form.add_field("file", PDF, filename="a.pdf", content_type="application/pdf")
    form.add_field("file", b"", filename="b.pdf", content_type="application/pdf")
    response = await client.post("/api/chat/upload", data=form)
    assert response.status == 400 and pipeline.received == []
