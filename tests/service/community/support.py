"""Helpers for the community-life tests: demo facts read from the database, fresh accounts linked to
new volunteer or grid-worker records, and a scan for secrets in responses."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Point
from sqlalchemy import select

from service.auth.models import User
from service.buildings.models import Building
from service.grids.models import Grid, GridWorker, WorkerRole
from service.households.models import KeyHousehold
from service.volunteers.models import Volunteer


@dataclass
class Account:
    username: str
    password: str
    user_id: int
    volunteer_id: int | None = None
    worker_id: int | None = None

    def client(self, backend) -> httpx.Client:
        token = backend.token(self.username, self.password)
        return httpx.Client(base_url=backend.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def new_account(
    backend,
    role: str,
    *,
    volunteer: bool = False,
    worker_grid: int | None = None,
    community_id: int | None = None,
    home_building_id: int | None = None,
    position: tuple[float, float] | None = None,
) -> Account:
    """An account made by the admin through the API, linked (in the database, as an operator would)
    to a new volunteer record or a new grid worker of ``worker_grid``."""
    name = f"{role}_{uuid.uuid4().hex[:8]}"
    password = "pw-" + uuid.uuid4().hex
    with backend.client("admin") as admin:
        r = admin.post("/api/v1/users", json={"username": name, "password": password, "role": role})
        assert r.status_code == 201, r.text
        user_id = r.json()["id"]
    account = Account(name, password, user_id)
    with backend.db.transaction() as s:
        if volunteer:
            v = Volunteer(
                name_zh=f"测试志愿者{name[-4:]}",
                name_en=f"Test volunteer {name[-4:]}",
                skills=["general"],
                on_duty=position is not None,
                position=from_shape(Point(*position), srid=4326) if position else None,
                community_id=community_id,
                user_id=user_id,
                home_building_id=home_building_id,
            )
            s.add(v)
            s.flush()
            account.volunteer_id = v.id
        if worker_grid is not None:
            w = GridWorker(name_zh=f"测试网格员{name[-4:]}", role=WorkerRole.MEMBER, user_id=user_id)
            w.grids = [s.get(Grid, worker_grid)]
            s.add(w)
            s.flush()
            account.worker_id = w.id
    return account


@dataclass
class Demo:
    """Facts about the loaded demo, read once from the database."""

    volunteer1: int
    volunteer1_community: int
    worker1: int
    worker1_grid: int
    other_grid: int  # a grid gridworker1 does not work in, with key households
    households_of_volunteer1: list[int]
    households_in_worker1_grid: list[int]
    households_elsewhere: list[int]  # neither volunteer1's nor in gridworker1's grid
    all_households: list[int]

    @classmethod
    def load(cls, backend) -> Demo:
        with backend.db.reader() as s:
            v1 = s.scalar(
                select(Volunteer).join(User, User.id == Volunteer.user_id).where(User.username == "volunteer1")
            )
            w1 = s.scalar(
                select(GridWorker).join(User, User.id == GridWorker.user_id).where(User.username == "gridworker1")
            )
            grid1 = w1.grids[0].id
            rows = s.execute(
                select(
                    KeyHousehold.id,
                    KeyHousehold.caretaker_volunteer_id,
                    KeyHousehold.caretaker_worker_id,
                    Building.grid_id,
                )
                .join(Building, Building.id == KeyHousehold.building_id)
                .where(KeyHousehold.ref.is_not(None))
                .order_by(KeyHousehold.id)
            ).all()
        mine = [r.id for r in rows if r.caretaker_volunteer_id == v1.id]
        in_grid = [r.id for r in rows if r.grid_id == grid1 or r.caretaker_worker_id == w1.id]
        elsewhere = [r for r in rows if r.id not in mine and r.id not in in_grid]
        return cls(
            volunteer1=v1.id,
            volunteer1_community=v1.community_id,
            worker1=w1.id,
            worker1_grid=grid1,
            other_grid=elsewhere[0].grid_id,
            households_of_volunteer1=mine,
            households_in_worker1_grid=in_grid,
            households_elsewhere=[r.id for r in elsewhere],
            all_households=[r.id for r in rows],
        )


def building_entrance(backend, building_id: int) -> tuple[float, float]:
    with backend.db.reader() as s:
        b = s.get(Building, building_id)
        p = to_shape(b.entrance) if b.entrance is not None else to_shape(b.geom).representative_point()
    return round(p.x, 7), round(p.y, 7)


def local_today(at: datetime) -> date:
    """The community's date at ``at``: China Standard Time is UTC+8 all year. Written here rather than
    imported, so the tests check the service's own calendar arithmetic."""
    return (at.astimezone(UTC) + timedelta(hours=8)).date()


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())
