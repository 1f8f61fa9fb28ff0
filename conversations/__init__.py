"""What the bot says and decides: the flow engine, the flows, validators and programme rules.

Nothing here knows a channel: no telegram, no aiohttp. A flow is driven by `Incoming` values and
answers with `Outgoing` values (see `conversations.messages`).
"""
