"""The edges of the system: channel adapters (channels/), background workers (workers/), and the
runtime every update passes whatever its channel (runtime.py: dedupe, per-user ordering, one
transaction, dead letters; webhooks.py; senders.py: what a failed send means)."""
