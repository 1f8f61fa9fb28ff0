"""`Run`: everything one handled update can see and change, passed to every step.

One `Run` lives for one update inside one database transaction: whatever a step changes (an
answer, the draft, the profile) is committed together with the new conversation state, so a
crash never leaves an answer saved without its position or the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from conversations.i18n import Translator, local_date
from conversations.messages import Choice, Incoming, Outgoing
from conversations.programmes import Programme
from storage.files import FileStore
from storage.models import Account, Application, ConversationState, Facility

if TYPE_CHECKING:
    from conversations.engine import Engine


def to_json(value: Any) -> Any:
    """Answers are stored as JSON: dates as ISO strings, rich values by their `value`."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    raise TypeError(f"cannot store answer of type {type(value).__name__}")


@dataclass
class Settings:
    """Knobs a deployment may change; defaults fit a province."""

    timezone: str = "Asia/Ho_Chi_Minh"
    max_file_bytes: int = 10 * 1024 * 1024
    consent_version: str = "2026-01"
    # Where people reach this server (PUBLIC_BASE_URL): the staff console's sign-in links.
    public_base_url: str = "http://127.0.0.1:8080"


@dataclass
class Run:
    session: AsyncSession
    account: Account
    state: ConversationState
    incoming: Incoming
    t: Translator
    now: datetime
    files: FileStore
    programmes: dict[str, Programme]
    settings: Settings
    engine: Engine
    facility: Facility | None = None
    application: Application | None = None
    out: list[Outgoing] = field(default_factory=list)

    @property
    def today(self) -> date:
        """Today in the deployment's TIMEZONE (at 05:55 in Hà Nội the UTC day is yesterday)."""
        return local_date(self.now, self.settings.timezone)

    # --- answers of the active flow -------------------------------------------------------
    @property
    def answers(self) -> dict[str, Any]:
        """The active flow's answers: the draft's when the flow keeps one, else the state's."""
        if self.application is not None and self.state.data.get("store") == "application":
            return self.application.answers
        return self.state.data.setdefault("answers", {})

    def set_answer(self, key: str, value: Any) -> None:
        # JSON columns track reassignment, not in-place mutation: always store a new dict.
        self.replace_answers({**self.answers, key: value})

    def drop_answer(self, key: str) -> None:
        self.replace_answers({k: v for k, v in self.answers.items() if k != key})

    def replace_answers(self, answers: dict[str, Any]) -> None:
        if self.application is not None and self.state.data.get("store") == "application":
            self.application.answers = answers
            self.application.last_activity_at = self.now
        else:
            self.set_data("answers", answers)

    def set_data(self, key: str, value: Any) -> None:
        self.state.data = {**self.state.data, key: value}

    def pop_data(self, key: str) -> Any:
        value = self.state.data.get(key)
        if key in self.state.data:
            self.state.data = {k: v for k, v in self.state.data.items() if k != key}
        return value

    # --- facts the programme rules read ------------------------------------------------------
    def facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = dict(self.answers)
        if self.facility is not None:
            from conversations.places import province_by_name

            facts["facility_kind"] = self.facility.kind
            facts["commune_kind"] = self.facility.commune_kind
            facts["craft_village"] = self.facility.craft_village
            facts["province"] = self.facility.province
            try:
                province = province_by_name(self.facility.province)
            except KeyError:
                pass
            else:
                facts["province_is_city"] = province.is_city
                facts["province_region"] = province.region
        # Rules that depend on the date (a lower certificate's validity) use the local day, not the
        # server's: from 17:00 UTC on 31 December it is already the new year in Vietnam.
        facts["today"] = self.today
        return facts

    # --- output --------------------------------------------------------------------------------
    def say(self, text: str, choices: list[Choice] | None = None, **extra: Any) -> Outgoing:
        message = Outgoing(text=text, choices=choices or [], **extra)
        self.out.append(message)
        return message
