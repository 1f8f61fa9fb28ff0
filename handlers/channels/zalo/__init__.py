"""Zalo Bot Platform: the adapter (adapter.py) and its HTTP client, renderer and outbox sender
(client.py)."""
