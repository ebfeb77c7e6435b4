"""Service stations and their types."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.orm import Base, NamedMixin, RefMixin, TimestampMixin, UtcDateTime, VersionedMixin, enum_type


class StationType(StrEnum):
    """Station types of our reference practice (Changtai, Zhangzhou)."""

    ELDERLY_CARE_CENTRE = "elderly_care_centre"  # 养老服务中心
    HOME_ELDERLY_CARE_STATION = "home_elderly_care_station"  # 居家养老服务站
    CHILDCARE = "childcare"  # 托幼场所
    CONVENIENCE_STATION = "convenience_station"  # 便民服务站
    PARCEL_PICKUP = "parcel_pickup"  # 快递代收点
    VOLUNTEER_STATION = "volunteer_station"  # 爱心志愿站
    RED_SERVICE_STATION = "red_service_station"  # 新业态红色服务站
    PARTY_MASS_CENTRE = "party_mass_centre"  # 党群服务中心


STATION_TYPE_LABELS: dict[StationType, tuple[str, str]] = {
    StationType.ELDERLY_CARE_CENTRE: ("养老服务中心", "Elderly care centre"),
    StationType.HOME_ELDERLY_CARE_STATION: ("居家养老服务站", "Home elderly care station"),
    StationType.CHILDCARE: ("托幼场所", "Childcare"),
    StationType.CONVENIENCE_STATION: ("便民服务站", "Convenience service station"),
    StationType.PARCEL_PICKUP: ("快递代收点", "Parcel pickup point"),
    StationType.VOLUNTEER_STATION: ("爱心志愿站", "Volunteer station"),
    StationType.RED_SERVICE_STATION: ("新业态红色服务站", "Red service station for couriers and riders"),
    StationType.PARTY_MASS_CENTRE: ("党群服务中心", "Party-mass service centre"),
}


class Station(Base, NamedMixin, RefMixin, VersionedMixin, TimestampMixin):
    __tablename__ = "stations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[StationType] = mapped_column(enum_type(StationType, 40), index=True)
    #: OSM ``opening_hours`` syntax, e.g. ``Mo-Su 08:00-20:00``.
    opening_hours: Mapped[str | None] = mapped_column(String(200))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    capacity: Mapped[int | None] = mapped_column(Integer)
    address_zh: Mapped[str | None] = mapped_column(String(300))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))


class StationCircle(Base):
    """A station's 5/10/15-minute walking area, built on the network of ``network_revision``."""

    __tablename__ = "station_circles"
    __table_args__ = (UniqueConstraint("station_id", "minutes", name="uq_station_circles_station_minutes"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), index=True)
    minutes: Mapped[int] = mapped_column(Integer)
    walk_m: Mapped[float] = mapped_column(Float)
    reached_m: Mapped[float] = mapped_column(Float)  # length of street reached, metres
    area_m2: Mapped[float] = mapped_column(Float)
    network_revision: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    geom: Mapped[WKBElement] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True))
