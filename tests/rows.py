"""Rows the storage-level tests build by hand: one place for a profile's every required column, so
a test names only what it is about."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Facility


async def add_facility(session: AsyncSession, account_id: int, **columns: Any) -> Facility:
    """A household's profile in Thái Bình, with `columns` in place of the defaults; flushed, so its
    id is there."""
    facility = Facility(
        **{
            "account_id": account_id,
            "name": "Cơ sở Mây tre",
            "kind": "household",
            "province": "Thái Bình",
            "commune": "Xã Phú Vinh",
            "commune_kind": "commune",
            "craft_village": False,
            "tax_code": "0100109106",
            "contact_name": "Nguyễn Văn An",
            "phone": "0912345678",
            "products": "Giỏ mây",
            **columns,
        }
    )
    session.add(facility)
    await session.flush()
    return facility
