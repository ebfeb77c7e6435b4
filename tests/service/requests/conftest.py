"""The request tests use the shared fixtures of tests/support/fixtures.py (``clock``, ``clients``,
``api``, ``town``)."""
