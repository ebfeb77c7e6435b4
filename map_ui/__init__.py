"""Web pages (folium/Leaflet) and their locally served static assets.

Pages talk to the service only through its HTTP API; every script and stylesheet is served by the
app from ``map_ui/static`` so the pages work with no internet.
"""
