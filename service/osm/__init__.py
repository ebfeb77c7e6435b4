"""OpenStreetMap import: the tag mapping table, the pyrosm reader and the importer.

OSM data is © OpenStreetMap contributors, available under the Open Database License (ODbL) 1.0.
"""
