"""How service earns points: by duration and kind (志愿积分制: 按照时长计分).

``points = max(1, round(hours × rate))`` with the rate of the service's kind below (points per hour).
Skilled and sensitive work (mediation, legal advice) earns more per hour than attending an event.
"""

from __future__ import annotations

#: kind -> (name_zh, name_en, points per hour)
SERVICE_KINDS: dict[str, tuple[str, str, int]] = {
    "general": ("志愿服务", "General volunteering", 10),
    "elder_care": ("助老服务", "Elder care", 12),
    "childcare": ("托育看护", "Childcare", 12),
    "tutoring": ("课业辅导", "Tutoring", 12),
    "repair": ("维修服务", "Repairs", 12),
    "health": ("健康服务", "Health care", 12),
    "mediation": ("矛盾调解", "Mediation", 15),
    "legal": ("法律服务", "Legal advice", 15),
    "patrol": ("平安巡逻", "Safety patrol", 8),
    "sanitation": ("环境整治", "Clean-up", 8),
    "event": ("活动参与", "Community event", 5),
}

#: A request category's skill -> the kind of service its volunteer gave.
SKILL_KIND = {
    "plumbing": "repair",
    "electrical": "repair",
    "lift": "repair",
    "elder_care": "elder_care",
    "mediation": "mediation",
    "legal": "legal",
    "sanitation": "sanitation",
    "first_aid": "health",
    "epidemic_control": "health",
    "tutoring": "tutoring",
    "childcare": "childcare",
    "traffic": "patrol",
    "general": "general",
}

MAX_HOURS = 24.0


def points_for(hours: float, kind: str) -> int:
    """Points for ``hours`` of service of ``kind`` (at least 1)."""
    rate = SERVICE_KINDS[kind][2]
    return max(1, round(hours * rate))
