"""The in-service scheduler loop (one per worker process).

Every ``sla_tick_seconds``: the requests' deadlines (``service.requests.scheduler``), stale service
circles (``service.stations.circles``), then community life (``service.jobs.community``). Each
part works from data in the database, so a failed tick is retried by the next one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from service.config import Settings
from service.db import Database
from service.jobs.community import community_tick
from service.requests.scheduler import apply_deadlines
from service.stations.circles import refresh_stale_circles

log = logging.getLogger("neighborgrid.scheduler")


async def run_forever(db: Database, settings: Settings, clock: Callable[[], datetime]) -> None:
    """Run the ticks until cancelled; one part's failure stops neither the others nor the loop."""
    while True:
        await asyncio.sleep(settings.sla_tick_seconds)
        try:
            await asyncio.to_thread(apply_deadlines, db, now=clock(), settings=settings)
            await asyncio.to_thread(refresh_stale_circles, db, settings=settings)
        except asyncio.CancelledError:
            raise
        except Exception:  # keep the loop alive: the next tick retries from the database
            log.exception("deadline tick failed")
        try:
            await asyncio.to_thread(community_tick, db, now=clock())
        except asyncio.CancelledError:
            raise
        except Exception:  # its own failures must not stop the deadlines (nor the reverse)
            log.exception("community tick failed")
