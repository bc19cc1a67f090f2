"""Charts as inline SVG, so the HTML report needs no script library, no CDN and no image
file: they print, they work with JavaScript off, and the page's CSP can forbid everything
else. Every label goes through ``escape``; colours are presentation attributes (no
``style=""``, which the report's CSP does not allow).

Each function returns ``Markup`` ready to drop into a Jinja template, with a ``<title>``
and a text equivalent (``<desc>``) for screen readers and for anyone reading the source.
"""

from __future__ import annotations

from markupsafe import Markup, escape

SEVERITY_COLOURS = {"critical": "#9f1239", "high": "#c2410c", "medium": "#a16207",
                    "low": "#1d4ed8", "info": "#64748b"}
NEUTRAL = "#475569"
WAIVED = "#a8a29e"
FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"'


def _svg(width: int, height: int, title: str, desc: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" {FONT} font-size="12">'
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>" + "".join(body) + "</svg>")


def hbar_chart(items: list[tuple[str, int, str]], title: str, width: int = 360) -> Markup:
    """Horizontal bars, one per (label, value, colour): findings by severity."""
    row, label_w, pad = 24, 78, 40
    height = row * len(items) + 8
    peak = max([v for _, v, _ in items] + [1])
    span = width - label_w - pad
    body = []
    for i, (label, value, colour) in enumerate(items):
        y = 4 + i * row
        w = 0 if value == 0 else max(2, round(span * value / peak))
        body.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" fill="#1e293b">'
                    f"{escape(label)}</text>")
        body.append(f'<rect x="{label_w}" y="{y + 3}" width="{w}" height="{row - 8}" rx="2" '
                    f'fill="{escape(colour)}"/>')
        body.append(f'<text x="{label_w + w + 6}" y="{y + 16}" fill="#1e293b">{int(value)}</text>')
    desc = "; ".join(f"{label}: {value}" for label, value, _ in items)
    return _svg(width, height, title, desc, body)


def column_chart(items: list[tuple[str, int]], title: str, colour: str = NEUTRAL,
                 width: int = 420, height: int = 170) -> Markup:
    """Vertical columns, one per (label, value): the credential age histogram."""
    left, bottom, top = 8, 34, 18
    n = max(len(items), 1)
    slot = (width - left * 2) / n
    peak = max([v for _, v in items] + [1])
    plot_h = height - bottom - top
    body = [f'<line x1="{left}" y1="{height - bottom}" x2="{width - left}" y2="{height - bottom}" '
            f'stroke="#94a3b8"/>']
    for i, (label, value) in enumerate(items):
        x = left + i * slot
        h = 0 if value == 0 else max(2, round(plot_h * value / peak))
        y = height - bottom - h
        body.append(f'<rect x="{x + slot * 0.15:.1f}" y="{y}" width="{slot * 0.7:.1f}" height="{h}" '
                    f'rx="2" fill="{escape(colour)}"/>')
        body.append(f'<text x="{x + slot / 2:.1f}" y="{y - 4}" text-anchor="middle" fill="#1e293b">'
                    f"{int(value)}</text>")
        body.append(f'<text x="{x + slot / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                    f'fill="#334155">{escape(label)}</text>')
    desc = "; ".join(f"{label}: {value}" for label, value in items)
    return _svg(width, height, title, desc, body)


def stacked_history(points: list[dict], title: str, width: int = 520, height: int = 190) -> Markup:
    """One stacked column per scan: open findings by severity, waived ones on top in grey.

    ``points``: report.data.history() rows (oldest first); the last one is this scan."""
    left, bottom, top = 8, 40, 18
    pts = points[-12:]  # the last twelve scans: enough to see a trend, still legible
    n = max(len(pts), 1)
    slot = min((width - left * 2) / n, 80)
    peak = max([p["open"] + p["waived"] for p in pts] + [1])
    plot_h = height - bottom - top
    body = [f'<line x1="{left}" y1="{height - bottom}" x2="{width - left}" y2="{height - bottom}" '
            f'stroke="#94a3b8"/>']
    for i, p in enumerate(pts):
        x = left + i * slot
        y = height - bottom
        segments = [(SEVERITY_COLOURS[s], p["by_severity"].get(s, 0))
                    for s in ("info", "low", "medium", "high", "critical")]
        segments.append((WAIVED, p["waived"]))
        for colour, value in segments:
            if not value:
                continue
            h = max(1, round(plot_h * value / peak))
            y -= h
            body.append(f'<rect x="{x + slot * 0.2:.1f}" y="{y}" width="{slot * 0.6:.1f}" '
                        f'height="{h}" fill="{colour}"/>')
        total = p["open"] + p["waived"]
        body.append(f'<text x="{x + slot / 2:.1f}" y="{y - 4}" text-anchor="middle" fill="#1e293b">'
                    f"{total}</text>")
        day = str(p.get("now") or p.get("started_at") or p["scan_id"])[:10]
        weight = ' font-weight="700"' if i == len(pts) - 1 else ""
        body.append(f'<text x="{x + slot / 2:.1f}" y="{height - bottom + 15}" text-anchor="middle" '
                    f'fill="#334155"{weight}>{escape(day)}</text>')
        body.append(f'<text x="{x + slot / 2:.1f}" y="{height - bottom + 29}" text-anchor="middle" '
                    f'fill="#64748b" font-size="10">{escape(p["scan_id"][-6:])}</text>')
    desc = "; ".join(f"scan {p['scan_id']}: {p['open']} open, {p['waived']} waived" for p in pts)
    return _svg(width, height, title, desc, body)
