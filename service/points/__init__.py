"""Volunteer points (志愿积分): an append-only ledger, a catalogue of services to redeem, community events."""
