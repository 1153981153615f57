"""The SVG bar chart: valid XML, accessible, escaped, and sane at the edges."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from portal.web.admin.charts import bar_chart

NS = {"svg": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises on anything that is not well-formed XML
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def bars(root: ET.Element) -> list[ET.Element]:
    return root.findall(".//svg:rect[@class='bar']", NS)


def texts(root: ET.Element, cls: str) -> list[str]:
    return [t.text or "" for t in root.findall(f".//svg:text[@class='{cls}']", NS)]


def test_one_bar_per_value_with_an_accessible_name() -> None:
    series = [("1 Mar", 120), ("2 Mar", 0), ("3 Mar", 60)]
    root = parse(bar_chart(series, title="Revenue per day"))
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Revenue per day"
    assert root.find("svg:title", NS).text == "Revenue per day"
    assert "total KSh 180" in root.find("svg:desc", NS).text
    assert len(bars(root)) == 3
    assert [b.find("svg:title", NS).text for b in bars(root)] == ["1 Mar: KSh 120", "2 Mar: KSh 0", "3 Mar: KSh 60"]
    assert texts(root, "label") == ["1 Mar", "2 Mar", "3 Mar"]
    assert texts(root, "value") == ["120", "0", "60"]


def test_bar_heights_are_proportional_and_inside_the_picture() -> None:
    root = parse(bar_chart([("a", 50), ("b", 100), ("c", 0)], title="t", width=400, height=200))
    heights = [float(b.get("height")) for b in bars(root)]
    assert heights[1] == 2 * heights[0] and heights[2] == 0
    for bar in bars(root):
        assert float(bar.get("y")) >= 0 and float(bar.get("y")) + float(bar.get("height")) <= 200
        assert float(bar.get("x")) >= 0 and float(bar.get("x")) + float(bar.get("width")) <= 400


def test_labels_are_escaped() -> None:
    label = '<script>alert("x")</script> & co'
    svg = bar_chart([(label, 5)], title="Sales <b>&</b>", unit='K"Sh')
    assert "<script" not in svg and "<b>" not in svg
    root = parse(svg)
    assert root.find("svg:title", NS).text == "Sales <b>&</b>"  # the text survives, as text
    assert bars(root)[0].find("svg:title", NS).text == f'{label}: K"Sh 5'


def test_characters_xml_cannot_hold_are_dropped() -> None:
    root = parse(bar_chart([("bad\x00name\x1b", 3)], title="t\x07"))
    assert bars(root)[0].find("svg:title", NS).text == "badname: KSh 3"


def test_empty_series_says_so() -> None:
    root = parse(bar_chart([], title="Nothing yet"))
    assert bars(root) == []
    assert any("No data" in (t.text or "") for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "No data" in root.find("svg:desc", NS).text


def test_a_single_bar_is_not_absurdly_wide() -> None:
    root = parse(bar_chart([("Only one", 42)], title="t", width=640))
    (bar,) = bars(root)
    assert float(bar.get("width")) <= 60
    assert float(bar.get("height")) > 100  # the one bar is tall: the axis fits it


def test_huge_numbers_get_short_labels_and_stay_on_the_chart() -> None:
    root = parse(bar_chart([("a", 12_345), ("b", 4_200_000), ("c", 10**30)], title="t", height=260))
    assert texts(root, "value") == ["12.3k", "4.2M", "1e30"]
    heights = [float(b.get("height")) for b in bars(root)]
    assert max(heights) < 260 and heights[0] == 1.0  # tiny but visible next to a giant
    assert bars(root)[2].find("svg:title", NS).text == f"c: KSh {10**30:,}"
    money = parse(bar_chart([("x", 999_999), ("y", 150_000_000)], title="t"))
    assert texts(money, "value") == ["999k", "150M"]


def test_all_zero_series_draws_an_axis_without_dividing_by_zero() -> None:
    root = parse(bar_chart([("a", 0), ("b", 0)], title="t"))
    assert [float(b.get("height")) for b in bars(root)] == [0.0, 0.0]


def test_thirty_days_thin_out_the_labels_but_keep_the_latest() -> None:
    series = [(f"{day} Mar", day * 100) for day in range(1, 31)]
    root = parse(bar_chart(series, title="30 days"))
    assert len(bars(root)) == 30
    labels = texts(root, "label")
    assert 3 <= len(labels) < 30 and labels[-1] == "30 Mar"
    assert all(v.get("transform", "").startswith("rotate(-90") for v in root.findall(".//svg:text[@class='value']", NS))


def test_long_labels_are_shortened_on_screen_but_whole_in_the_tooltip() -> None:
    name = "A very long package name that will not fit under its bar"
    root = parse(bar_chart([(name, 10), ("x", 5), ("y", 5), ("z", 5), ("w", 5), ("v", 5)], title="t", width=400))
    shown = texts(root, "label")[0]
    assert shown.endswith("…") and len(shown) < len(name)
    assert bars(root)[0].find("svg:title", NS).text == f"{name}: KSh 10"
