"""Benchmark scripts, each run as ``python bench/<script>.py``; a package so that the reliability
and security tests import the load tool (``bench.load_intake``) like any other module."""
