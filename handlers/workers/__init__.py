"""Background work that runs beside the channels: the outbox delivery worker and the outreach
scheduler (reminder sweeps, broadcast progress)."""
