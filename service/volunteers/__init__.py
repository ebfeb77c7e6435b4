"""Volunteers: skills, teams, duty and last known position."""
