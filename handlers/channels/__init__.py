"""One adapter per channel: its updates -> `Incoming`, `Outgoing` -> what the channel can show,
sent. Parsing and rendering only; ordering, dedupe, the transaction and failures are handlers/runtime.py."""
