"""Tests of the areas endpoints, the locate chain and bulk locate."""
