"""Telegram: the interactive adapter (adapter.py), the message renderer (render.py) and the
outbox sender on a Bot of its own (sender.py)."""
