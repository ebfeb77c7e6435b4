"""The category taxonomy: what residents ask for, grouped as in our reference practice.

Each kind carries its default severity (1 minor … 4 critical), the volunteer skill it needs, the
department it routes to (by code), its usual scope and handling level, and its resolve deadline.
Resolve deadlines follow the 12345-hotline norm: 2 h emergencies, 24 h urgent utilities,
7 days general, 15 days complex. ``sync_categories`` inserts missing kinds and never overwrites a
city's own edits.

``PUBLIC_TEXT_KINDS`` are the kinds whose description a resident may publish (masked) on the public
feeds; every other kind, and any kind a city adds, shows the category only: text about a
person's health, age, children, a legal matter or a dispute with a neighbour is never public.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.requests.models import CategoryGroup, HandlingLevel, RequestCategory, Scope

G = CategoryGroup
L = HandlingLevel
S = Scope

GROUP_LABELS = {
    G.INFO_CONSULTING: ("信息咨询类", "Information and consulting"),
    G.ENVIRONMENTAL: ("环境保护类", "Environment"),
    G.LIVELIHOOD: ("民生需求类", "Livelihood needs"),
}


#: Kinds whose (masked) description may be shown publicly: things in the street or the building,
#: not about a person. Copied into migration 0008 for the categories already in a database.
PUBLIC_TEXT_KINDS = frozenset(
    {
        "policy_inquiry",
        "sanitation",
        "littering",
        "illegal_parking",
        "illegal_construction",
        "street_lighting",
        "greenery_damage",
        "pipe_leak",
        "lift_failure",
        "power_outage",
        "water_outage",
        "fire_hazard",
        "property_service",
    }
)


@dataclass(frozen=True)
class Kind:
    code: str
    group: CategoryGroup
    name_zh: str
    name_en: str
    severity: int
    skill: str
    department: str | None
    resolve_hours: float
    scope: Scope = S.FLAT
    level: HandlingLevel = L.GRID
    keywords: tuple[str, ...] = ()
    attributes: tuple[dict, ...] = field(default_factory=tuple)


def _attr(code: str, zh: str, en: str, datatype: str = "string", required: bool = False, values=None) -> dict:
    """An Open311-style service attribute."""
    out = {"code": code, "description_zh": zh, "description": en, "datatype": datatype, "required": required}
    if values:
        out["values"] = [{"key": k, "name": v} for k, v in values]
    return out


KINDS: tuple[Kind, ...] = (
    # 信息咨询类
    Kind(
        "policy_inquiry",
        G.INFO_CONSULTING,
        "政策咨询",
        "Policy inquiry",
        1,
        "general",
        None,
        72,
        keywords=("policy", "政策", "咨询"),
    ),
    Kind(
        "service_inquiry",
        G.INFO_CONSULTING,
        "办事咨询",
        "How-to inquiry (certificates, benefits)",
        1,
        "general",
        "mzj",
        72,
        keywords=("办事", "证明", "benefits"),
    ),
    Kind(
        "legal_advice",
        G.INFO_CONSULTING,
        "法律咨询",
        "Legal advice",
        1,
        "legal",
        "sfj",
        168,
        keywords=("法律", "law", "lawyer"),
    ),
    # 环境保护类
    Kind(
        "sanitation",
        G.ENVIRONMENTAL,
        "环境卫生",
        "Sanitation",
        2,
        "sanitation",
        "cgj",
        24,
        scope=S.BUILDING,
        keywords=("卫生", "垃圾", "dirty"),
    ),
    Kind(
        "littering",
        G.ENVIRONMENTAL,
        "乱扔垃圾",
        "Littering and rubbish",
        1,
        "sanitation",
        "cgj",
        24,
        keywords=("垃圾", "rubbish", "litter"),
    ),
    Kind(
        "illegal_parking",
        G.ENVIRONMENTAL,
        "违章停车",
        "Illegal parking",
        1,
        "traffic",
        "cgj",
        24,
        keywords=("停车", "parking", "车"),
    ),
    Kind(
        "illegal_construction",
        G.ENVIRONMENTAL,
        "违章搭建",
        "Illegal construction",
        2,
        "general",
        "cgj",
        360,
        scope=S.BUILDING,
        level=L.COMMUNITY,
        keywords=("违建", "搭建", "construction"),
    ),
    Kind("noise", G.ENVIRONMENTAL, "噪音扰民", "Noise", 1, "mediation", None, 24, keywords=("噪音", "noise")),
    Kind(
        "street_lighting",
        G.ENVIRONMENTAL,
        "路灯故障",
        "Street light out",
        1,
        "electrical",
        "cgj",
        72,
        scope=S.COMPOUND,
        keywords=("路灯", "light", "灯"),
    ),
    Kind(
        "greenery_damage",
        G.ENVIRONMENTAL,
        "绿化损毁",
        "Damaged greenery",
        1,
        "general",
        "cgj",
        168,
        keywords=("绿化", "tree", "树"),
    ),
    # 民生需求类
    Kind(
        "pipe_leak",
        G.LIVELIHOOD,
        "管道滴漏",
        "Leaking pipe",
        2,
        "plumbing",
        "zjj",
        24,
        scope=S.BUILDING,
        keywords=("漏水", "水管", "leak", "pipe"),
    ),
    Kind(
        "lift_failure",
        G.LIVELIHOOD,
        "电梯故障",
        "Lift failure",
        3,
        "lift",
        "zjj",
        24,
        scope=S.BUILDING,
        keywords=("电梯", "lift", "elevator"),
        attributes=(
            _attr("floor", "故障楼层", "Floor where the lift stopped", "number"),
            _attr(
                "trapped",
                "是否有人被困",
                "Is someone trapped?",
                "singlevaluelist",
                True,
                (("no", "否 No"), ("yes", "是 Yes")),
            ),
        ),
    ),
    Kind(
        "power_outage",
        G.LIVELIHOOD,
        "停电",
        "Power outage",
        2,
        "electrical",
        "zjj",
        24,
        scope=S.BUILDING,
        keywords=("停电", "power"),
    ),
    Kind(
        "water_outage",
        G.LIVELIHOOD,
        "停水",
        "No water",
        2,
        "plumbing",
        "zjj",
        24,
        scope=S.BUILDING,
        keywords=("停水", "water"),
    ),
    Kind(
        "neighbour_dispute",
        G.LIVELIHOOD,
        "邻里纠纷",
        "Neighbour dispute",
        2,
        "mediation",
        "sfj",
        168,
        keywords=("纠纷", "dispute", "矛盾"),
    ),
    Kind(
        "elderly_help",
        G.LIVELIHOOD,
        "老人帮扶",
        "Help for an elderly resident",
        2,
        "elder_care",
        "mzj",
        24,
        keywords=("老人", "elderly", "独居"),
    ),
    Kind(
        "childcare_need",
        G.LIVELIHOOD,
        "托幼需求",
        "Childcare need",
        1,
        "childcare",
        "mzj",
        168,
        keywords=("托幼", "childcare", "孩子"),
    ),
    Kind(
        "epidemic_control",
        G.LIVELIHOOD,
        "疫情防控",
        "Epidemic control",
        3,
        "epidemic_control",
        "wjj",
        2,
        scope=S.BUILDING,
        level=L.COMMUNITY,
        keywords=("疫情", "epidemic", "发热"),
    ),
    Kind(
        "medical_emergency",
        G.LIVELIHOOD,
        "紧急救助",
        "Medical emergency",
        4,
        "first_aid",
        "wjj",
        2,
        keywords=("急救", "emergency", "晕倒"),
    ),
    Kind(
        "fire_hazard",
        G.LIVELIHOOD,
        "消防隐患",
        "Fire hazard",
        3,
        "general",
        "zjj",
        24,
        scope=S.BUILDING,
        level=L.COMMUNITY,
        keywords=("消防", "fire", "通道"),
    ),
    Kind(
        "property_service",
        G.LIVELIHOOD,
        "物业服务",
        "Property management complaint",
        1,
        "general",
        "zjj",
        168,
        scope=S.COMPOUND,
        level=L.COMPOUND,
        keywords=("物业", "property"),
    ),
    Kind("other", G.LIVELIHOOD, "其他", "Other", 1, "general", None, 168, keywords=("其他", "other")),
)


def sync_categories(session: Session) -> int:
    """Insert the kinds missing from the database; returns how many were added."""
    existing = set(session.scalars(select(RequestCategory.code)))
    added = 0
    for k in KINDS:
        if k.code in existing:
            continue
        session.add(
            RequestCategory(
                code=k.code,
                group=k.group,
                name_zh=k.name_zh,
                name_en=k.name_en,
                severity=k.severity,
                skill=k.skill,
                department_code=k.department,
                default_scope=k.scope,
                default_level=k.level,
                resolve_hours=k.resolve_hours,
                keywords=list(k.keywords),
                attributes=list(k.attributes),
                active=True,
                public_text=k.code in PUBLIC_TEXT_KINDS,
            )
        )
        added += 1
    session.flush()
    return added
