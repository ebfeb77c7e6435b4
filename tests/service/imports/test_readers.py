"""Reading the files a city brings into one table: real GeoJSON, GeoPackage, zipped Shapefiles
(GBK with and without a .cpg, a CGCS2000 Gauss-Krüger .prj), CSV in UTF-8 and GBK, WKT CSV and
Excel workbooks, written here the way GIS tools and Excel write them; and the hostile or broken
ones, each refused naming the rule without repeating the file's content."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pyogrio
import pyproj
import pytest
import shapely

from geo.errors import GeoInputError
from geo.sourcecrs import parse_coord_type, resolve_crs, to_wgs84
from service.common.errors import Invalid
from service.common.gdal import prime_gdal
from service.common.vectorfiles import Limits, VectorFileError, read_vector_file
from service.imports.readers import MAX_XLSX_PARTS, read_source
from tests.geo.test_coords import metres_between

LIMITS = Limits(upload_bytes=5_000_000, unpacked_bytes=20_000_000, features=1_000, vertices=100_000)

# Three communities of 芗城区, Zhangzhou: 12-digit statistical codes, Chinese names, WGS84 boxes.
NAMES = ["东铺头社区", "西桥社区", "龙眼营社区"]
CODES = ["350602001001", "350602001002", "350602002001"]
BOXES = [shapely.box(117.640 + 0.01 * i, 24.505, 117.648 + 0.01 * i, 24.513) for i in range(3)]


def _frame(crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame({"code": CODES, "名称": NAMES}, geometry=BOXES, crs="EPSG:4326")
    return frame.to_crs(crs)


def _zip(folder: Path, *, skip: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in skip:
                archive.write(path, f"{folder.name}/{path.name}")
    return buffer.getvalue()


def _shapefile(tmp_path: Path, frame: gpd.GeoDataFrame, *, encoding: str, cpg: bool) -> bytes:
    prime_gdal()
    folder = tmp_path / "社区边界"
    folder.mkdir()
    pyogrio.write_dataframe(frame, folder / "社区.shp", encoding=encoding)
    assert (folder / "社区.cpg").exists()
    return _zip(folder, skip=() if cpg else (".cpg",))


def _xlsx(rows: list[list], *, title: str = "Sheet1", extra_sheets: tuple[str, ...] = ()) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    for name in extra_sheets:
        book.create_sheet(name).append(["other"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _rezip(data: bytes, change) -> bytes:
    """The zip ``data`` with its members passed through ``change(name, bytes) -> {name: bytes}``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            for name, body in change(info.filename, src.read(info)).items():
                dst.writestr(name, body)
    return out.getvalue()


def _refused(data: bytes, filename: str, *, status: int = 422, **kwargs) -> VectorFileError:
    with pytest.raises(VectorFileError) as err:
        read_source(data, filename=filename, encoding=kwargs.pop("encoding", None), limits=LIMITS, **kwargs)
    assert err.value.field == "file" and err.value.status == status
    return err.value


# -- GeoJSON, GeoPackage, Shapefile -------------------------------------------------------------


def test_a_geopackage_reads_with_its_srs_as_the_files_own_crs(tmp_path):
    prime_gdal()
    path = tmp_path / "areas.gpkg"
    pyogrio.write_dataframe(_frame("EPSG:4547"), path, layer="社区")
    table = read_source(path.read_bytes(), filename="areas.gpkg", encoding=None, limits=LIMITS)
    assert table.format == "gpkg"
    assert table.columns == ["code", "名称"]
    assert [r["名称"] for r in table.rows] == NAMES and [r["code"] for r in table.rows] == CODES
    assert table.crs is not None and table.crs.to_epsg() == 4547 and table.crs_explicit
    assert table.encoding is None and not table.encoding_guessed
    source = resolve_crs(None, table.crs, explicit=table.crs_explicit)
    back = to_wgs84(np.array(table.geoms, dtype=object), source)
    assert all(g.equals_exact(b, 1e-7) for g, b in zip(back, BOXES, strict=True))


def test_a_geopackage_with_several_layers_needs_the_one_to_read_named(tmp_path):
    prime_gdal()
    path = tmp_path / "行政区划.gpkg"
    pyogrio.write_dataframe(_frame(), path, layer="社区")
    pyogrio.write_dataframe(_frame().iloc[:1].assign(code="350602"), path, layer="街道")
    data = path.read_bytes()
    with pytest.raises(Invalid) as err:
        read_source(data, filename="a.gpkg", encoding=None, limits=LIMITS)
    assert err.value.field == "sheet" and "2 layers" in str(err.value) and "街道" not in str(err.value)
    assert [
        r["code"] for r in read_source(data, filename="a.gpkg", encoding=None, limits=LIMITS, sheet="街道").rows
    ] == ["350602"]
    assert len(read_source(data, filename="a.gpkg", encoding=None, limits=LIMITS, sheet="社区").rows) == 3
    with pytest.raises(Invalid) as err:
        read_source(data, filename="a.gpkg", encoding=None, limits=LIMITS, sheet="村")
    assert err.value.field == "sheet"
    assert len(read_vector_file(data, filename="a.gpkg", limits=LIMITS)) == 3  # grid layers: the first, as before


def test_a_geojson_without_a_crs_member_does_not_state_its_crs():
    features = [
        {"type": "Feature", "properties": {"code": c, "name": n, "households": 120 + i, "note": ""}, "geometry": g}
        for i, (c, n, g) in enumerate(zip(CODES, NAMES, [shapely.geometry.mapping(b) for b in BOXES], strict=True))
    ]
    body = {"type": "FeatureCollection", "features": features}
    table = read_source(json.dumps(body).encode(), filename="areas.geojson", encoding=None, limits=LIMITS)
    assert table.format == "geojson" and not table.crs_explicit
    assert table.rows[0] == {"code": "350602001001", "name": "东铺头社区", "households": 120, "note": None}
    with pytest.raises(GeoInputError, match="send coord_type"):
        resolve_crs(None, table.crs, explicit=table.crs_explicit)
    body["crs"] = {"type": "name", "properties": {"name": "EPSG:4490"}}
    named = read_source(json.dumps(body).encode(), filename="areas.json", encoding=None, limits=LIMITS)
    assert named.crs_explicit and named.crs is not None and named.crs.to_epsg() == 4490


def test_a_gbk_shapefile_with_a_cpg_and_a_gauss_kruger_prj(tmp_path):
    data = _shapefile(tmp_path, _frame("EPSG:4547"), encoding="GBK", cpg=True)
    table = read_source(data, filename="社区边界.zip", encoding=None, limits=LIMITS)
    assert table.format == "shapefile"
    assert [r["名称"] for r in table.rows] == NAMES
    assert table.encoding == "gbk" and not table.encoding_guessed
    assert table.crs is not None and table.crs.to_epsg() == 4547 and table.crs_explicit
    with pytest.raises(GeoInputError) as err:
        resolve_crs(parse_coord_type("gcj02"), table.crs, explicit=table.crs_explicit)
    assert str(err.value) == (
        "the file says EPSG:4547 (CGCS2000 / 3-degree Gauss-Kruger CM 114E) but coord_type says gcj02"
    )
    source = resolve_crs(None, table.crs, explicit=True)
    back = to_wgs84(np.array(table.geoms, dtype=object), source)
    got = shapely.get_coordinates(back)
    want = shapely.get_coordinates(np.array([shapely.orient_polygons(b, exterior_cw=True) for b in BOXES]))
    assert metres_between(got[:, 0], got[:, 1], want[:, 0], want[:, 1]).max() < 0.01


def test_a_gbk_shapefile_without_a_cpg_is_detected_as_gb18030_and_says_so(tmp_path):
    data = _shapefile(tmp_path, _frame(), encoding="GBK", cpg=False)
    table = read_source(data, filename="社区边界.zip", encoding=None, limits=LIMITS)
    assert [r["名称"] for r in table.rows] == NAMES  # not mojibake
    assert table.columns == ["code", "名称"]
    assert table.encoding == "gb18030" and table.encoding_guessed


def test_a_utf8_shapefile_without_a_cpg_is_detected_as_utf8(tmp_path):
    data = _shapefile(tmp_path, _frame(), encoding="UTF-8", cpg=False)
    table = read_source(data, filename="areas.zip", encoding=None, limits=LIMITS)
    assert [r["名称"] for r in table.rows] == NAMES
    assert table.encoding == "utf-8" and table.encoding_guessed


def test_the_encoding_option_wins_over_detection_and_a_wrong_one_is_refused_naming_encoding(tmp_path):
    data = _shapefile(tmp_path, _frame(), encoding="GBK", cpg=False)
    table = read_source(data, filename="areas.zip", encoding="GBK", limits=LIMITS)
    assert [r["名称"] for r in table.rows] == NAMES
    assert table.encoding == "gbk" and not table.encoding_guessed
    with pytest.raises(Invalid) as err:
        read_source(data, filename="areas.zip", encoding="utf-8", limits=LIMITS)
    assert err.value.field == "encoding" and err.value.status == 422
    assert "东铺头" not in str(err.value)


def test_the_encoding_option_wins_over_a_cpg(tmp_path):
    data = _shapefile(tmp_path, _frame(), encoding="GBK", cpg=True)
    table = read_source(data, filename="areas.zip", encoding="gb18030", limits=LIMITS)
    assert [r["名称"] for r in table.rows] == NAMES and table.encoding == "gb18030"
    with pytest.raises(Invalid) as err:
        read_source(data, filename="areas.zip", encoding="utf-8", limits=LIMITS)
    assert err.value.field == "encoding"


@pytest.mark.parametrize("name", ["klingon", "utf-8; rm -rf /", "base64", "rot13"])
def test_an_encoding_option_that_names_no_text_encoding_is_refused(name):
    with pytest.raises(Invalid) as err:
        read_source(b"code\n1\n", filename="a.csv", encoding=name, limits=LIMITS)
    assert err.value.field == "encoding"


def _with_ldid(data: bytes, ldid: int) -> bytes:
    """The zipped Shapefile with its .dbf header's language driver id set to ``ldid``."""

    def patch(name: str, body: bytes) -> dict[str, bytes]:
        return {name: body[:29] + bytes([ldid]) + body[30:] if name.endswith(".dbf") else body}

    return _rezip(data, patch)


def test_a_shapefile_in_neither_utf8_nor_gbk_asks_for_its_encoding(tmp_path):
    frame = gpd.GeoDataFrame({"nimi": ["ÿÿ Kaartinkaupunki"]}, geometry=[BOXES[0]], crs="EPSG:4326")
    data = _with_ldid(_shapefile(tmp_path, frame, encoding="latin1", cpg=False), 0)
    with pytest.raises(Invalid) as err:
        read_source(data, filename="helsinki.zip", encoding=None, limits=LIMITS)
    assert err.value.field == "encoding" and "Kaartinkaupunki" not in str(err.value)
    table = read_source(data, filename="helsinki.zip", encoding="latin-1", limits=LIMITS)
    assert table.rows == [{"nimi": "ÿÿ Kaartinkaupunki"}] and table.encoding == "iso8859-1"
    # The code page the .dbf header names (here ANSI 1252) is the last resort, and still a guess.
    table = read_source(_with_ldid(data, 0x57), filename="helsinki.zip", encoding=None, limits=LIMITS)
    assert table.rows == [{"nimi": "ÿÿ Kaartinkaupunki"}]
    assert table.encoding == "cp1252" and table.encoding_guessed


def test_the_grid_layer_reader_keeps_working_and_takes_an_encoding(tmp_path):
    data = _shapefile(tmp_path, _frame(), encoding="GBK", cpg=False)
    assert list(read_vector_file(data, filename="a.zip", limits=LIMITS)["名称"]) == NAMES
    assert list(read_vector_file(data, filename="a.zip", limits=LIMITS, encoding="gbk")["名称"]) == NAMES


# -- CSV -----------------------------------------------------------------------------------------

STATIONS_CSV = (
    "名称,类型,经度,纬度,容量\n"
    "芗城区应急避难场所,shelter,117.6472,24.5135,300\n"
    "西桥社区卫生服务站,clinic,117.6610,24.5153,\n"
    "\n"
    "龙眼营物资点,supply,,,40\n"
)


@pytest.mark.parametrize(("codec", "reported"), [("utf-8", "utf-8"), ("gbk", "gb18030")])
def test_a_station_list_in_utf8_or_gbk_reads_with_its_points(codec, reported):
    table = read_source(STATIONS_CSV.encode(codec), filename="站点.csv", encoding=None, limits=LIMITS)
    assert table.format == "csv"
    assert table.columns == ["名称", "类型", "容量"]
    assert table.rows == [
        {"名称": "芗城区应急避难场所", "类型": "shelter", "容量": "300"},
        {"名称": "西桥社区卫生服务站", "类型": "clinic", "容量": None},
        {"名称": "龙眼营物资点", "类型": "supply", "容量": "40"},
    ]
    assert [g.coords[0] if g is not None else None for g in table.geoms] == [
        (117.6472, 24.5135),
        (117.6610, 24.5153),
        None,
    ]
    assert table.geom_errors == {}
    assert table.crs is None and not table.crs_explicit
    assert table.encoding == reported and table.encoding_guessed
    with pytest.raises(GeoInputError, match="send coord_type"):
        resolve_crs(None, table.crs, explicit=table.crs_explicit)


def test_a_bom_or_the_option_names_the_encoding_so_nothing_is_guessed():
    table = read_source(b"\xef\xbb\xbf" + STATIONS_CSV.encode(), filename="a.csv", encoding=None, limits=LIMITS)
    assert table.columns[0] == "名称" and table.encoding == "utf-8" and not table.encoding_guessed
    table = read_source(STATIONS_CSV.encode("gbk"), filename="a.csv", encoding="GBK", limits=LIMITS)
    assert table.rows[0]["名称"] == "芗城区应急避难场所" and table.encoding == "gbk" and not table.encoding_guessed
    ascii_only = read_source(b"code,lon,lat\nA1,117.6,24.5\n", filename="a.csv", encoding=None, limits=LIMITS)
    assert ascii_only.rows == [{"code": "A1"}] and not ascii_only.encoding_guessed


def test_excels_unicode_text_export_utf16_with_tabs_reads():
    text = STATIONS_CSV.replace(",", "\t")
    table = read_source(text.encode("utf-16"), filename="站点.txt", encoding=None, limits=LIMITS)
    assert table.rows[0]["名称"] == "芗城区应急避难场所" and table.geoms[0] is not None


def test_a_gbk_file_read_as_utf8_is_refused_naming_encoding():
    with pytest.raises(Invalid) as err:
        read_source(STATIONS_CSV.encode("gbk"), filename="a.csv", encoding="utf-8", limits=LIMITS)
    assert err.value.field == "encoding" and "芗城" not in str(err.value)


def test_a_coordinate_cell_that_does_not_parse_is_reported_on_its_row_without_its_content():
    text = "name,lng,lat\nok,117.6,24.5\neast-sign,117°39′E,24.5\nno-lat,117.6,\nnan,NaN,24.5\nblank,,\n"
    table = read_source(text.encode(), filename="a.csv", encoding=None, limits=LIMITS)
    assert table.columns == ["name"]
    assert table.geom_errors == {
        1: ("lng", "lng is not a finite number"),
        2: ("lat", "lat is empty while lng is filled"),
        3: ("lng", "lng is not a finite number"),
    }
    assert table.geoms[0] is not None and table.geoms[1] is None and table.geoms[4] is None
    assert not any("117°" in message for _, message in table.geom_errors.values())


def test_a_wkt_column_gives_polygons_and_a_broken_cell_is_reported():
    rows = [f'{c},{n},"{b.wkt}"' for c, n, b in zip(CODES, NAMES, BOXES, strict=True)]
    text = "code,name,WKT\n" + "\n".join(rows) + '\n350602002002,坏,"POLYGON((117.6 24.5, 117.7"\n'
    table = read_source(text.encode(), filename="areas.csv", encoding=None, limits=LIMITS)
    assert table.columns == ["code", "name"]
    assert all(g.equals(b) for g, b in zip(table.geoms[:3], BOXES, strict=True))
    assert table.geoms[3] is None and table.geom_errors == {3: ("WKT", "WKT is not a WKT geometry")}


def test_semicolon_separated_files_and_ragged_rows_read():
    text = "code;name;lon;lat\nA;甲;117.6;24.5\nB;乙\n"
    table = read_source(text.encode(), filename="a.csv", encoding=None, limits=LIMITS)
    assert table.rows == [{"code": "A", "name": "甲"}, {"code": "B", "name": "乙"}]
    assert table.geoms[1] is None and table.geom_errors == {}


def test_coordinate_columns_may_carry_a_note_in_brackets():
    text = "名称,经度(GCJ02),纬度（GCJ02）\n甲,117.6,24.5\n"
    table = read_source(text.encode(), filename="a.csv", encoding=None, limits=LIMITS)
    assert table.columns == ["名称"] and table.geoms[0].coords[0] == (117.6, 24.5)


def test_a_roster_without_coordinates_has_no_geometries():
    text = "姓名,电话,网格编码,x_note\n张三,13800138000,350602001001001,\n"
    table = read_source(text.encode("gbk"), filename="网格员.csv", encoding=None, limits=LIMITS)
    assert table.columns == ["姓名", "电话", "网格编码", "x_note"]
    assert table.rows[0]["电话"] == "13800138000" and table.geoms == [None]


def test_a_csv_over_the_row_cap_is_refused_as_too_large():
    text = "code,lon,lat\n" + "".join(f"{i},117.6,24.5\n" for i in range(LIMITS.features + 1))
    err = _refused(text.encode(), "a.csv", status=413)
    assert f"more than {LIMITS.features} rows" in str(err)


def test_a_cell_over_the_size_cap_is_refused():
    text = "code,wkt\n1," + "x" * 200_000 + "\n"
    _refused(text.encode(), "a.csv", status=413)


def test_a_row_with_more_cells_than_the_header_is_refused_by_its_line():
    err = _refused(b"code,name\nA,a\nB,b,secret-extra\n", "a.csv")
    assert "row 3" in str(err) and "secret" not in str(err)


@pytest.mark.parametrize(
    "data",
    [
        b"PK\x03\x04" + b"\x00" * 60,  # a zip named .csv
        b"SQLite format 3\x00" + b"\x00" * 100,
        b"code,name\nA,\x00\x00\x00\n",
    ],
)
def test_a_binary_file_named_csv_is_refused(data):
    _refused(data, "a.csv")


def test_an_empty_table_is_refused():
    _refused(b"\n\n  \n", "a.csv")


# -- XLSX ----------------------------------------------------------------------------------------

ROSTER = [
    [None],
    ["姓名", "电话", "网格编码", "lng", "lat", "入职日期"],
    ["张三", 13800138000, 350602001001001, 117.6472, 24.5135, None],
    ["李四", "13900000000", "350602001001002", None, None, None],
    [None, None, None, None, None, None],
    ["王五", 13700000000, 350602001001001.0, "117.66", "bad", None],
]


def test_a_workbook_reads_from_its_first_non_empty_row_with_numbers_kept_whole():
    table = read_source(_xlsx(ROSTER), filename="网格员.xlsx", encoding=None, limits=LIMITS)
    assert table.format == "xlsx"
    assert table.columns == ["姓名", "电话", "网格编码", "入职日期"]
    assert table.rows[0] == {"姓名": "张三", "电话": 13800138000, "网格编码": 350602001001001, "入职日期": None}
    assert table.rows[1]["网格编码"] == "350602001001002"
    assert table.rows[2]["网格编码"] == 350602001001001  # a whole float is an int, not "…001.0"
    assert table.geoms[0].coords[0] == (117.6472, 24.5135) and table.geoms[1] is None
    assert table.geom_errors == {2: ("lat", "lat is not a finite number")}
    assert table.crs is None and not table.crs_explicit and table.encoding is None


def test_a_named_sheet_is_read_and_an_unknown_one_refused_naming_sheet():
    data = _xlsx([["说明"], ["见第二页"]], title="说明", extra_sheets=("站点",))
    assert read_source(data, filename="a.xlsx", encoding=None, limits=LIMITS).columns == ["说明"]
    assert read_source(data, filename="a.xlsx", encoding=None, limits=LIMITS, sheet="站点").columns == ["other"]
    with pytest.raises(Invalid) as err:
        read_source(data, filename="a.xlsx", encoding=None, limits=LIMITS, sheet="人员")
    assert err.value.field == "sheet"


def test_dates_in_a_sheet_come_as_iso_text():
    import datetime as dt

    data = _xlsx([["name", "since"], ["a", dt.datetime(2024, 3, 1, 8, 30)]])
    assert read_source(data, filename="a.xlsx", encoding=None, limits=LIMITS).rows == [
        {"name": "a", "since": "2024-03-01T08:30:00"}
    ]


def test_a_file_named_xlsx_that_is_not_a_zip_is_refused():
    _refused(b"name,phone\n", "a.xlsx")
    err = _refused(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "a.xlsx")
    assert "save it as a plain .xlsx" in str(err)
    _refused(_xlsx(ROSTER), "a.xls")


def test_a_zip_that_is_no_workbook_is_refused(tmp_path):
    data = _shapefile(tmp_path, _frame(), encoding="UTF-8", cpg=True)
    _refused(data, "a.xlsx")
    _refused(_xlsx(ROSTER)[:-200], "a.xlsx")  # truncated


def test_an_xlsx_with_too_many_parts_is_refused():
    def pad(name: str, body: bytes) -> dict[str, bytes]:
        extra = {f"xl/media/image{i}.png": b"x" for i in range(MAX_XLSX_PARTS)} if name == "xl/workbook.xml" else {}
        return {name: body, **extra}

    err = _refused(_rezip(_xlsx(ROSTER), pad), "a.xlsx")
    assert f"more than {MAX_XLSX_PARTS} parts" in str(err)


def test_an_xlsx_unpacking_to_more_than_the_limit_is_refused_before_openpyxl():
    def inflate(name: str, body: bytes) -> dict[str, bytes]:
        return {
            name: body,
            **({"xl/media/big.bin": b"\0" * (LIMITS.unpacked_bytes + 1)} if name.endswith("workbook.xml") else {}),
        }

    bomb = _rezip(_xlsx(ROSTER), inflate)
    assert len(bomb) < LIMITS.upload_bytes
    _refused(bomb, "a.xlsx", status=413)


def test_an_xlsx_whose_part_inflates_past_what_it_declares_is_refused():
    def inflate(name: str, body: bytes) -> dict[str, bytes]:
        return {name: body, **({"xl/media/big.bin": b"\0" * 5_000_000} if name.endswith("workbook.xml") else {})}

    data = bytearray(_rezip(_xlsx(ROSTER), inflate))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        local = archive.getinfo("xl/media/big.bin").header_offset
    end = data.rindex(b"PK\x05\x06")
    count, _size, at = struct.unpack("<HII", data[end + 10 : end + 20])
    for _ in range(count):
        name_len, extra_len, comment_len = struct.unpack("<HHH", data[at + 28 : at + 34])
        if data[at + 46 : at + 46 + name_len] == b"xl/media/big.bin":
            data[at + 24 : at + 28] = struct.pack("<I", 100)
        at += 46 + name_len + extra_len + comment_len
    data[local + 22 : local + 26] = struct.pack("<I", 100)
    with pytest.raises(VectorFileError) as err:  # zipfile stops at the declared size and finds the CRC wrong
        read_source(bytes(data), filename="a.xlsx", encoding=None, limits=LIMITS)
    assert err.value.field == "file" and err.value.status in (413, 422)
    assert "declares" in str(err.value) or "damaged" in str(err.value)


def test_an_xml_entity_bomb_in_a_sheet_is_refused():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    )

    def poison(name: str, body: bytes) -> dict[str, bytes]:
        if name == "xl/worksheets/sheet1.xml":
            body = bomb + body.replace(
                b"<sheetData>", b"<sheetData><row r='1'><c r='A1' t='inlineStr'><is><t>&lol2;</t></is></c></row>", 1
            )
        return {name: body}

    assert openpyxl.DEFUSEDXML  # openpyxl parses through defusedxml, which forbids entity declarations
    err = _refused(_rezip(_xlsx(ROSTER), poison), "a.xlsx")
    assert "lol" not in str(err)


def test_a_sheet_over_the_row_cap_is_refused():
    rows = [["code", "lon", "lat"], *([str(i), 117.6, 24.5] for i in range(LIMITS.features + 1))]
    _refused(_xlsx(rows), "a.xlsx", status=413)


def test_a_sheet_wider_than_the_column_cap_is_refused():
    _refused(_xlsx([[f"c{i}" for i in range(300)], list(range(300))]), "a.xlsx")


def test_an_unknown_extension_names_the_formats():
    err = _refused(b"<kml/>", "areas.kml")
    assert ".csv" in str(err) and ".xlsx" in str(err) and ".gpkg" in str(err)


def test_the_readers_use_real_crs_objects():
    """The engine hands ``table.crs`` to resolve_crs: a pyproj CRS, as GDAL reported it."""
    table = read_source(
        json.dumps(
            {"type": "Feature", "properties": {"a": 1}, "geometry": {"type": "Point", "coordinates": [1, 2]}}
        ).encode(),
        filename="a.geojson",
        encoding=None,
        limits=LIMITS,
    )
    assert isinstance(table.crs, pyproj.CRS)
