"""One adapter per channel (telegram, zalo, webchat): its updates -> `Incoming`, `Outgoing` -> what
the channel can show, sent; plus the pipeline every update passes (dedupe, per-user lock, session,
locale)."""
