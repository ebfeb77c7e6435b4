"""folium page builders for the dispatcher, resident and planner maps.

A page is a folium map (its base layer chosen by settings) with every asset served locally, plus a
JSON configuration block and our own scripts, which talk to the service only through its HTTP API.
Labels come from one message catalogue per language (``map_ui/messages/*.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from html import escape
from pathlib import Path
from typing import Any, cast

import folium
from branca.element import Element, Figure
from folium.elements import JSCSSMixin

from map_ui.assets import local_url, localize

HERE = Path(__file__).resolve().parent
LANGUAGES = ("zh", "en")
DEFAULT_CENTER = (24.622, 117.755)  # lat, lon of the demo community

OSM_ATTRIBUTION = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
TIANDITU_ATTRIBUTION = "&copy; 天地图 Tianditu"
AMAP_ATTRIBUTION = "&copy; 高德地图 Amap"


@dataclass(frozen=True)
class Page:
    name: str
    title_key: str
    scripts: tuple[str, ...] = ()
    libraries: tuple[str, ...] = ()  # names in map_ui.assets.LOCAL
    roles: tuple[str, ...] = ()  # who may use it (the page asks them to sign in); empty = public
    extra: dict[str, Any] = field(default_factory=dict)


PAGES: dict[str, Page] = {
    "dispatch": Page(
        "dispatch",
        "page.dispatch",
        ("grid-layer.js", "community-layers.js", "dispatch.js"),
        ("markerclusterjs", "markerclustercss", "markerclusterdefaultcss", "leaflet-heat.js"),
        roles=("dispatcher", "grid_worker", "admin"),
    ),
    "stations": Page("stations", "page.stations", ("stations.js",)),
    "planner": Page(
        "planner",
        "page.planner",
        ("grid-layer.js", "grid-editor.js", "import_panel.js", "planner.js"),
        ("geoman_js", "geoman_css"),
        roles=("planner", "admin"),
    ),
    "track": Page("track", "page.track", ("track.js",)),
    "wishes": Page(
        "wishes", "page.wishes", ("wishes.js",), roles=("resident", "volunteer", "grid_worker", "dispatcher", "admin")
    ),
    "points": Page("points", "page.points", ("points.js",), roles=("volunteer",)),
}

#: Plugins that hook Leaflet's map creation (``L.Map.addInitHook``) must load before folium's inline
#: script creates the map: they go in the head, after Leaflet, not deferred like the others.
BEFORE_MAP = frozenset({"geoman_js"})


class _HeadAssets(JSCSSMixin):
    """Links rendered into the head after Leaflet's and Bootstrap's (folium renders a map child's links
    after the map's own), so our stylesheet wins over theirs and early plugins find ``L``."""

    def __init__(self, js: list[tuple[str, str]], css: list[tuple[str, str]]) -> None:
        super().__init__()
        self._name = "HeadAssets"
        self.default_js = js
        self.default_css = css


#: folium's default assets our pages never use (our markers are divIcons, our panels plain DOM):
#: dropping them saves ~250 kB of script per page load.
UNUSED_FOLIUM_ASSETS = frozenset({"jquery", "bootstrap", "awesome_markers", "awesome_markers_css"})


@cache
def messages(lang: str) -> dict[str, str]:
    """The message catalogue of ``lang``; missing keys fall back to Chinese."""
    base = json.loads((HERE / "messages" / "zh.json").read_text(encoding="utf-8"))
    if lang == "zh":
        return base
    return base | json.loads((HERE / "messages" / f"{lang}.json").read_text(encoding="utf-8"))


def _base_layers(m: folium.Map, basemap: str, tianditu_key: str | None, lang: str) -> dict[str, Any]:
    """Add the configured tiles; returns what the page script needs to know about them."""
    if basemap == "osm":
        folium.TileLayer(
            "https://tile.openstreetmap.org/{z}/{x}/{y}.png", attr=OSM_ATTRIBUTION, name="OSM", max_zoom=19
        ).add_to(m)
        return {"basemap": "osm", "shift": "wgs84", "osm_attribution": True}
    if basemap == "tianditu":
        key = escape(tianditu_key or "")
        for layer in ("vec", "cva"):
            folium.TileLayer(
                f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                f"&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}"
                f"&TILECOL={{x}}&tk={key}",
                attr=TIANDITU_ATTRIBUTION,
                name=f"Tianditu {layer}",
                subdomains="01234567",
                max_zoom=18,
            ).add_to(m)
        return {"basemap": "tianditu", "shift": "wgs84", "osm_attribution": False}
    if basemap == "amap":
        folium.TileLayer(
            "https://webrd0{s}.is.autonavi.com/appmaptile?lang="
            + ("zh_cn" if lang == "zh" else "en")
            + "&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
            attr=AMAP_ATTRIBUTION,
            name="Amap",
            subdomains="1234",
            max_zoom=18,
        ).add_to(m)
        return {"basemap": "amap", "shift": "gcj02", "osm_attribution": False}
    return {"basemap": "none", "shift": "wgs84", "osm_attribution": False}


def render(
    page_name: str,
    *,
    lang: str,
    basemap: str = "none",
    tianditu_key: str | None = None,
    center: tuple[float, float] = DEFAULT_CENTER,
    extra: dict[str, Any] | None = None,
) -> str:
    """The page's HTML. Everything it loads is served by the app itself."""
    page = PAGES[page_name]
    lang = lang if lang in LANGUAGES else "zh"
    text = messages(lang)
    m = folium.Map(location=center, zoom_start=16, tiles=None, max_zoom=20, control_scale=True, zoom_control=True)
    base = _base_layers(m, basemap, tianditu_key, lang)
    root = cast(Figure, m.get_root())  # a Map's root is the page (a Figure)
    root.header.add_child(Element(f"<title>{escape(text.get(page.title_key, 'neighborgrid'))}</title>"), name="title")
    root.header.add_child(Element('<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'), name="icon")
    early_js = [(lib, local_url(lib)) for lib in page.libraries if lib in BEFORE_MAP]
    css = [(lib, local_url(lib)) for lib in page.libraries if local_url(lib).endswith(".css")]
    m.add_child(_HeadAssets(early_js, [*css, ("ng_css", "/static/css/neighborgrid.css")]), name="ng_head_assets")
    for lib in page.libraries:  # other plugin scripts run deferred, after Leaflet (loaded in the head)
        url = local_url(lib)
        if lib not in BEFORE_MAP and not url.endswith(".css"):
            root.html.add_child(Element(f'<script src="{url}" defer></script>'), name=lib)
    config = {
        "page": page.name,
        "lang": lang,
        "map": m.get_name(),
        "roles": list(page.roles),
        "messages": text,
        "api": "/api/v1",
        **base,
        **page.extra,
        **(extra or {}),
    }
    blob = json.dumps(config, ensure_ascii=False).replace("</", "<\\/")
    root.html.add_child(Element(f'<script id="ng-config" type="application/json">{blob}</script>'), name="ng_config")
    root.html.add_child(Element('<div id="ng-panel" class="ng-panel"></div>'), name="ng_panel")
    for i, script in enumerate(("common.js", *page.scripts)):
        root.html.add_child(Element(f'<script src="/static/js/{script}" defer></script>'), name=f"ng_script_{i}")
    localize(m, drop=UNUSED_FOLIUM_ASSETS)
    html = root.render()
    return html.replace("<html>", f'<html lang="{"zh-CN" if lang == "zh" else "en"}">', 1)
