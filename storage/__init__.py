"""Persistence: typed SQLAlchemy 2 models, repositories, migrations and the file store.

This package imports none of bot/, handlers/ or conversations/: everything above depends on it,
never the other way round.
"""
