"""``connect_domains`` connects each lower domain's hook to the higher domain's handler, once."""

from __future__ import annotations

from service.grids import occupants
from service.requests.regrid import OpenRequests
from service.requests.workflow import request_closed
from service.wiring import connect_domains


def test_closing_a_request_reaches_follow_ups_and_open_requests_move_with_grids():
    connect_domains()
    connect_domains()  # again: nothing is connected twice
    assert [h.__name__ for h in request_closed.handlers] == ["_follow_up_key_case"]
    assert isinstance(occupants._occupants[occupants.OPEN_REQUESTS], OpenRequests)
