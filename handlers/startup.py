"""What a component raises when the platform refuses a configured value at start-up.

A wrong token or a webhook owned by another deployment shows only when a channel first talks to its
platform, after the configuration was read. `python -m bot run` turns this one exception into one
line naming the variable and exit status 2 (DESIGN.md, "Stable interfaces"), whichever channel
raised it, so no channel prints a traceback to an operator.
"""

from __future__ import annotations


class StartRefused(RuntimeError):
    """Its message is the whole line the operator reads: the variable first, then what is expected."""
