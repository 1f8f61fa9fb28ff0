"""ZNS: which approved template carries which outbox message, and its parameters' values.

Templates differ per OA (each is approved by Zalo for one OA), so they are data a province edits:
zns_templates.yaml beside this module. A template parameter takes a value of the message (the
product, the date...) or of the facility (the contact's name), written as Vietnamese text, since
ZNS templates are approved in Vietnamese whatever the user's chat language.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from conversations import notices
from conversations.i18n import N_, Translator, translator

TEMPLATES_FILE = Path(__file__).with_name("zns_templates.yaml")
MAX_PARAM = 100  # UNCONFIRMED: ZNS parameter length limits vary by parameter type; cut to be safe

STATUS_WORDS = {
    notices.APPROVED: N_("approved"),
    notices.REJECTED: N_("not approved"),
    notices.RETURNED: N_("returned for changes"),
    notices.CERTIFICATE: N_("certificate recorded"),
}
FACILITY_SOURCES = ("contact_name", "facility_name", "status")


@dataclass(frozen=True)
class Template:
    key: str
    purpose: str
    template_id: str
    cost: int
    params: dict[str, str]  # template parameter -> source


def load_templates(path: Path = TEMPLATES_FILE) -> list[Template]:
    """Read and check the file: a mistake stops the start, not a reminder at 7 a.m."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    templates = []
    for key, item in (raw.get("templates") or {}).items():
        if not isinstance(item, dict):
            raise ValueError(f"{path.name}: template {key!r} is not a mapping")
        params = item.get("params") or {}
        if not item.get("purpose") or not item.get("template_id") or not isinstance(params, dict):
            raise ValueError(f"{path.name}: template {key!r} needs purpose, template_id and params")
        templates.append(
            Template(
                key=str(key),
                purpose=str(item["purpose"]),
                template_id=str(item["template_id"]),
                cost=int(item.get("cost") or 0),
                params={str(k): str(v) for k, v in params.items()},
            )
        )
    return templates


def template_for(templates: list[Template], purpose: str) -> Template | None:
    return next((t for t in templates if fnmatch.fnmatchcase(purpose, t.purpose)), None)


def phone_84(phone: str | None) -> str | None:
    """A Vietnamese mobile number as ZNS wants it: 84 and nine digits, no plus (0912… → 84912…)."""
    digits = re.sub(r"\D", "", phone or "")
    if digits.startswith("84") and len(digits) == 11:
        return digits
    if digits.startswith("0") and len(digits) == 10:
        return "84" + digits[1:]
    return None


def _text(value: Any, t: Translator) -> str:
    if isinstance(value, dict):
        if "msgid" in value:
            return t(value["msgid"], **{k: _text(v, t) for k, v in (value.get("values") or {}).items()})
        if "date" in value:
            return date.fromisoformat(value["date"]).strftime("%d/%m/%Y")
        if "number" in value:
            return t.number(value["number"])
    return "" if value is None else str(value)


def params_for(
    template: Template, payload: dict[str, Any], *, contact_name: str, facility_name: str
) -> dict[str, str]:
    t = translator("vi")
    values = payload.get("values") or {}
    extra = {
        "contact_name": contact_name,
        "facility_name": facility_name,
        "status": t(STATUS_WORDS[payload["msgid"]]) if payload.get("msgid") in STATUS_WORDS else "",
    }
    return {
        name: (extra[source] if source in FACILITY_SOURCES else _text(values.get(source), t))[:MAX_PARAM]
        for name, source in template.params.items()
    }
