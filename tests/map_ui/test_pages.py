"""The page builder without a browser: local assets only, the per-instance override of folium's
CDN links, the basemap setting, the config block, and one message catalogue per language that
holds every label the scripts use."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import folium
import pytest

from map_ui import assets, vendor
from map_ui.pages import LANGUAGES, PAGES, UNUSED_FOLIUM_ASSETS, messages, render

HERE = Path(__file__).resolve().parents[2] / "map_ui"
STATIC = HERE / "static"
SCRIPTS = sorted((STATIC / "js").glob("*.js"))


class Links(HTMLParser):
    """Every script and stylesheet a page loads, in document order, and its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[tuple[str, str]] = []
        self.inline: list[str] = []
        self.handlers: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.handlers += [f"{tag} {k}" for k in a if k.startswith("on")]
        if tag == "script":
            if "src" in a:
                self.loads.append(("js", a["src"]))
            elif a.get("type") != "application/json":
                self._in_script = True
        elif tag == "link" and a.get("rel") in ("stylesheet", "icon"):
            self.loads.append((a["rel"], a["href"]))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline.append(data)


def parse(html: str) -> Links:
    p = Links()
    p.feed(html)
    return p


def config_of(html: str) -> dict:
    m = re.search(r'<script id="ng-config" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(m.group(1))


@pytest.mark.parametrize("page", sorted(PAGES))
@pytest.mark.parametrize("basemap", ["none", "osm", "tianditu", "amap"])
def test_every_script_and_stylesheet_is_served_by_the_app(page, basemap):
    links = parse(render(page, lang="zh", basemap=basemap, tianditu_key="k"))
    assert links.loads
    for kind, url in links.loads:
        assert url.startswith("/static/"), f"{page}: {kind} {url} is not ours"
        assert (STATIC / url.removeprefix("/static/")).is_file(), f"{page}: {url} is missing (run `make assets`)"


def test_folium_class_defaults_are_left_alone():
    """The override is per element instance: folium's class lists still hold its CDN links."""
    render("dispatch", lang="zh")
    assert any("cdn" in url for _name, url in folium.Map.default_js)
    assert any("cdn" in url for _name, url in folium.Map.default_css)


def test_unused_folium_assets_are_dropped_and_ours_load_last():
    links = [url for _kind, url in parse(render("planner", lang="zh")).loads]
    assert not any("jquery" in u or "awesome-markers" in u for u in links)
    assert "jquery" in UNUSED_FOLIUM_ASSETS
    css = [u for u in links if u.endswith(".css")]
    assert css[-1] == "/static/css/neighborgrid.css", "our stylesheet wins over Leaflet's and Bootstrap's"
    assert links.index("/static/vendor/leaflet/leaflet.js") < links.index("/static/js/common.js")


def test_plugins_that_hook_map_creation_load_before_the_map_is_created():
    html = render("planner", lang="zh")
    geoman = html.index("leaflet-geoman.min.js")
    assert html.index("/static/vendor/leaflet/leaflet.js") < geoman < html.index("L.map(")
    assert 'leaflet-geoman.min.js" defer' not in html
    dispatch = render("dispatch", lang="zh")
    assert '<script src="/static/vendor/markercluster/leaflet.markercluster.js" defer>' in dispatch


def test_an_unknown_asset_is_refused():
    plugin = folium.MacroElement()
    plugin.default_js = [("somewhere", "https://cdn.example.org/x.js")]
    m = folium.Map(tiles=None)
    plugin.add_to(m)
    with pytest.raises(assets.OffsiteAsset):
        assets.localize(m)


def test_basemap_setting():
    none = render("stations", lang="zh", basemap="none")
    assert "tile" not in " ".join(u for _k, u in parse(none).loads)
    assert "L.tileLayer" not in none
    assert config_of(none) | {} and config_of(none)["basemap"] == "none" and not config_of(none)["osm_attribution"]
    osm = render("stations", lang="zh", basemap="osm")
    assert "tile.openstreetmap.org" in osm and config_of(osm)["osm_attribution"] is True
    amap = render("stations", lang="en", basemap="amap")
    assert config_of(amap)["shift"] == "gcj02" and "autonavi.com" in amap and "lang=en" in amap
    tianditu = render("stations", lang="zh", basemap="tianditu", tianditu_key='k"<x>')
    assert config_of(tianditu)["shift"] == "wgs84" and "tianditu.gov.cn" in tianditu
    assert 'k"<x>' not in tianditu, "the key is escaped"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_config_block_carries_the_page_language_and_its_catalogue(lang):
    html = render("dispatch", lang=lang)
    cfg = config_of(html)
    assert cfg["lang"] == lang and cfg["page"] == "dispatch" and cfg["api"] == "/api/v1"
    assert cfg["roles"] == ["dispatcher", "grid_worker", "admin"]
    assert cfg["messages"] == messages(lang)
    assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in html
    assert f"<title>{messages(lang)['page.dispatch']}</title>" in html
    assert window_var(html) == cfg["map"]


def window_var(html: str) -> str:
    return re.search(r"var (map_[0-9a-f]+) = L\.map\(", html).group(1)


def test_unknown_language_falls_back_to_chinese_and_config_cannot_close_its_script():
    html = render("track", lang="fr", extra={"tracking_code": "</script><script>alert(1)"})
    cfg = config_of(html)
    assert cfg["lang"] == "zh" and cfg["tracking_code"] == "</script><script>alert(1)"
    assert "</script><script>alert(1)" not in html  # "</" is written "<\\/" inside the JSON block


def test_no_inline_event_handlers_and_no_eval():
    for page in PAGES:
        links = parse(render(page, lang="zh"))
        assert not links.handlers, f"{page}: {links.handlers}"
        assert all("L_NO_TOUCH" in js or "L.map(" in js for js in links.inline), "only folium's own script is inline"
    for path in SCRIPTS:
        text = path.read_text(encoding="utf-8")
        for bad in ("eval(", "new Function(", ".innerHTML =", 'setTimeout("', "document.write("):
            assert bad not in text, f"{path.name} uses {bad}"
        assert not re.search(r"\son[a-z]+=", text.replace("onclick:", "").replace("onchange:", "")), path.name


def test_the_catalogues_have_the_same_keys_and_no_empty_label():
    zh = json.loads((HERE / "messages" / "zh.json").read_text(encoding="utf-8"))
    en = json.loads((HERE / "messages" / "en.json").read_text(encoding="utf-8"))
    assert set(zh) == set(en)
    assert all(isinstance(v, str) and v.strip() for v in [*zh.values(), *en.values()])
    for key in zh:  # placeholders match
        assert set(re.findall(r"\{(\w+)\}", zh[key])) == set(re.findall(r"\{(\w+)\}", en[key])), key


def test_every_label_the_scripts_use_is_in_the_catalogues():
    zh = json.loads((HERE / "messages" / "zh.json").read_text(encoding="utf-8"))
    used, families = set(), set()
    for path in SCRIPTS:
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"\b(?:t|fmt)\(\s*\"([a-z0-9_.]+)\"", text))
        families |= set(re.findall(r"\b(?:t|fmt)\(\s*`([a-z0-9_.]+)\.\$\{", text))
    missing = sorted(k for k in used if k not in zh)
    assert not missing, f"labels used in the scripts but missing from the catalogues: {missing}"
    for family in families:
        assert any(k.startswith(f"{family}.") for k in zh), f"no labels for {family}.*"
    # the enumerations the pages show are complete
    for family, values in {
        "status": [
            "reported",
            "accepted",
            "dispatched",
            "on_site",
            "resolved",
            "verified",
            "evaluated",
            "closed",
            "rejected",
            "merged",
            "reopened",
        ],
        "warning": ["blue", "yellow", "orange", "red"],
        "level": ["grid", "compound", "community", "township", "department"],
        "channel": ["wechat", "mini_program", "phone", "walk_in", "patrol", "web", "open311"],
        "role": ["resident", "volunteer", "grid_worker", "dispatcher", "planner", "admin", "department"],
    }.items():
        assert all(f"{family}.{v}" in zh for v in values), family


def test_labels_stay_out_of_the_scripts():
    """No Chinese text in the code: every visible label comes from the catalogues."""
    for path in SCRIPTS:
        assert not re.search(r"[\u3400-\u9fff]", path.read_text(encoding="utf-8")), path.name


def test_vendored_assets_are_complete():
    assert vendor.missing() == []
