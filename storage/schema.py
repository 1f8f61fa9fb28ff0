"""Every table of the application, for migrations and schema checks.

Models live beside the repository that owns them (`storage/models.py` for the core ones); each
module that declares tables is imported here so Alembic and the tests see the whole schema.
"""

from __future__ import annotations

from storage import (  # noqa: F401  (every module that declares tables)
    certificates,
    console_auth,
    handover,
    links,
    models,
    outbox,
    outreach,
    review,
    staff,
    upload_links,
    zalo_oa,
)
from storage.models import Base

metadata = Base.metadata
