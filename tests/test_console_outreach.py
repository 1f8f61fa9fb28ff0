"""Broadcasts and fairs from the console: the chat's audience and its count per channel, a preview,
sending through the outbox, pause / resume / cancel, and the fairs and rounds listed."""

from __future__ import annotations

import re
from datetime import date
from io import BytesIO

from openpyxl import load_workbook
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.runtime import Pipeline
from storage.models import Account
from storage.outbox import OutboxMessage
from storage.outreach import Broadcast, Fair, FairRegistration
from tests.conftest import Clock
from tests.console_support import console_client, csrf_of, sign_in
from tests.test_staff_support import add_staff, dossier


async def test_a_broadcaster_previews_sends_pauses_and_cancels_from_the_web(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await add_staff(sessions, "b1", "broadcaster", "Hưng Yên")
    await dossier(sessions, product="Giỏ mây", commune="Xã Phú Vinh")
    await dossier(sessions, product="Nón lá", commune="Xã Tân Hưng")
    await dossier(sessions, province="Hà Nội", product="Gốm")
    async with sessions() as s, s.begin():
        await s.execute(update(Account).values(consent_at=clock.now))
    async with console_client(pipeline, sessions) as client:
        csrf = csrf_of(await sign_in(client, sessions, "b1", clock))  # lands on the broadcasts
        page = await (await client.get("/staff/broadcasts")).text()
        assert "New broadcast" in page
        text = "Hội chợ hàng CNNT tiêu biểu mở đăng ký đến 15/12."
        preview = await client.post("/staff/broadcasts", data={"csrf": csrf, "text": text, "send": "0"})
        html = await preview.text()
        assert "Recipients: 2" in html and "Web 2" in html and text in html  # Hà Nội is not theirs
        async with sessions() as s:
            assert not (await s.scalars(select(OutboxMessage))).all()
        one = await client.post(
            "/staff/broadcasts", data={"csrf": csrf, "text": text, "commune": "tan hung", "send": "0"}
        )
        assert "Recipients: 1" in await one.text()

        sent = await client.post("/staff/broadcasts", data={"csrf": csrf, "text": text, "send": "1"})
        assert sent.status == 200
        async with sessions() as s:
            b = (await s.scalars(select(Broadcast))).one()
            rows = (await s.scalars(select(OutboxMessage))).all()
        assert b.total == 2 and len(rows) == 2 and b.status == "running"
        listed = await sent.text()
        assert f"#{b.id}" in listed and 'http-equiv="refresh"' in listed

        await client.post(f"/staff/broadcasts/{b.id}/pause", data={"csrf": csrf})
        async with sessions() as s:
            assert (await s.get(Broadcast, b.id)).status == "paused"
        await client.post(f"/staff/broadcasts/{b.id}/resume", data={"csrf": csrf})
        await client.post(f"/staff/broadcasts/{b.id}/stop", data={"csrf": csrf})
        async with sessions() as s:
            assert (await s.get(Broadcast, b.id)).status == "cancelled"
            statuses = {r.status for r in (await s.scalars(select(OutboxMessage))).all()}
        assert statuses == {"cancelled"}
        report = await (await client.get("/staff/broadcasts")).text()
        assert re.search(r"Not sent \(cancelled\): 2", report)


async def test_reviewers_cannot_broadcast_and_fairs_list_for_any_staff(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await add_staff(sessions, "r1", "reviewer", "Hưng Yên")
    async with console_client(pipeline, sessions) as client:
        csrf = csrf_of(await sign_in(client, sessions, "r1", clock))
        assert (await client.get("/staff/broadcasts")).status == 403
        refused = await client.post("/staff/broadcasts", data={"csrf": csrf, "text": "x", "send": "1"})
        assert refused.status == 403
        fairs = await client.get("/staff/fairs")
        assert fairs.status == 200 and "Fairs and rounds" in await fairs.text()


async def test_a_fairs_registrations_export_from_the_web_and_other_provinces_fairs_are_404(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await add_staff(sessions, "b1", "broadcaster", "Hưng Yên")
    app = await dossier(sessions, product="Giỏ mây")
    async with sessions() as s, s.begin():
        ours = Fair(
            name="Hội chợ CNNT Hưng Yên 2026",
            province="Hưng Yên",
            place="Phố Hiến",
            starts_on=date(2026, 12, 10),
            ends_on=date(2026, 12, 14),
            registration_deadline=date(2026, 12, 1),
        )
        theirs = Fair(
            name="Hội chợ Hà Nội",
            province="Hà Nội",
            place="Giảng Võ",
            starts_on=date(2026, 12, 10),
            ends_on=date(2026, 12, 14),
            registration_deadline=date(2026, 12, 1),
        )
        s.add_all([ours, theirs])
        await s.flush()
        s.add(
            FairRegistration(
                fair_id=ours.id,
                facility_id=app.facility_id,
                status="registered",
                products="=SUM(A1:A9)",
                contact_name="Lê Văn C",
                phone="0912345678",
                registered_at=clock.now,
            )
        )
    async with console_client(pipeline, sessions) as client:
        await sign_in(client, sessions, "b1", clock)
        page = await (await client.get("/staff/fairs")).text()
        assert "Hội chợ CNNT Hưng Yên 2026" in page and "Hội chợ Hà Nội" not in page
        resp = await client.get(f"/staff/export/fairs/{ours.id}/registrations.xlsx")
        sheet = load_workbook(BytesIO(await resp.read())).active
        cells = {c.value: c for row in sheet.iter_rows() for c in row}
        assert "Cơ sở Giỏ mây" in cells
        formula = cells["=SUM(A1:A9)"]
        assert formula.data_type == "s"
        assert (await client.get(f"/staff/export/fairs/{theirs.id}/registrations.xlsx")).status == 404
