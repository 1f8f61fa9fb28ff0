"""The console's desk work in a real browser, at an office screen's size and a phone's: a
broadcaster enters a fair with a mistake (marked beside its field, nothing typed lost), corrects
it, enters a programme round and moves its deadline; a reviewer imports a large certificate list
and watches the server count the rows checked, then saved. Screenshots go to
test-artifacts/console/."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.runtime import Pipeline
from storage.certificates import Certificate
from storage.outreach import Fair, ReminderPlan, Round
from tests.conftest import Clock
from tests.console_support import new_link
from tests.test_console_browser import ARTIFACTS, CHROMIUM, VIEWPORTS, expect, playwright_api, serve
from tests.test_console_import import big_list
from tests.test_staff_support import add_staff

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM or not __import__("pathlib").Path(CHROMIUM).exists(),
        reason="Chromium is not installed (apt-get install chromium); .ci/run installs it",
    ),
]
IMPORT_ROWS = 8000


async def signed_in(pw: Any, base: str, sessions: async_sessionmaker[AsyncSession], clock: Clock,
                    user: str, viewport: tuple[int, int]) -> tuple[Any, Any]:  # fmt: skip
    browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    # An English Chrome, as on most office PCs: type=date would have shown mm/dd/yyyy there.
    context = await browser.new_context(
        viewport={"width": viewport[0], "height": viewport[1]}, locale="en-US"
    )
    page = await context.new_page()
    await page.goto(base + await new_link(sessions, user, clock))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state("domcontentloaded")
    return browser, page


async def at_every_size(page: Any, name: str) -> None:
    """The page as it is now at each of VIEWPORTS: a screenshot, and nothing wider than the
    screen; then back to the phone's size the test works at."""
    for width, height in VIEWPORTS:
        await page.set_viewport_size({"width": width, "height": height})
        await page.screenshot(path=ARTIFACTS / f"{name}-{width}x{height}.png", full_page=True)
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
    await page.set_viewport_size({"width": VIEWPORTS[-1][0], "height": VIEWPORTS[-1][1]})


async def test_a_broadcaster_enters_a_fair_and_a_round_from_the_desk(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    """Worked on a phone's screen, the narrower of VIEWPORTS (the fairs' pages have no layout of
    their own for a wide screen); each page on the way is also shown and checked at every size."""
    viewport = VIEWPORTS[-1]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await add_staff(sessions, "b1", "broadcaster", "Hưng Yên")
    async with serve(pipeline, sessions) as base, playwright_api.async_playwright() as pw:
        browser, page = await signed_in(pw, base, sessions, clock, "b1", viewport)
        await page.goto(base + "/staff/fairs")
        await page.get_by_role("link", name="New fair").click()
        await page.fill("input[name=name]", "Hội chợ hàng CNNT tiêu biểu Hưng Yên 2026")
        await page.fill("input[name=place]", "Quảng trường Phố Hiến")
        await page.fill("input[name=starts_on]", "20/12/2026")
        await page.fill("input[name=ends_on]", "12/24/2026")  # month first, as the browser's locale: wrong
        await page.fill("input[name=registration_deadline]", "28/12/2026")  # after the opening: wrong
        await page.fill("input[name=funded_booths]", "40")
        await page.fill("textarea[name=conditions]", "Ưu tiên sản phẩm đã được công nhận")
        await page.get_by_role("button", name="Save the fair").click()
        mistake = page.locator("#e-registration_deadline")
        await expect(mistake).to_have_text("The date cannot be later than 20/12/2026.")
        await expect(page.locator("#e-ends_on")).to_contain_text("12/24/2026 is not a real date")
        assert await page.input_value("input[name=ends_on]") == "12/24/2026"  # kept as typed, to correct
        assert await page.get_attribute("input[name=starts_on]", "type") is None  # text, read as dd/mm/yyyy
        assert await page.input_value("input[name=name]") == "Hội chợ hàng CNNT tiêu biểu Hưng Yên 2026"
        assert await page.input_value("textarea[name=conditions]") == "Ưu tiên sản phẩm đã được công nhận"
        assert await page.get_attribute("input[name=registration_deadline]", "aria-invalid") == "true"
        for width, height in VIEWPORTS:
            await page.set_viewport_size({"width": width, "height": height})
            box = await mistake.bounding_box()
            assert box is not None and box["x"] + box["width"] <= width  # readable on a phone too
        await at_every_size(page, "fair-mistake")
        async with sessions() as s:
            assert not (await s.scalars(select(Fair))).all()

        await page.fill("input[name=ends_on]", "24/12/2026")
        await page.fill("input[name=registration_deadline]", "10/12/2026")
        await page.get_by_role("button", name="Save the fair").click()
        await expect(page.locator("main")).to_contain_text("The fair is saved")
        await expect(page.locator("table.fairs")).to_contain_text("Quảng trường Phố Hiến")

        await page.get_by_role("link", name="New round").click()
        await page.fill("input[name=name]", "Bình chọn sản phẩm CNNT tiêu biểu cấp tỉnh 2027")
        await page.select_option("select[name=level]", "province")
        await page.fill("input[name=opens_on]", "1/12/2026")
        await page.fill("input[name=deadline]", "15/01/2027")
        await at_every_size(page, "round-form")
        await page.get_by_role("button", name="Save the round").click()
        await expect(page.locator("main")).to_contain_text("The round is saved")
        await expect(page.locator("table.rounds")).to_contain_text("15/01/2027")

        await page.locator("table.rounds").get_by_role("link", name="Edit").click()
        assert await page.input_value("input[name=opens_on]") == "01/12/2026"  # shown back as dd/mm/yyyy
        assert await page.input_value("input[name=deadline]") == "15/01/2027"
        await page.fill("input[name=deadline]", "01/02/2027")
        await page.get_by_role("button", name="Save the round").click()
        await expect(page.locator("table.rounds")).to_contain_text("01/02/2027")
        await at_every_size(page, "fairs-rounds")
        await browser.close()
    async with sessions() as s:
        rnd = (await s.scalars(select(Round))).one()
        bases = {p.basis for p in await s.scalars(select(ReminderPlan).where(ReminderPlan.kind == "round"))}
    assert (rnd.province, rnd.level) == ("Hưng Yên", "province") and bases == {"2027-02-01"}


async def test_a_large_import_shows_the_rows_checked_then_saved(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    """On a phone's screen, the narrower of VIEWPORTS: the import's 8,000 rows are the server's
    work, the same at any size, so it runs once; the finished page is shown at every size."""
    viewport = VIEWPORTS[-1]
    size = f"{viewport[0]}x{viewport[1]}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await add_staff(sessions, "r1", "reviewer", "Hưng Yên")
    async with (
        serve(pipeline, sessions, client_max_size=8 * 1024**2) as base,
        playwright_api.async_playwright() as pw,
    ):
        browser, page = await signed_in(pw, base, sessions, clock, "r1", viewport)
        await page.goto(base + "/staff/certificates")
        await page.get_by_text("Import a list").click()
        # Every text the progress line shows, kept as it changes (the page is replaced at the end).
        await page.evaluate(
            """() => {
              window.progressSeen = [];
              const out = document.querySelector("output.import-progress");
              new MutationObserver(() => window.progressSeen.push(out.textContent))
                .observe(out, {childList: true, characterData: true, subtree: true});
            }"""
        )
        data = big_list(IMPORT_ROWS).encode()
        await page.set_input_files(
            "input[type=file]", files=[{"name": "so-chung-nhan.csv", "mimeType": "text/csv", "buffer": data}]
        )
        await page.get_by_role("button", name="Import", exact=True).click()
        await page.wait_for_function(
            "() => window.progressSeen.some(t => t.startsWith('Checking rows') || t.startsWith('Saving'))",
            polling="raf",
        )
        await page.screenshot(path=ARTIFACTS / f"import-progress-{size}.png", full_page=True)
        await expect(page.locator("p.note")).to_contain_text(f"Imported {IMPORT_ROWS} certificates")
        seen: list[str] = await page.evaluate("window.progressSeen")
        await at_every_size(page, "import-done")
        await browser.close()
    assert any(t.startswith("Checking rows:") and t.endswith("of 8,000") for t in seen), seen
    assert "Saving certificates: 8,000 of 8,000" in seen, seen
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Certificate)) == IMPORT_ROWS
