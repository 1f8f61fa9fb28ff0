"""The features the dialogue offers besides the facility journey; add a new one here."""

from __future__ import annotations

from conversations.feature import Feature
from conversations.handover import FEATURE as HANDOVER
from conversations.linking import LINKING
from conversations.outreach import FEATURE as OUTREACH
from conversations.phone_match import PHONE_MATCH
from conversations.staff import FEATURE as STAFF
from conversations.zns_consent import ZNS_CONSENT

FEATURES: list[Feature] = [HANDOVER, LINKING, OUTREACH, PHONE_MATCH, STAFF, ZNS_CONSENT]
