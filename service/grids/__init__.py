"""Grids (网格), their grid workers, and point location."""
