"""Where an owner reaches the provincial centre when nobody answers in the chat.

The data is `programmes/contacts.yaml`, one entry per province, filled in by each province; this
module only reads it and words the reply, so an empty phone or address is left out rather than
invented.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import cast

import yaml

from conversations.i18n import N_
from conversations.run import Run

DATA_FILE = Path(__file__).resolve().parent / "programmes" / "contacts.yaml"


@cache
def _data() -> Mapping[str, object]:
    return yaml.safe_load(DATA_FILE.read_text(encoding="utf-8")) or {}


def centres() -> Mapping[str, Mapping[str, str]]:
    return cast(Mapping[str, Mapping[str, str]], _data().get("centres") or {})  # a YAML mapping of mappings


def nobody_on_duty(run: Run, province: str | None) -> str:
    """The honest reply: nobody can answer here now, and how to reach the centre instead."""
    text = run.t(N_("Sorry: no staff member of the centre is answering in this chat at the moment."))
    entry = centres().get(province or "") or {}
    hours = entry.get("hours") or str(_data().get("default_hours") or "")
    details = [
        run.t(N_("Phone: {phone}"), phone=entry["phone"]) if entry.get("phone") else "",
        run.t(N_("Address: {address}"), address=entry["address"]) if entry.get("address") else "",
    ]
    details = [d for d in details if d]
    if details:
        name = entry.get("centre") or run.t(
            N_("the industrial extension centre of {province}"), province=province
        )
        text += "\n" + run.t(N_("You can contact {centre}:"), centre=name) + "\n" + "\n".join(details)
        if hours:
            text += "\n" + run.t(N_("Hours: {hours}"), hours=hours)
    elif province:
        # Nothing filled in for this province yet: never a guessed number, but where to look.
        text += "\n" + run.t(
            N_(
                "The centre's phone and address for {province} are not listed here yet. The industrial "
                "extension centre is part of the Department of Industry and Trade of {province} (Sở Công "
                "Thương {province}): its phone and address are on the province's web portal, and your "
                "commune People's Committee can tell you how to reach it."
            ),
            province=province,
        )
        if hours:
            text += "\n" + run.t(N_("Offices are usually open: {hours}"), hours=hours)
    else:
        text += "\n" + run.t(N_("You can contact the Department of Industry and Trade of your province."))
    return text + "\n\n" + run.t(N_("Your answers are saved; send /menu to go on with the assistant."))
