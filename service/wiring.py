"""Connect the domains' hooks: the one place that knows which domain reacts to which.

Called by ``create_app`` and by the CLI before any work; calling it again changes nothing.
Each line connects a higher domain's handler to a lower domain's ``Hook``, so the lower domain
never imports the higher (see ``service.common.hooks`` and docs/architecture.md).
"""

from __future__ import annotations


def connect_domains() -> None:
    """Connect every hook's handlers (idempotent)."""
