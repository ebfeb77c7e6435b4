"""People from the city's rosters (Excel or CSV): grid workers, volunteers and service teams.

A person's key is their code (工号/编号) when the roster has one, else their phone number
(``phone:<digits>``), so a roster without codes can still be re-imported safely. A roster column
that is present is authoritative (an empty cell clears the field); a column the roster lacks
leaves what is stored (a volunteer's duty switch and position, for example, stay theirs).

Phones are personal data: no problem or warning repeats one (a phone named as a team member is
shown masked, ``138****8000``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from service.areas.models import Area, AreaLevel
from service.auth.models import User
from service.common.layer_cache import GRIDS
from service.common.revisions import bump_revision
from service.common.times import parse_iso
from service.grids.models import Grid, GridLayer, GridWorker, WorkerRole
from service.imports.context import Feature, ImportContext
from service.imports.saving import Wanted, save_by_code, stored_shape
from service.imports.spec import FieldSpec, KindSpec
from service.organisations.models import PartyOrg
from service.teams.models import Team, TeamMember, TeamRole
from service.volunteers.models import Skill, Volunteer

# -- phones and keys ----------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\s\-–—()（）.·]+")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0\d{2,3}[2-9]\d{6,7}")


def phone_digits(text: str) -> str | None:
    """The phone's digits when it is a Chinese mobile (11 digits, 1[3-9]…) or a landline with its
    area code (0xx(x) and 7-8 digits), separators and a +86/0086 prefix allowed; else None."""
    digits = _SEPARATORS.sub("", text.strip())
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits = digits[len(prefix) :]
    if len(digits) == 13 and digits.startswith("86") and _MOBILE.fullmatch(digits[2:]):
        digits = digits[2:]
    if _MOBILE.fullmatch(digits) or _LANDLINE.fullmatch(digits):
        return digits
    return None


def masked(digits: str) -> str:
    """A phone as a message may show it: ``138****8000``."""
    return digits[:3] + "****" + digits[-4:] if len(digits) > 7 else "****"


PHONE_RULE = "must be a Chinese mobile (11 digits) or a landline with its area code (e.g. 0596-1234567)"


def _person_keys(ctx: ImportContext, what: str) -> dict[str, Feature]:
    """Each feature's key (code, else ``phone:<digits>``), checking phones and repeated keys."""
    keys: dict[str, Feature] = {}
    for f in ctx.features:
        phone = f.values.get("phone")
        digits = phone_digits(str(phone)) if phone is not None else None
        if phone is not None and digits is None:
            ctx.problem(f, "phone", "bad_value", f"phone {PHONE_RULE}")
        code = f.code
        if code is None and digits is None:
            continue  # an empty or bad phone is reported already
        key = code if code is not None else f"phone:{digits}"
        if key in keys:
            by = "code" if code is not None else "phone"
            ctx.problem(f, by, "duplicate_code", f"the same {by} as row {keys[key].index} (one {what} per row)")
            continue
        keys[key] = f
    return keys


def _merged(base: dict[str, Any], f: Feature, given: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    """``base`` with every field whose column the roster has (``given``: prop -> (field, value))."""
    out = dict(base)
    for prop, (field, value) in given.items():
        if field in f.values:
            out[prop] = value
    return out


def _live_grids(ctx: ImportContext) -> dict[str, Grid]:
    """Current grids by code; a code in several layers means the one-network grid."""
    grids: dict[str, Grid] = {}
    for g in ctx.session.scalars(select(Grid).where(Grid.retired_at.is_(None)).order_by(Grid.id)):
        if g.code not in grids or g.layer is GridLayer.ONE_NETWORK:
            grids[g.code] = g
    return grids


def _communities(ctx: ImportContext) -> dict[str, Area]:
    rows = ctx.session.scalars(select(Area).where(Area.retired_at.is_(None), Area.level == AreaLevel.COMMUNITY))
    return {a.code: a for a in rows}


def _party_orgs(ctx: ImportContext) -> dict[str, int | None]:
    """Party organisations by code (ref) and by name (a name two share maps to None: ambiguous)."""
    out: dict[str, int | None] = {}
    rows = list(ctx.session.scalars(select(PartyOrg)))
    for o in rows:
        out[o.name_zh] = None if o.name_zh in out else o.id
    out.update({o.ref: o.id for o in rows if o.ref})
    return out


# -- grid workers -------------------------------------------------------------------------------

ROLE_WORDS: dict[str, WorkerRole] = {
    **{w: WorkerRole.LEAD for w in ("lead", "leader", "网格长", "组长", "网格组长", "总网格长", "网格队长")},
    **{
        w: WorkerRole.MEMBER
        for w in (
            "member",
            "worker",
            "网格员",
            "专职网格员",
            "兼职网格员",
            "专职",
            "兼职",
            "网格协管员",
            "协管员",
            "成员",
        )
    },
}

#: The fields every roster of people shares: a name, an English name and a phone (the key without a code).
PERSON_NAME_EN = FieldSpec(("name_en", "英文名", "英文姓名"))
PERSON_PHONE = FieldSpec(
    ("phone", "手机", "手机号", "手机号码", "电话", "联系电话", "mobile"), required=True, max_length=32
)


def person_code(what: str, *extra: str) -> FieldSpec:
    """A roster's code column: optional, the phone keys the row without it."""
    return FieldSpec(
        ("code", "ref", *extra, "id"), max_length=80, description=f"the {what}'s code (else the phone keys the row)"
    )


def person_name(*extra: str) -> FieldSpec:
    return FieldSpec(("name_zh", "name", "姓名", *extra, "xm"), required=True)


WORKER_FIELDS = {
    "code": person_code("worker", "工号", "编号", "人员编号"),
    "name": person_name("网格员姓名"),
    "name_en": PERSON_NAME_EN,
    "phone": PERSON_PHONE,
    "grids": FieldSpec(
        ("grids", "grid_code", "grid_codes", "grid", "网格编码", "所属网格", "网格代码", "网格编号"),
        type="list",
        max_length=32,
        description="the codes of the grids the worker keeps (one or several, separated by , ; 、)",
    ),
    "role": FieldSpec(
        ("role", "职务", "角色", "岗位"),
        max_length=40,
        description="lead or member (网格长 → lead; 网格员, 专职网格员, 兼职网格员 → member)",
    ),
    "party_member": FieldSpec(("party_member", "是否党员", "党员", "政治面貌"), max_length=20),
    "username": FieldSpec(
        ("username", "账号", "用户名", "account"), max_length=64, description="links the worker to this user account"
    ),
    "party_org": FieldSpec(
        ("party_org", "party_org_code", "party_org_key", "党组织", "所属党组织", "所属党支部", "党支部"),
        max_length=200,
        description="the party branch's code (ref) or name; an unknown one is warned and left unlinked",
    ),
}

_PARTY_WORDS = {"中共党员": True, "党员": True, "预备党员": True, "中共预备党员": True, "群众": False, "团员": False}


def _party(ctx: ImportContext, f: Feature) -> bool | None:
    value = f.values.get("party_member")
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in _PARTY_WORDS:
        return _PARTY_WORDS[text]
    if text in ("true", "t", "yes", "y", "1", "是", "√", "✓"):
        return True
    if text in ("false", "f", "no", "n", "0", "否", "×"):
        return False
    ctx.problem(f, "party_member", "bad_value", "party_member must be yes/no (是/否, 党员/群众)")
    return None


def run_workers(ctx: ImportContext) -> None:
    """Check every worker (phone, role, grids, account), then save by key; assignments are the file's."""
    keys = _person_keys(ctx, "grid worker")
    grids = _live_grids(ctx)
    users = {u.username: u for u in ctx.session.scalars(select(User))}
    stored: dict[str, GridWorker] = {
        w.ref or "": w
        for w in ctx.session.scalars(
            select(GridWorker).options(selectinload(GridWorker.grids)).where(GridWorker.ref.is_not(None))
        )
    }
    rows = ctx.session.execute(select(GridWorker.user_id, GridWorker.ref).where(GridWorker.user_id.is_not(None)))
    linked = {user_id: ref for user_id, ref in rows}
    orgs = _party_orgs(ctx)
    branch: dict[str, int | None] = {}
    chosen: dict[str, tuple[WorkerRole | None, bool | None, list[Grid], User | None]] = {}
    usernames: dict[str, Feature] = {}
    for key, f in keys.items():
        role = None
        if f.values.get("role") is not None:
            role = ROLE_WORDS.get(str(f.values["role"]).strip().lower())
            if role is None:
                ctx.problem(
                    f, "role", "bad_value", "role must be lead or member (网格长, 网格员, 专职网格员, 兼职网格员)"
                )
        party = _party(ctx, f)
        assigned: list[Grid] = []
        for code in f.values.get("grids") or []:
            grid = grids.get(code)
            if grid is None:
                ctx.problem(f, "grids", "unknown_grid", f"no current grid has the code {code!r}")
            elif grid not in assigned:
                assigned.append(grid)
        user = None
        username = f.values.get("username")
        if username is not None:
            user = users.get(username)
            if user is None:
                ctx.problem(f, "username", "unknown_user", f"no user account is called {username!r}")
            elif username in usernames:
                ctx.problem(f, "username", "duplicate_user", f"row {usernames[username].index} links the same account")
            elif linked.get(user.id) not in (None, key):
                ctx.problem(f, "username", "user_taken", f"the account {username!r} belongs to another grid worker")
            usernames.setdefault(username, f)
        chosen[key] = (role, party, assigned, user)
        org = f.values.get("party_org")
        branch[key] = orgs.get(org) if org is not None else None
        if org is not None and branch[key] is None:
            ctx.warn(
                f, "party_org", "unknown_party_org", f"no party organisation is known as {org[:60]!r}; left unlinked"
            )
    if ctx.report.problems:
        return

    def snapshot(w: GridWorker) -> tuple[dict[str, Any], BaseGeometry | None]:
        return {
            "name_zh": w.name_zh,
            "name_en": w.name_en,
            "phone": w.phone,
            "role": w.role.value,
            "party_member": w.party_member,
            "grids": sorted(g.code for g in w.grids),
            "user_id": w.user_id,
            "party_org_id": w.party_org_id,
        }, None

    grid_objects: dict[str, list[Grid]] = {}
    wanted = []
    for key, f in keys.items():
        role, party, assigned, user = chosen[key]
        old = stored.get(key)
        base = (
            snapshot(old)[0]
            if old is not None
            else {
                "name_en": None,
                "role": "member",
                "party_member": True,
                "grids": [],
                "user_id": None,
                "party_org_id": None,
            }
        )
        props = _merged(
            base,
            f,
            {
                "name_zh": ("name", f.values.get("name")),
                "name_en": ("name_en", f.values.get("name_en")),
                "phone": ("phone", f.values.get("phone")),
                "role": ("role", (role or WorkerRole.MEMBER).value),
                "party_member": ("party_member", True if party is None else party),
                "grids": ("grids", sorted(g.code for g in assigned)),
                "user_id": ("username", user.id if user is not None else None),
                "party_org_id": ("party_org", branch[key]),
            },
        )
        grid_objects[key] = assigned if "grids" in f.values else list(old.grids) if old is not None else []
        wanted.append(Wanted(key, props, None, f))

    def apply(w: GridWorker, want: Wanted) -> None:
        p = want.props
        w.name_zh, w.name_en, w.phone = p["name_zh"], p["name_en"], p["phone"]
        w.role, w.party_member, w.user_id = WorkerRole(p["role"]), p["party_member"], p["user_id"]
        w.party_org_id = p["party_org_id"]
        w.grids = list(grid_objects[want.code])

    def create(want: Wanted) -> GridWorker:
        worker = GridWorker(ref=want.code, version=1, on_duty=True)
        apply(worker, want)
        return worker

    def retire(w: GridWorker) -> None:
        w.retired_at, w.on_duty, w.grids, w.user_id = ctx.now, False, [], None

    def revive(w: GridWorker) -> None:
        w.retired_at, w.on_duty = None, True

    current = {k: w for k, w in stored.items() if w.retired_at is None}
    retired = {k: w for k, w in stored.items() if w.retired_at is not None}
    save_by_code(
        ctx,
        wanted=wanted,
        current=current,
        retired=retired,
        snapshot=snapshot,
        create=create,
        apply=apply,
        retire=retire,
        revive=revive,
    )
    if any(ctx.report.counts[c] for c in ("created", "updated", "retired")):
        bump_revision(ctx.session, GRIDS)  # grid answers list their workers


WORKERS = KindSpec(
    name="grid-workers",
    summary="grid workers (网格员) roster: name, phone, grids, role, party membership, account",
    geometry="none",
    fields=WORKER_FIELDS,
    run=run_workers,
)


# -- volunteers ---------------------------------------------------------------------------------

#: Chinese (and plain English) skill names, to the skills of our vocabulary (service/volunteers/models.py).
SKILL_WORDS: dict[str, tuple[str, ...]] = {
    **{s: (s,) for s in Skill.ALL},
    **{s.replace("_", " "): (s,) for s in Skill.ALL},
    **dict.fromkeys(("水电维修", "水电", "水电工"), ("plumbing", "electrical")),
    **dict.fromkeys(("水暖", "水管维修", "管道维修", "管道疏通", "水管", "管道", "plumber"), ("plumbing",)),
    **dict.fromkeys(("电工", "电路维修", "电器维修", "家电维修", "电力", "electrician"), ("electrical",)),
    **dict.fromkeys(("电梯", "电梯维修", "电梯维保"), ("lift",)),
    **dict.fromkeys(
        ("助老", "养老", "养老护理", "老人照护", "老年护理", "陪护", "照护", "护理", "敬老", "elderly care"),
        ("elder_care",),
    ),
    **dict.fromkeys(("调解", "矛盾调解", "纠纷调解", "人民调解", "调解员"), ("mediation",)),
    **dict.fromkeys(("法律", "法律咨询", "法律援助", "法律服务", "律师", "普法"), ("legal",)),
    **dict.fromkeys(("环卫", "保洁", "清洁", "卫生", "环境卫生", "垃圾分类", "cleaning"), ("sanitation",)),
    **dict.fromkeys(("急救", "医疗", "医疗急救", "医护", "救护", "应急救护", "红十字救护员"), ("first_aid",)),
    **dict.fromkeys(("防疫", "消杀", "防疫消杀", "疫情防控", "卫生防疫"), ("epidemic_control",)),
    **dict.fromkeys(("辅导", "课业辅导", "学业辅导", "家教", "支教", "教育"), ("tutoring",)),
    **dict.fromkeys(("托育", "育儿", "儿童看护", "看护儿童", "托管"), ("childcare",)),
    **dict.fromkeys(("交通", "交通疏导", "交通劝导", "文明交通", "交通协管"), ("traffic",)),
    **dict.fromkeys(("通用", "综合", "一般", "综合服务"), ("general",)),
}


def skills_of(ctx: ImportContext, f: Feature) -> list[str]:
    """The row's skills in our vocabulary; an unknown skill is kept as written, with a warning."""
    out: list[str] = []
    for item in f.values.get("skills") or []:
        found = SKILL_WORDS.get(item.strip().lower())
        if found is None:
            ctx.warn(
                f,
                "skills",
                "unknown_skill",
                f"skill {item[:40]!r} is none of ours ({', '.join(Skill.ALL)}); kept as written, "
                "but requests never ask for it",
            )
            found = (item.strip(),)
        out.extend(s for s in found if s not in out)
    return out


VOLUNTEER_FIELDS = {
    "code": person_code("volunteer", "编号", "志愿者编号", "工号"),
    "name": person_name("志愿者姓名"),
    "name_en": PERSON_NAME_EN,
    "phone": PERSON_PHONE,
    "skills": FieldSpec(
        ("skills", "技能", "特长", "专长", "服务技能"),
        type="list",
        max_length=40,
        description="skills (" + ", ".join(Skill.ALL) + ") or their Chinese names (水电维修, 调解, 急救…)",
    ),
    "team": FieldSpec(("team_zh", "team", "队伍", "所属队伍", "服务队"), description="the team's name (text)"),
    "team_en": FieldSpec(("team_en", "队伍英文名"), description="the team's English name"),
    "community": FieldSpec(
        ("community_code", "community", "社区代码", "社区编码", "所属社区代码"),
        max_length=32,
        description="the community's code (else the grid's community, else the position's)",
    ),
    "grid": FieldSpec(
        ("grid_code", "grid", "网格编码", "所属网格", "网格代码"),
        max_length=32,
        description="a grid code: the volunteer belongs to its community",
    ),
    "on_duty": FieldSpec(("on_duty", "在岗", "值班", "是否在岗"), type="bool", description="default no"),
    "position_at": FieldSpec(
        ("position_at", "定位时间"),
        max_length=40,
        description="when the position was taken (ISO 8601; default: the import's time)",
    ),
}


def run_volunteers(ctx: ImportContext) -> None:
    """Check every volunteer (phone, skills, community or grid), then save by key."""
    keys = _person_keys(ctx, "volunteer")
    communities = _communities(ctx)
    grids = _live_grids(ctx)
    tree_items = list(communities.values())
    tree = STRtree([to_shape(a.geom) for a in tree_items]) if tree_items else None
    where: dict[str, int | None] = {}
    skills: dict[str, list[str]] = {}
    taken: dict[str, datetime] = {}
    for key, f in keys.items():
        skills[key] = skills_of(ctx, f)
        if f.values.get("position_at") is not None:
            try:
                taken[key] = parse_iso(f.values["position_at"])
            except ValueError:
                ctx.problem(f, "position_at", "bad_value", "position_at must be an ISO 8601 date or datetime")
        community = None
        if f.values.get("community") is not None:
            community = communities.get(f.values["community"])
            if community is None:
                ctx.problem(
                    f, "community", "unknown_community", f"no current community has the code {f.values['community']!r}"
                )
        elif f.values.get("grid") is not None:
            grid = grids.get(f.values["grid"])
            if grid is None:
                ctx.problem(f, "grid", "unknown_grid", f"no current grid has the code {f.values['grid']!r}")
            else:
                where[key] = grid.community_id
                continue
        elif f.geom is not None and tree is not None:
            hits = sorted(int(i) for i in tree.query(f.geom, predicate="intersects"))
            community = tree_items[hits[0]] if hits else None
        where[key] = community.id if community is not None else None
    if ctx.report.problems:
        return
    stored: dict[str, Volunteer] = {
        v.ref or "": v for v in ctx.session.scalars(select(Volunteer).where(Volunteer.ref.is_not(None)))
    }

    def snapshot(v: Volunteer) -> tuple[dict[str, Any], BaseGeometry | None]:
        return {
            "name_zh": v.name_zh,
            "name_en": v.name_en,
            "phone": v.phone,
            "skills": list(v.skills or []),
            "team_zh": v.team_zh,
            "team_en": v.team_en,
            "community_id": v.community_id,
            "on_duty": v.on_duty,
        }, stored_shape(v.position)

    wanted = []
    for key, f in keys.items():
        old = stored.get(key)
        base = (
            snapshot(old)[0]
            if old is not None
            else {
                "name_en": None,
                "skills": [],
                "team_zh": None,
                "team_en": None,
                "community_id": None,
                "on_duty": False,
            }
        )
        props = _merged(
            base,
            f,
            {
                "name_zh": ("name", f.values.get("name")),
                "name_en": ("name_en", f.values.get("name_en")),
                "phone": ("phone", f.values.get("phone")),
                "skills": ("skills", skills[key]),
                "team_zh": ("team", f.values.get("team")),
                "team_en": ("team_en", f.values.get("team_en")),
                "on_duty": ("on_duty", bool(f.values.get("on_duty"))),
            },
        )
        if any(k in f.values for k in ("community", "grid")) or f.geom is not None or old is None:
            props["community_id"] = where[key]
        geom = f.geom if f.geom is not None else (stored_shape(old.position) if old is not None else None)
        wanted.append(Wanted(key, props, geom, f))

    def apply(v: Volunteer, want: Wanted) -> None:
        p = want.props
        v.name_zh, v.name_en, v.phone = p["name_zh"], p["name_en"], p["phone"]
        v.skills, v.team_zh, v.team_en = list(p["skills"]), p["team_zh"], p["team_en"]
        v.community_id, v.on_duty = p["community_id"], p["on_duty"]
        if want.geom is not None and not _same(v.position, want.geom):
            v.position = from_shape(want.geom, srid=4326)
            v.position_at = taken.get(want.code, ctx.now)

    def create(want: Wanted) -> Volunteer:
        volunteer = Volunteer(ref=want.code, version=1)
        apply(volunteer, want)
        return volunteer

    def retire(v: Volunteer) -> None:
        v.retired_at, v.on_duty = ctx.now, False

    current = {k: v for k, v in stored.items() if v.retired_at is None}
    retired = {k: v for k, v in stored.items() if v.retired_at is not None}
    save_by_code(
        ctx,
        wanted=wanted,
        current=current,
        retired=retired,
        snapshot=snapshot,
        create=create,
        apply=apply,
        retire=retire,
    )


def _same(value: Any, geom: BaseGeometry) -> bool:
    from service.imports.saving import same_geometry

    return same_geometry(stored_shape(value), geom)


VOLUNTEERS = KindSpec(
    name="volunteers",
    summary="volunteers (志愿者) roster: name, phone, skills, team, community or grid, optional position",
    geometry="optional_point",
    fields=VOLUNTEER_FIELDS,
    run=run_volunteers,
)


# -- teams --------------------------------------------------------------------------------------

TEAM_FIELDS = {
    "code": FieldSpec(("code", "ref", "队伍编号", "队伍代码", "编号", "id"), required=True, max_length=80),
    "name": FieldSpec(("name_zh", "name", "队伍名称", "名称", "mc"), required=True),
    "name_en": FieldSpec(("name_en", "英文名称")),
    "kind": FieldSpec(
        ("kind", "类型", "队伍类型", "服务类型"),
        max_length=40,
        description="what the team does (mediation, legal, tutoring… or 调解, 法律…; default general)",
    ),
    "community": FieldSpec(
        ("community_code", "community", "社区代码", "社区编码", "所属社区代码"),
        required=True,
        max_length=32,
        description="the community's code",
    ),
    "grid": FieldSpec(
        ("grid_code", "grid", "网格编码", "所属网格"), max_length=32, description="the grid it serves, if only one"
    ),
    "leader": FieldSpec(
        ("leader", "队长", "队长手机", "队长电话", "队长编号", "leader_phone"),
        max_length=80,
        description="the leader: a volunteer's code or phone",
    ),
    "members": FieldSpec(
        ("members", "成员", "队员", "成员编号", "成员手机"),
        type="list",
        max_length=80,
        description="the members: volunteers' codes or phones",
    ),
    "description": FieldSpec(("description", "简介", "说明", "备注"), max_length=2000),
}


def _volunteer_finder(ctx: ImportContext) -> Callable[[str], tuple[Volunteer | None, str]]:
    """A lookup of live volunteers by code or phone; answers (volunteer, how to name the token)."""
    live = list(ctx.session.scalars(select(Volunteer).where(Volunteer.retired_at.is_(None))))
    by_ref = {v.ref: v for v in live if v.ref is not None}
    by_phone: dict[str, list[Volunteer]] = {}
    for v in live:
        digits = phone_digits(v.phone) if v.phone else None
        if digits is not None:
            by_phone.setdefault(digits, []).append(v)

    def find(token: str) -> tuple[Volunteer | None, str]:
        token = token.strip()
        if token in by_ref:
            return by_ref[token], token
        digits = phone_digits(token)
        if digits is None:
            return None, repr(token[:40])
        found = by_phone.get(digits, [])
        return (found[0] if len(found) == 1 else None), f"phone {masked(digits)}"

    return find


def _team_kind(word: str | None) -> str:
    if word is None:
        return "general"
    found = SKILL_WORDS.get(word.strip().lower())
    return found[0] if found and len(found) == 1 else word.strip()[:40]


def run_teams(ctx: ImportContext) -> None:
    """Check every team (community, grid, leader and members), then save by code; members are the file's."""
    communities = _communities(ctx)
    grids = _live_grids(ctx)
    find = _volunteer_finder(ctx)
    seen: dict[str, Feature] = {}
    resolved: dict[str, tuple[int, int | None, list[list[Any]]]] = {}
    for f in ctx.features:
        if not ctx.first_with_code(seen, f):
            continue
        code = f.code or ""
        community = communities.get(f.values.get("community") or "")
        if community is None and f.values.get("community") is not None:
            ctx.problem(
                f, "community", "unknown_community", f"no current community has the code {f.values['community']!r}"
            )
        grid = None
        if f.values.get("grid") is not None:
            grid = grids.get(f.values["grid"])
            if grid is None:
                ctx.problem(f, "grid", "unknown_grid", f"no current grid has the code {f.values['grid']!r}")
            elif community is not None and grid.community_id != community.id:
                ctx.warn(f, "grid", "grid_elsewhere", f"grid {grid.code} is not in community {community.code}")
        roles: dict[int, str] = {}
        for field, tokens in (("leader", [f.values.get("leader")]), ("members", f.values.get("members") or [])):
            for token in tokens:
                if token is None:
                    continue
                volunteer, label = find(str(token))
                if volunteer is None:
                    ctx.problem(f, field, "unknown_member", f"no current volunteer is known by {label}")
                elif field == "leader":
                    roles[volunteer.id] = TeamRole.LEADER.value
                else:
                    roles.setdefault(volunteer.id, TeamRole.MEMBER.value)
        if community is not None:
            resolved[code] = (
                community.id,
                grid.id if grid is not None else None,
                sorted([k, r] for k, r in roles.items()),
            )
    if ctx.report.problems:
        return
    stored: dict[str, Team] = {
        t.ref or "": t
        for t in ctx.session.scalars(select(Team).options(selectinload(Team.members)).where(Team.ref.is_not(None)))
    }

    def snapshot(t: Team) -> tuple[dict[str, Any], BaseGeometry | None]:
        return {
            "name_zh": t.name_zh,
            "name_en": t.name_en,
            "kind": t.kind,
            "community_id": t.community_id,
            "grid_id": t.grid_id,
            "description": t.description,
            "members": sorted([m.volunteer_id, m.role.value] for m in t.members),
        }, None

    wanted = []
    for code, f in seen.items():
        community_id, grid_id, members = resolved[code]
        old = stored.get(code)
        base = (
            snapshot(old)[0]
            if old is not None
            else {"name_en": None, "kind": "general", "grid_id": None, "description": None, "members": []}
        )
        props = _merged(
            base,
            f,
            {
                "name_zh": ("name", f.values.get("name")),
                "name_en": ("name_en", f.values.get("name_en")),
                "kind": ("kind", _team_kind(f.values.get("kind"))),
                "community_id": ("community", community_id),
                "grid_id": ("grid", grid_id),
                "description": ("description", f.values.get("description")),
            },
        )
        if "leader" in f.values or "members" in f.values:
            props["members"] = members
        wanted.append(Wanted(code, props, None, f))

    def apply(t: Team, want: Wanted) -> None:
        p = want.props
        t.name_zh, t.name_en, t.kind, t.description = p["name_zh"], p["name_en"], p["kind"], p["description"]
        t.community_id, t.grid_id = p["community_id"], p["grid_id"]
        roles = {vid: TeamRole(role) for vid, role in p["members"]}
        for m in list(t.members):
            if m.volunteer_id not in roles:
                t.members.remove(m)
            else:
                m.role = roles.pop(m.volunteer_id)
        for vid, role in roles.items():
            t.members.append(TeamMember(volunteer_id=vid, role=role, joined_at=ctx.now))

    def create(want: Wanted) -> Team:
        team = Team(ref=want.code, active=True, created_at=ctx.now, members=[])
        apply(team, want)
        return team

    def retire(t: Team) -> None:
        t.active = False

    def revive(t: Team) -> None:
        t.active = True

    save_by_code(
        ctx,
        wanted=wanted,
        current={c: t for c, t in stored.items() if t.active},
        retired={c: t for c, t in stored.items() if not t.active},
        snapshot=snapshot,
        create=create,
        apply=apply,
        retire=retire,
        revive=revive,
        versioned=False,
    )


TEAMS = KindSpec(
    name="teams",
    summary="service teams (专业服务队): code, name, kind, community, grid, leader and members",
    geometry="none",
    fields=TEAM_FIELDS,
    run=run_teams,
)
