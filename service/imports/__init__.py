"""Onboarding: importing a city's areas, grids, buildings, stations and people from its own files."""
