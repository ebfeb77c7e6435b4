"""Shared fixtures live in tests/support; this file only registers them."""

pytest_plugins = ["tests.support.backends", "tests.support.fixtures", "tests.support.require_all"]
