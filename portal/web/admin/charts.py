"""Server-rendered SVG charts for the admin pages: no JavaScript, no CDN, no fonts to fetch.

The output is a self-contained ``<svg>`` element that can be inlined in HTML or saved as a
file. Every piece of text in it is escaped (labels are package names an owner typed), and
integer arithmetic is used for the axis so very large totals cannot overflow a float.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

SVG_NS = "http://www.w3.org/2000/svg"
BAR_COLOUR = "#2f7d4f"
AXIS_COLOUR = "#666"
GRID_COLOUR = "#e3e3e3"
TEXT_COLOUR = "#222"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
CHAR_WIDTH = 6.2  # rough width of one character at 11px, for fitting labels
VALUE_CHAR_WIDTH = 5.6  # the same at 10px
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SUFFIXES = ("", "k", "M", "B", "T", "Q")


def bar_chart(
    series: Sequence[tuple[str, int]],
    *,
    title: str,
    unit: str = "KSh",
    width: int = 640,
    height: int = 260,
) -> str:
    """A vertical bar chart of ``(label, value)`` pairs as an accessible SVG string.

    Bars carry a ``<title>`` with the full label and value (a tooltip, and what a screen
    reader announces); the visible labels are shortened or thinned out to fit.
    """
    width, height = max(int(width), 200), max(int(height), 120)
    values = [max(int(value), 0) for _label, value in series]
    labels = [str(label) for label, _value in series]
    total = sum(values)
    parts = [_open_svg(title, width, height, _description(labels, values, unit, total))]
    parts.append(_text_el(width / 2, 16, title, size=13, anchor="middle", weight="bold"))
    if not values:
        parts.append(_text_el(width / 2, height / 2, "No data for this period", size=12, anchor="middle"))
        parts.append("</svg>")
        return "".join(parts)

    left, right, bottom = 58, 20, 36
    count = len(values)
    slot = (width - left - right) / count
    rotate_values = max(len(_compact(v)) for v in values) * VALUE_CHAR_WIDTH + 6 > slot
    top = 24 + (40 if rotate_values else 16)
    plot_h = height - top - bottom
    ticks = _ticks(max(values))
    axis_top = ticks[-1]

    for tick in ticks:
        y = top + plot_h - plot_h * tick / axis_top
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{GRID_COLOUR}"/>')
        parts.append(_text_el(left - 6, y + 4, _compact(tick), size=10, anchor="end"))
    parts.append(_text_el(12, top + plot_h / 2, unit, size=10, anchor="middle", rotate=True))

    bar_w = min(slot * 0.72, 60)
    every = max(1, -(-int(max(len(label) for label in labels) * CHAR_WIDTH + 6) // max(int(slot), 1)))
    every = 1 if count <= 12 and every > 1 else every  # few bars: shorten labels instead of skipping
    max_chars = max(3, int(slot * every / CHAR_WIDTH) - 1)
    show_zero = count <= 12
    baseline = top + plot_h
    for index, (label, value) in enumerate(zip(labels, values, strict=False)):
        centre = left + slot * index + slot / 2
        bar_h = max(plot_h * value / axis_top, 1.0) if value else 0.0  # a sale never looks like none
        y = baseline - bar_h
        tooltip = f"{label}: {_money(value, unit)}"
        parts.append(
            f'<rect class="bar" x="{centre - bar_w / 2:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
            f'height="{bar_h:.1f}" fill="{BAR_COLOUR}"><title>{_esc(tooltip)}</title></rect>'
        )
        if value or show_zero:
            if rotate_values:
                parts.append(
                    _text_el(centre + 3, y - 4, _compact(value), size=10, anchor="start", rotate=True, cls="value")
                )
            else:
                parts.append(_text_el(centre, y - 4, _compact(value), size=10, anchor="middle", cls="value"))
        if (count - 1 - index) % every == 0:  # counted from the end: the latest bar is labelled
            parts.append(
                _text_el(centre, baseline + 15, _shorten(label, max_chars), size=11, anchor="middle", cls="label")
            )
    parts.append(f'<line x1="{left}" y1="{baseline}" x2="{width - right}" y2="{baseline}" stroke="{AXIS_COLOUR}"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{baseline}" stroke="{AXIS_COLOUR}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _open_svg(title: str, width: int, height: int, description: str) -> str:
    return (
        f'<svg xmlns="{SVG_NS}" role="img" aria-label="{_esc(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{_esc(FONT)}" class="chart">'
        f"<title>{_esc(title)}</title><desc>{_esc(description)}</desc>"
    )


def _description(labels: list[str], values: list[int], unit: str, total: int) -> str:
    if not values:
        return "No data for this period."
    best = max(range(len(values)), key=lambda i: values[i])
    return f"{len(values)} bars, total {_money(total, unit)}; highest {labels[best]} at {_money(values[best], unit)}."


def _text_el(
    x: float,
    y: float,
    text: str,
    *,
    size: int,
    anchor: str,
    weight: str = "normal",
    rotate: bool = False,
    cls: str = "",
) -> str:
    transform = f' transform="rotate(-90 {x:.1f} {y:.1f})"' if rotate else ""
    klass = f' class="{cls}"' if cls else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'font-weight="{weight}" fill="{TEXT_COLOUR}"{klass}{transform}>{_esc(text)}</text>'
    )


def _esc(text: str) -> str:
    """Escape for XML text and attributes, dropping characters XML 1.0 cannot hold."""
    return html.escape(_NOT_XML.sub("", str(text)), quote=True)


def _shorten(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def _money(value: int, unit: str) -> str:
    return f"{unit} {value:,}" if unit else f"{value:,}"


def _ticks(highest: int, wanted: int = 4) -> list[int]:
    """Evenly spaced round axis values from 0 up to at least ``highest`` (integers only)."""
    highest = max(highest, 1)
    raw_step = max(-(-highest // wanted), 1)
    magnitude = 10 ** (len(str(raw_step)) - 1)
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw_step)
    steps = -(-highest // step)
    return [i * step for i in range(steps + 1)]


def _compact(value: int) -> str:
    """``950`` -> ``950``, ``1234`` -> ``1,234``, ``12345`` -> ``12.3k``, ``4200000`` -> ``4.2M``.

    Beyond the named suffixes (absurd for KSh, but never a crash) it falls back to ``1.2e30``.
    """
    if value < 10_000:
        return f"{value:,}"
    digits = str(value)
    power = (len(digits) - 1) // 3
    if power >= len(_SUFFIXES):
        return f"{digits[0]}.{digits[1]}e{len(digits) - 1}" if digits[1] != "0" else f"{digits[0]}e{len(digits) - 1}"
    scale = 1000**power
    whole, rest = divmod(value, scale)
    if whole < 100:
        tenths = rest * 10 // scale
        return f"{whole}.{tenths}{_SUFFIXES[power]}" if tenths else f"{whole}{_SUFFIXES[power]}"
    return f"{whole:,}{_SUFFIXES[power]}"
