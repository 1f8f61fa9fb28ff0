"""The features the dialogue offers besides the facility journey; add a new one here."""

from __future__ import annotations

from conversations.feature import Feature

FEATURES: list[Feature] = []
