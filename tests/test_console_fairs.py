"""Fairs and programme rounds created and changed from the console: mistakes shown beside their
fields with nothing lost and nothing saved, deadline reminders planned and re-planned as in chat,
and every province's fairs and rounds kept to its own staff (checked on the server)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.runtime import Pipeline
from storage.outreach import Fair, ReminderPlan, Round
from tests.conftest import Chat, Clock
from tests.console_support import console_client, csrf_of, sign_in
from tests.test_flows import onboard_english
from tests.test_staff_support import add_staff, staff_chat

# The test clock's day is 22/11/2026.
FAIR = {
    "name": "Hội chợ hàng CNNT tiêu biểu Hưng Yên 2026",
    "place": "Quảng trường Phố Hiến",
    "province": "Hưng Yên",
    "starts_on": "20/12/2026",
    "ends_on": "24/12/2026",
    "registration_deadline": "10/12/2026",
    "funded_booths": "40",
    "conditions": "Ưu tiên sản phẩm đã được công nhận",
}


async def plans(sessions: async_sessionmaker[AsyncSession], kind: str) -> dict[str, tuple[str, str]]:
    async with sessions() as s:
        rows = await s.scalars(select(ReminderPlan).where(ReminderPlan.kind == kind))
        return {p.step: (p.basis, p.status) for p in rows}


async def test_a_fair_with_a_mistake_comes_back_with_it_marked_and_everything_kept(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock, chat: Chat
) -> None:
    await add_staff(sessions, "b1", "broadcaster", "Hưng Yên")
    async with console_client(pipeline, sessions) as client:
        csrf = csrf_of(await sign_in(client, sessions, "b1", clock))
        listed = await (await client.get("/staff/fairs")).text()
        assert 'href="/staff/fairs/new"' in listed and 'href="/staff/rounds/new"' in listed
        wrong = {**FAIR, "registration_deadline": "28/12/2026", "funded_booths": "mười", "csrf": csrf}
        resp = await client.post("/staff/fairs/new", data=wrong)
        html = await resp.text()
        assert resp.status == 422
        assert "The date cannot be later than 20/12/2026." in html  # the deadline after the opening
        assert "Please type a whole number from 0 to 5000." in html
        assert FAIR["name"] in html and FAIR["conditions"] in html and 'value="28/12/2026"' in html
        async with sessions() as s:
            assert not (await s.scalars(select(Fair))).all()

        done = await client.post("/staff/fairs/new", data={**FAIR, "csrf": csrf})
        assert done.status == 200 and "The fair is saved" in await done.text()
    async with sessions() as s:
        fair = (await s.scalars(select(Fair))).one()
    assert (fair.province, fair.funded_booths, fair.status) == ("Hưng Yên", 40, "open")
    assert await plans(sessions, "fair") == {"7d": ("2026-12-10", "planned"), "1d": ("2026-12-10", "planned")}
    # the same fair, at once, for an owner in chat
    await onboard_english(chat)
    await chat.send("/fairs")
    assert FAIR["name"] in chat.text


async def test_dates_are_typed_and_shown_day_first_in_both_languages(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await add_staff(sessions, "b1", "broadcaster", "Hưng Yên")
    async with console_client(pipeline, sessions) as client:
        csrf = csrf_of(await sign_in(client, sessions, "b1", clock))
        typed = {
            **FAIR,
            "starts_on": "2026-12-20",  # as a machine writes it: read, and shown back day first
            "ends_on": "31/12/26",  # a two-digit year is not guessed
            "registration_deadline": "30/02/2027",
            "csrf": csrf,
        }
        html = await (await client.post("/staff/fairs/new", data=typed)).text()
        assert 'value="20/12/2026"' in html and 'value="31/12/26"' in html
        assert "Please write the year with all four digits. For example: 15/09/2019" in html
        assert "30/02/2027 is not a real date. Please check the day and the month." in html
        assert 'type="date"' not in html and 'placeholder="dd/mm/yyyy"' in html
        await client.post("/staff/lang", data={"csrf": csrf, "locale": "vi", "back": "/staff/fairs/new"})
        html = await (await client.post("/staff/fairs/new", data=typed)).text()
        assert 'value="20/12/2026"' in html and 'placeholder="ngày/tháng/năm"' in html
        assert "Ngày 30/02/2027 không tồn tại." in html
        await client.post(
            "/staff/fairs/new", data={**typed, "ends_on": "24/12/2026", "registration_deadline": "10/12/2026"}
        )
        async with sessions() as s:
            fair = (await s.scalars(select(Fair))).one()
        assert (fair.starts_on, fair.ends_on, fair.registration_deadline) == (
            date(2026, 12, 20),
            date(2026, 12, 24),
            date(2026, 12, 10),
        )
        form = await (await client.get(f"/staff/fairs/{fair.id}/edit")).text()
        assert 'value="20/12/2026"' in form and 'value="10/12/2026"' in form


async def test_moving_a_fairs_deadline_replans_and_closing_it_cancels_its_reminders(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await add_staff(sessions, "b1", "broadcaster", "Hưng Yên")
    async with console_client(pipeline, sessions) as client:
        csrf = csrf_of(await sign_in(client, sessions, "b1", clock))
        await client.post("/staff/fairs/new", data={**FAIR, "csrf": csrf})
        async with sessions() as s:
            fair = (await s.scalars(select(Fair))).one()
        form = await (await client.get(f"/staff/fairs/{fair.id}/edit")).text()
        assert 'value="10/12/2026"' in form and FAIR["place"] in form
        moved = {**FAIR, "registration_deadline": "15/12/2026", "status": "open", "csrf": csrf}
        assert (await client.post(f"/staff/fairs/{fair.id}/edit", data=moved)).status == 200
        assert await plans(sessions, "fair") == {
            "7d": ("2026-12-15", "planned"),
            "1d": ("2026-12-15", "planned"),
        }
        closed = {**moved, "status": "closed"}
        assert (await client.post(f"/staff/fairs/{fair.id}/edit", data=closed)).status == 200
    assert {status for _, status in (await plans(sessions, "fair")).values()} == {"skipped"}


async def test_a_round_is_entered_and_its_deadline_moved_with_reminders_following(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await add_staff(sessions, "a1", "admin", "Hưng Yên")
    form = {
        "programme": "selection",
        "level": "province",
        "province": "Hưng Yên",
        "name": "Bình chọn sản phẩm CNNT tiêu biểu cấp tỉnh 2027",
        "opens_on": "20/01/2027",
        "deadline": "15/01/2027",
    }
    async with console_client(pipeline, sessions) as client:
        csrf = csrf_of(await sign_in(client, sessions, "a1", clock))
        bad = await client.post("/staff/rounds/new", data={**form, "csrf": csrf})
        html = await bad.text()
        assert bad.status == 422 and "The date cannot be later than 15/01/2027." in html
        assert form["name"] in html and 'value="20/01/2027"' in html
        ok = await client.post("/staff/rounds/new", data={**form, "opens_on": "1/12/2026", "csrf": csrf})
        assert ok.status == 200 and "The round is saved" in await ok.text()
        async with sessions() as s:
            rnd = (await s.scalars(select(Round))).one()
        assert (rnd.province, rnd.level, rnd.opens_on) == ("Hưng Yên", "province", date(2026, 12, 1))
        assert await plans(sessions, "round") == {
            "7d": ("2027-01-15", "planned"),
            "1d": ("2027-01-15", "planned"),
        }
        past = await client.post(
            f"/staff/rounds/{rnd.id}/edit",
            data={**form, "opens_on": "", "deadline": "2026-11-01", "csrf": csrf},  # as a machine writes it
        )
        assert past.status == 422 and "The date cannot be earlier than 22/11/2026." in await past.text()
        moved = await client.post(
            f"/staff/rounds/{rnd.id}/edit",
            data={**form, "opens_on": "", "deadline": "01/02/2027", "csrf": csrf},
        )
        assert moved.status == 200
    assert await plans(sessions, "round") == {
        "7d": ("2027-02-01", "planned"),
        "1d": ("2027-02-01", "planned"),
    }


async def test_fairs_and_rounds_stay_with_their_province_and_reviewers_only_read_them(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await add_staff(sessions, "b1", "broadcaster", "Hưng Yên")
    await add_staff(sessions, "r1", "reviewer", "Hưng Yên")
    async with sessions() as s, s.begin():
        theirs = Fair(
            name="Hội chợ Hà Nội",
            province="Hà Nội",
            place="Giảng Võ",
            starts_on=date(2026, 12, 10),
            ends_on=date(2026, 12, 14),
            registration_deadline=date(2026, 12, 1),
        )
        national = Round(programme="selection", level="nation", province=None, name="Cấp quốc gia 2027",
                         deadline=date(2027, 3, 1))  # fmt: skip
        s.add_all([theirs, national])
    async with console_client(pipeline, sessions) as client:
        csrf = csrf_of(await sign_in(client, sessions, "b1", clock))
        assert (await client.get(f"/staff/fairs/{theirs.id}/edit")).status == 404
        forged = await client.post(f"/staff/fairs/{theirs.id}/edit", data={**FAIR, "csrf": csrf})
        assert forged.status == 404
        elsewhere = await client.post("/staff/fairs/new", data={**FAIR, "province": "Hà Nội", "csrf": csrf})
        assert elsewhere.status == 422 and "You cannot act for this province." in await elsewhere.text()
        everywhere = await client.post("/staff/fairs/new", data={**FAIR, "province": "all", "csrf": csrf})
        assert everywhere.status == 422
        assert (await client.get(f"/staff/rounds/{national.id}/edit")).status == 404
        page = await (await client.get("/staff/fairs")).text()
        assert "Cấp quốc gia 2027" in page and f"/staff/rounds/{national.id}/edit" not in page
    async with sessions() as s:
        assert [f.name for f in await s.scalars(select(Fair))] == ["Hội chợ Hà Nội"]
    async with console_client(pipeline, sessions) as client:
        csrf = csrf_of(await sign_in(client, sessions, "r1", clock))
        page = await (await client.get("/staff/fairs")).text()
        assert "Cấp quốc gia 2027" in page and "/staff/fairs/new" not in page
        assert (await client.get("/staff/fairs/new")).status == 403
        assert (await client.post("/staff/rounds/new", data={"csrf": csrf, "name": "x"})).status == 403


async def test_a_round_entered_in_chat_shows_on_the_desk_and_a_regional_one_needs_a_national_admin(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await add_staff(sessions, "b1", "broadcaster", "Hưng Yên")
    staffer = staff_chat(pipeline, "b1")
    for level, name in (("Provincial level", "Cấp tỉnh 2027"), ("Regional level", "Cấp khu vực 2027")):
        await staffer.send("/rounds")
        await staffer.tap("New round")
        await staffer.tap("Selection of typical")
        await staffer.tap(level)
        await staffer.send(name)
        await staffer.send("15/01/2027")
    assert "You cannot act for this province." in staffer.text
    async with sessions() as s:
        assert [(r.name, r.province) for r in await s.scalars(select(Round))] == [
            ("Cấp tỉnh 2027", "Hưng Yên")
        ]
    async with console_client(pipeline, sessions) as client:
        await sign_in(client, sessions, "b1", clock)
        page = await (await client.get("/staff/fairs")).text()
    assert "Cấp tỉnh 2027" in page and "15/01/2027" in page
