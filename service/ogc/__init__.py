"""OGC API - Features at /ogc: a thin layer of providers over the domain queries."""
