"""Exports for planners and analysts: GeoPackage (one layer per table), GeoJSON, CSV with WKT."""
