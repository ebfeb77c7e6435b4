"""Autogenerate filters shared by the Alembic environment and the schema test."""

from __future__ import annotations

from geoalchemy2 import alembic_helpers

from service.models import Base


def include_object(obj, name, type_, reflected, compare_to):
    """Skip reflected tables that are not ours (SpatiaLite's metadata, PostGIS's spatial_ref_sys…)."""
    if type_ == "table" and reflected and name not in Base.metadata.tables:
        return False
    if type_ == "index" and reflected and compare_to is None and obj.table.name not in Base.metadata.tables:
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)
