"""The whole loop through the real dialogue: the owner submits, a reviewer returns it with comments
on one answer and one document, the owner changes only those and sends it again, the reviewer
sees what changed and approves, records the certificate, and the owner sees it with its expiry."""

from __future__ import annotations

from datetime import date
from itertools import pairwise

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.certificates import Certificate
from storage.models import ApplicationEvent, StoredDocument
from tests.conftest import JPEG_BYTES, PDF_BYTES, Chat, Clock
from tests.test_staff_support import (
    add_staff,
    any_payload,
    application,
    notice_for,
    outbox,
    payloads,
    staff_chat,
    submitted,
    tap_payload,
    texts,
)

NEW_DESCRIPTION = "Giỏ đan tay từ mây rừng Phú Vinh, nhuộm bằng lá bàng và vỏ cây, không dùng hoá chất."


async def return_with_comments(reviewer: Chat, app_id: int) -> None:
    """The reviewer opens the dossier from the queue and returns it with two comments."""
    await reviewer.send("/review")
    await reviewer.tap("📄 KC-")
    await reviewer.tap("Return for changes")
    assert "Which answer or document should the owner change?" in reviewer.text
    await reviewer.tap("Short description")
    assert "Your comment on “Short description”" in reviewer.text
    await reviewer.send("Please say which materials you use and how the rattan is dyed.")
    assert "Your comments so far:" in reviewer.text
    await reviewer.tap("Product photos")
    await reviewer.send("The photos are blurred; please send a sharp photo from the front.")
    await reviewer.tap("Done")
    assert "Anything else to tell the owner" in reviewer.text
    await reviewer.tap("Skip")
    assert "Return" in reviewer.text and "blurred" in reviewer.text
    await reviewer.tap("Yes, return it")
    assert "Returned to the owner" in reviewer.text


async def test_owner_submits_reviewer_returns_owner_fixes_reviewer_approves_certificate(
    chat: Chat, pipeline, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    app = await submitted(chat, sessions)
    await add_staff(sessions, "r1", "reviewer", "Hưng Yên", name="Trần Thị Bình")
    reviewer = staff_chat(pipeline, "r1")

    # --- the reviewer opens it: profile, answers, verdict with rules version, documents as files
    await reviewer.send("/review")
    assert app.receipt_code is not None
    assert app.receipt_code in reviewer.text and "Oldest first" in reviewer.text
    await reviewer.tap("📄 KC-")
    shown = reviewer.text
    for expected in (
        "Hợp tác xã Mây tre đan Phú Vinh",  # the facility profile
        "0912345678",
        "Giỏ mây đan Phú Vinh",  # the answers
        "Number of workers: 25",
        "Assistant's check: ✅ meets the conditions (rules selection@",  # verdict and rules version
        "You have taken this dossier for review",
    ):
        assert expected in shown, expected
    files = [m.document for m in reviewer.last if m.document is not None]
    async with sessions() as s:
        stored = list(await s.scalars(select(StoredDocument).where(StoredDocument.application_id == app.id)))
    assert len(files) == len(stored) >= 5
    assert {f.filename for f in files} == {d.filename for d in stored}
    assert all(f.path.endswith(d.storage_key.rsplit("/", 1)[-1]) for f, d in zip(files, stored, strict=True))
    assert (await application(sessions, app.id)).status == "under_review"
    await reviewer.send("/menu")

    # --- returned with comments on one answer and one document
    clock.now = clock.now.replace(hour=5)
    await return_with_comments(reviewer, app.id)
    returned = await application(sessions, app.id)
    assert returned.status == "returned" and returned.reviewer is None
    assert "product_description" not in returned.answers  # asked again, nothing else
    assert returned.answers["product_name"] == "Giỏ mây đan Phú Vinh"

    # --- the owner is told at once, in English, with a button that opens only those items
    rows = await outbox(sessions)
    assert len(rows) == 1 and rows[0].purpose.startswith(f"status:{app.id}:")
    notice, identity = await notice_for(sessions, rows[0])
    assert identity.external_id == "u1"
    assert app.receipt_code is not None
    assert app.receipt_code in notice[0].text
    assert "• Short description: Please say which materials you use" in notice[0].text
    assert "• Product photos: The photos are blurred" in notice[0].text
    assert "only about these items" in notice[0].text
    await tap_payload(chat, any_payload(notice, "go:apply:"))
    assert "The centre's comment: Please say which materials you use" in chat.text
    assert "Your answer as sent to the centre: Giỏ đan tay từ mây rừng" in chat.text
    await chat.send(NEW_DESCRIPTION)

    # --- only the flagged document takes files; it must be sent again before resubmitting
    assert "Documents for your dossier" in chat.text and "💬 The photos are blurred" in chat.text
    uploadable = [p for p in payloads(chat.last) if p.startswith("documents:up:")]
    assert uploadable == ["documents:up:product_photos"]
    await tap_payload(chat, "documents:up:registration_form")  # a stale or forged button
    assert "did not ask for changes to “Registration form (form 01)”" in chat.text
    await chat.tap("Continue to the summary")
    assert "Some required documents are still missing" in chat.text and "Submit" not in " ".join(chat.buttons)
    await chat.tap("Documents")
    await chat.tap("Product photos")
    await chat.upload("ro_net.jpg", JPEG_BYTES + b"sharp", "image/jpeg")
    assert "Received 1/3" in chat.text  # the blurred photos are replaced, not kept beside it
    for i in range(2):
        await chat.upload(f"ro_net{i}.jpg", JPEG_BYTES + b"sharp" + bytes([i]), "image/jpeg")
    assert "Please check your dossier" in chat.text  # the last document leads to the summary
    assert NEW_DESCRIPTION in chat.text
    await chat.tap("Change an answer")
    assert chat.buttons == ["Short description", "Back to the summary"]  # only what was flagged
    await chat.tap("Back to the summary")
    clock.now = clock.now.replace(hour=7)
    await chat.tap("Submit")
    assert app.receipt_code is not None
    assert app.receipt_code in chat.text
    resubmitted = await application(sessions, app.id)
    assert resubmitted.status == "resubmitted" and resubmitted.requested_changes is None
    assert resubmitted.answers["product_description"] == NEW_DESCRIPTION

    # --- the reviewer sees what changed, approves; the dossier is then frozen
    await reviewer.send("/review")
    assert "Submitted again" in reviewer.text
    await reviewer.tap("📄 KC-")
    assert "Changed since it was returned" in reviewer.text
    assert (
        f"Short description: Giỏ đan tay từ mây rừng, nhuộm màu tự nhiên, bền và nhẹ. → {NEW_DESCRIPTION}"
        in (reviewer.text)
    )
    assert "📎 Product photos: new file ro_net.jpg" in reviewer.text
    clock.now = clock.now.replace(hour=9)
    await reviewer.tap("Approve")
    assert "frozen" in reviewer.text
    await reviewer.tap("Yes, approve")
    assert "Approved" in reviewer.text
    assert (await application(sessions, app.id)).status == "approved"
    approved_notice, _ = await notice_for(sessions, (await outbox(sessions))[-1])
    assert "has approved your dossier “Giỏ mây đan Phú Vinh”" in approved_notice[0].text

    await tap_payload(reviewer, f"go:rv:ok:{app.id}")  # the old button: refused, nothing changes
    assert "Only the reviewer holding this dossier can decide it" in reviewer.text
    await tap_payload(chat, f"go:apply:{app.id}")  # the owner cannot reopen it, and is told why
    assert "can no longer be changed" in chat.text
    assert (await application(sessions, app.id)).answers["product_description"] == NEW_DESCRIPTION

    # --- the certificate, with the expiry the programme's rule gives
    await reviewer.send(f"/review {app.receipt_code}")
    await reviewer.tap("Record the certificate")
    assert "certificate's number" in reviewer.text  # the level comes from the dossier
    await reviewer.send("125/GCN-UBND")
    await reviewer.send("15/09/2025")
    assert "UBND tỉnh Hưng Yên" in reviewer.text  # suggested issuing body
    await reviewer.send("UBND tỉnh Hưng Yên")
    assert "valid until 31/12/2028" in reviewer.text
    await reviewer.tap("Record the certificate")
    assert "Certificate recorded, valid until 31/12/2028" in reviewer.text
    async with sessions() as s:
        certificate = await s.scalar(select(Certificate))
    assert certificate is not None
    assert (certificate.level, certificate.issue_date, certificate.valid_until) == (
        "province",
        date(2025, 9, 15),
        date(2028, 12, 31),
    )
    certificate_notice, _ = await notice_for(sessions, (await outbox(sessions))[-1])
    assert "valid until 31/12/2028" in certificate_notice[0].text
    assert "Provincial level, number 125/GCN-UBND" in certificate_notice[0].text

    await chat.send("/certificates")
    days = (date(2028, 12, 31) - date(2026, 11, 22)).days
    assert f"Valid until 31/12/2028: {days} days left" in chat.text
    assert "Giỏ mây đan Phú Vinh" in chat.text

    # --- the owner's /status shows every step with its date
    await chat.send("/status")
    for label in ("Submitted", "Under review", "Returned for changes", "Submitted again", "Approved"):
        assert f"22/11/2026 – {label}" in chat.text, label


async def test_every_staff_action_and_status_change_is_an_audit_event(
    chat: Chat, pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    app = await submitted(chat, sessions)
    await add_staff(sessions, "r1", "reviewer", "Hưng Yên")
    reviewer = staff_chat(pipeline, "r1")
    await return_with_comments(reviewer, app.id)
    await tap_payload(chat, f"go:apply:{app.id}")
    await chat.send(NEW_DESCRIPTION)
    await chat.tap("Product photos")
    for i in range(3):
        await chat.upload(f"anh{i}.jpg", JPEG_BYTES + b"2" + bytes([i]), "image/jpeg")
    assert "Please check your dossier" in chat.text  # the last document leads to the summary
    await chat.tap("Submit")
    await reviewer.send(f"/review {app.receipt_code}")
    await reviewer.tap("Do not approve")
    await reviewer.send("Too short")  # a reason is required and must say something
    assert "at least 10 characters" in reviewer.text
    await reviewer.send("The product is bought from another workshop, not made by the facility.")
    await reviewer.tap("Yes, do not approve")

    async with sessions() as s:
        events = list(
            await s.scalars(
                select(ApplicationEvent)
                .where(ApplicationEvent.application_id == app.id)
                .order_by(ApplicationEvent.id)
            )
        )
    trail = [(e.actor, e.action, e.from_status, e.to_status) for e in events]
    assert trail == [
        ("owner", "submitted", "draft", "submitted"),
        ("telegram:r1", "claimed", "submitted", "under_review"),
        ("telegram:r1", "returned", "under_review", "returned"),
        ("owner", "resubmitted", "returned", "resubmitted"),
        ("telegram:r1", "claimed", "resubmitted", "under_review"),
        ("telegram:r1", "rejected", "under_review", "rejected"),
    ]
    # Each change starts where the previous one ended: no status change happened unrecorded.
    changes = [e for e in events if e.to_status]
    assert all(a.to_status == b.from_status for a, b in pairwise(changes))
    returned, resubmitted, rejected = events[2], events[3], events[5]
    assert returned.detail["answers"] == {
        "product_description": "Please say which materials you use and how the rattan is dyed."
    }
    assert returned.detail["answers_before"]["product_description"].startswith("Giỏ đan tay")
    assert set(returned.detail["documents"]) == {"product_photos"}
    assert resubmitted.detail["changes"]["answers"]["product_description"]["after"] == NEW_DESCRIPTION
    added = resubmitted.detail["changes"]["documents_added"]
    assert [d["filename"] for d in added] == ["anh0.jpg", "anh1.jpg", "anh2.jpg"]  # the photos sent again
    assert len(resubmitted.detail["changes"]["documents_removed"]) == 3  # replace the refused ones
    assert rejected.detail == {
        "reason": "The product is bought from another workshop, not made by the facility."
    }
    assert all(e.at is not None for e in events)

    rejected_notice, _ = await notice_for(sessions, (await outbox(sessions))[-1])
    assert "was not approved" in rejected_notice[0].text
    assert "The centre's reason: The product is bought from another workshop" in rejected_notice[0].text
    assert texts(rejected_notice).count("/apply") == 1


async def test_a_flagged_answer_that_changes_the_product_group_opens_what_it_newly_needs(
    chat: Chat, pipeline, sessions: async_sessionmaker[AsyncSession]
) -> None:
    app = await submitted(chat, sessions)
    await add_staff(sessions, "r1", "reviewer", "Hưng Yên")
    reviewer = staff_chat(pipeline, "r1")
    await reviewer.send(f"/review {app.receipt_code}")
    await reviewer.tap("Return for changes")
    await reviewer.tap("Product group")
    await reviewer.send("Dried rattan shoots are a food product.")
    await reviewer.tap("Done")
    await reviewer.tap("Skip")
    await reviewer.tap("Yes, return it")
    notice = (await outbox(sessions))[-1].payload
    item = notice["parts"][0]["values"]["item"]
    assert item == {"msgid": "Product group"}  # in the owner's language when sent

    await chat.send("/apply")
    assert "The centre's comment: Dried rattan shoots are a food product." in chat.text
    await chat.tap("Processed agricultural")
    assert "food-safety eligibility certificate" in chat.text  # newly relevant, so asked
    await chat.tap("Yes, we have it")
    # The checklist opens for the document the new group requires, and only for that one.
    uploadable = [p for p in payloads(chat.last) if p.startswith("documents:up:")]
    assert uploadable == ["documents:up:food_safety_certificate"]
    await chat.tap("Food-safety eligibility certificate")
    await chat.upload("attp.pdf", PDF_BYTES, "application/pdf")
    assert "Please check your dossier" in chat.text  # the last document leads to the summary
    await chat.tap("Change an answer")
    assert chat.buttons[0] == "Product group"
    assert chat.buttons[1] == "Food-safety certificate"  # newly asked: open too
    assert len(chat.buttons) == 3 and "Product name" not in chat.buttons
    await chat.tap("Back to the summary")
    await chat.tap("Submit")
    resubmitted = await application(sessions, app.id)
    assert resubmitted.status == "resubmitted" and resubmitted.answers["product_group"] == "food"
