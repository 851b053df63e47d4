"""The report page: one self-contained HTML file, images embedded, no external requests."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from typing import Any

from pmkt.libs.report import plots

Rows = list[dict[str, Any]]
STYLE = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1a202c;background:#f7fafc}
header{background:#2b6cb0;color:white;padding:18px 32px}header h1{margin:0;font-size:24px}
main{padding:8px 32px 40px}
section{background:white;border-radius:8px;padding:8px 20px 16px;margin:16px 0;box-shadow:0 1px 3px #0002}
h2{color:#2b6cb0;font-size:19px}table{border-collapse:collapse;font-size:13px;margin:8px 0}
td,th{border-bottom:1px solid #e2e8f0;padding:4px 10px;text-align:right}th{background:#edf2f7}
td:first-child,th:first-child{text-align:left}.plots{display:flex;flex-wrap:wrap;gap:12px}img{max-width:100%}
.note{color:#4a5568;font-size:13px}.yes{color:#2f855a;font-weight:bold}
"""
# Lets a headless browser (and the test) confirm every embedded image decoded.
SCRIPT = """window.addEventListener('load',()=>{const i=[...document.images];
document.body.dataset.imagesLoaded=i.filter(x=>x.complete&&x.naturalWidth>0).length+'/'+i.length;});"""


def fmt(value: Any, kind: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not plots.finite(value):
            return "–"
        if kind == "pct":
            return f"{100 * value:.1f}%"
        if kind == "pp":
            return f"{100 * value:+.1f} pp"
        if kind == "p":
            return f"{value:.3g}"
        return f"{value:,.4f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(
    rows: Rows, columns: Sequence[str], kinds: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> str:
    kinds, headers = kinds or {}, headers or {}
    head = "".join(f"<th>{html.escape(headers.get(c, c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(fmt(r.get(c), kinds.get(c, '')))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def image(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}">'


def section(title: str, *parts: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>{''.join(parts)}</section>"


def note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def document(title: str, sections: Sequence[str]) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style><script>{SCRIPT}</script></head><body><header><h1>{html.escape(title)}</h1>"
        f"<div>generated {stamp}</div></header><main>{''.join(sections)}</main></body></html>"
    )
