"""The flows the bot has, declared as step lists (see `conversations.steps`).

`build_flows` assembles them with the programme data, so the eligibility and application flows
ask exactly the questions the data declares.
"""

from __future__ import annotations

from collections.abc import Mapping

from conversations.flows import account, application, eligibility, onboarding
from conversations.programmes import Programme
from conversations.steps import Flow


def build_flows(programmes: Mapping[str, Programme]) -> dict[str, Flow]:
    flows = [
        onboarding.FLOW,
        account.LANGUAGE,
        account.DELETE_DATA,
        eligibility.build(dict(programmes)),
        application.build(dict(programmes)),
    ]
    return {flow.id: flow for flow in flows}
