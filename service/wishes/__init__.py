"""Micro-wishes (微心愿) and mutual-aid projects (互助项目): post, claim, fulfil, confirm."""
