"""Shared helpers of the community-life domains (points, wishes, key households, follow-ups, duty, teams)."""
