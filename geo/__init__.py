"""Pure spatial logic for neighborgrid: no database, no web, no I/O.

Everything here works on shapely geometries, numpy arrays and plain values in WGS84 lon/lat,
projecting to a local metric CRS (``geo.crs``) where metres matter.
"""
