"""Open311 GeoReport v2: the API civic apps and hotline systems already speak."""
