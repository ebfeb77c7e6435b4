"""The one table that replaces folium's CDN links with assets the app serves itself.

folium keeps ``default_js``/``default_css`` as class attributes shared by every map, so we override
them **per element instance** (``localize``), never on the class. Links we do not need are dropped
(Bootstrap 3 glyphicons, folium's rotate CSS); any link left pointing off-site is an error.
"""

from __future__ import annotations

from branca.element import Element

VENDOR = "/static/vendor"

#: folium's asset name -> the local URL (``None``: not needed, dropped)
LOCAL: dict[str, str | None] = {
    "leaflet": f"{VENDOR}/leaflet/leaflet.js",
    "jquery": f"{VENDOR}/jquery/jquery.min.js",
    "bootstrap": f"{VENDOR}/bootstrap/bootstrap.bundle.min.js",
    "awesome_markers": f"{VENDOR}/awesome-markers/leaflet.awesome-markers.js",
    "leaflet_css": f"{VENDOR}/leaflet/leaflet.css",
    "bootstrap_css": f"{VENDOR}/bootstrap/bootstrap.min.css",
    "glyphicons_css": None,
    "awesome_markers_font_css": f"{VENDOR}/fontawesome/css/all.min.css",
    "awesome_markers_css": f"{VENDOR}/awesome-markers/leaflet.awesome-markers.css",
    "awesome_rotate_css": None,
    "markerclusterjs": f"{VENDOR}/markercluster/leaflet.markercluster.js",
    "markerclustercss": f"{VENDOR}/markercluster/MarkerCluster.css",
    "markerclusterdefaultcss": f"{VENDOR}/markercluster/MarkerCluster.Default.css",
    "leaflet-heat.js": f"{VENDOR}/leaflet-heat/leaflet-heat.js",
    "geoman_js": f"{VENDOR}/geoman/leaflet-geoman.min.js",
    "geoman_css": f"{VENDOR}/geoman/leaflet-geoman.css",
}


class OffsiteAsset(RuntimeError):
    """A page would load a script or stylesheet from another host."""


def _local(pairs: list[tuple[str, str]], drop: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    out = []
    for name, url in pairs:
        if name in drop:
            continue
        if name not in LOCAL:
            if url.startswith("/"):
                out.append((name, url))
                continue
            raise OffsiteAsset(f"no local copy of {name} ({url}); add it to map_ui/assets.py and vendor.py")
        local = LOCAL[name]
        if local is not None:
            out.append((name, local))
    return out


def local_url(name: str) -> str:
    """The local copy of library ``name`` (OffsiteAsset when it has none: folium's unused assets)."""
    url = LOCAL.get(name)
    if url is None:
        raise OffsiteAsset(f"no local copy of {name}; add it to map_ui/assets.py and vendor.py")
    return url


def localize(element: Element, *, drop: frozenset[str] = frozenset()) -> Element:
    """Point ``element`` and all its children at local assets (instance attributes only).

    ``drop`` names assets (keys of folium's lists) the page does not need at all."""
    stack = [element]
    while stack:
        el = stack.pop()
        for attr in ("default_js", "default_css"):
            pairs = getattr(el, attr, None)
            if pairs:
                setattr(el, attr, _local(list(pairs), drop))
        stack.extend(getattr(el, "_children", {}).values())
    return element
