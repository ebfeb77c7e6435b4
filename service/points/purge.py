"""Emptying the append-only ledger, for ``load-demo --replace`` only.

The triggers that refuse UPDATE and DELETE (migration 0007) are lifted inside the caller's
transaction and put back before it commits, so no other transaction ever sees the ledger writable.
The SQL mirrors migration 0007 (a test checks the triggers still refuse after a purge).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

_SQLITE_TRIGGERS = {
    verb.lower(): (
        f"CREATE TRIGGER points_ledger_no_{verb.lower()} BEFORE {verb} ON points_ledger "
        "BEGIN SELECT RAISE(ABORT, 'points_ledger is append-only'); END"
    )
    for verb in ("UPDATE", "DELETE")
}


def purge_ledger(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ALTER TABLE points_ledger DISABLE TRIGGER points_ledger_append_only"))
        session.execute(text("DELETE FROM points_ledger"))
        session.execute(text("ALTER TABLE points_ledger ENABLE TRIGGER points_ledger_append_only"))
        return
    for verb in _SQLITE_TRIGGERS:
        session.execute(text(f"DROP TRIGGER IF EXISTS points_ledger_no_{verb}"))
    session.execute(text("DELETE FROM points_ledger"))
    for sql in _SQLITE_TRIGGERS.values():
        session.execute(text(sql))
