"""Open311 GeoReport v2 answers (their JSON form) and the client-key admin API's bodies.

The GeoReport models document what ``.json`` answers hold (the routes render them as GeoReport
spells them, JSON or XML, see ``formats``); their keys and order are the specification's.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Endpoint(BaseModel):
    specification: str
    url: str
    changeset: str
    type: str
    formats: list[str]


class Discovery(BaseModel):
    changeset: str
    contact: str
    key_service: str
    endpoints: list[Endpoint]


class Service(BaseModel):
    """A request category as an Open311 service."""

    service_code: str
    service_name: str
    description: str
    metadata: bool = Field(description="whether it has attributes (GET services/{service_code})")
    type: str
    keywords: str
    group: str


class AttributeValue(BaseModel):
    key: str
    name: str


class ServiceAttribute(BaseModel):
    variable: bool
    code: str
    datatype: str
    required: bool
    datatype_description: str | None
    order: int
    description: str | None
    values: list[AttributeValue]


class ServiceDefinition(BaseModel):
    service_code: str
    attributes: list[ServiceAttribute]


class GeoReportRequest(BaseModel):
    """A request in GeoReport's shape: in full for a caller whose REST list holds it, else its
    public form (building or rounded point, masked description or none)."""

    service_request_id: str
    status: str = Field(description="open or closed")
    status_notes: str
    service_name: str
    service_code: str
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str
    updated_datetime: str | None
    expected_datetime: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float
    long: float
    media_url: str | None


class Token(BaseModel):
    service_request_id: str
    token: str


class Posted(BaseModel):
    """What a POST answers: the new request's id, its token (the tracking code) and a notice."""

    service_request_id: str
    token: str
    service_notice: str
    account_id: str | None


# -- admin: client keys ----------------------------------------------------------------------------


class ClientIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    contact: str | None = Field(default=None, max_length=200)


class ClientCreated(BaseModel):
    id: int
    name: str
    api_key: str = Field(description="shown this once; only its hash is stored")
    key_prefix: str


class ClientOut(BaseModel):
    id: int
    name: str
    contact: str | None
    key_prefix: str
    active: bool
    created_at: str
    created_by: str
