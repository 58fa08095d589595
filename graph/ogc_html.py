"""Plain HTML views of the /ogc answers: the same JSON, shown as links and tables so that a
person can browse the collections in a browser. No script, no style sheet from elsewhere."""

from __future__ import annotations

from html import escape
from typing import Any

import orjson

STYLE = ("body{font:15px/1.4 system-ui,sans-serif;margin:1.5em;max-width:70em}"
         "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;"
         "text-align:left;vertical-align:top}")


def _cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return f"<code>{escape(orjson.dumps(value).decode())}</code>"
    return escape("" if value is None else str(value))


def _links(links: list[dict[str, Any]]) -> str:
    rows = "".join(f'<li><a href="{escape(link["href"])}">{escape(link.get("title") or "")}'
                   f'</a> <small>({escape(link["rel"])}, {escape(link.get("type", ""))})'
                   f"</small></li>" for link in links)
    return f"<ul>{rows}</ul>"


def page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>'
            f"{escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{escape(title)}</h1>{body}</body></html>")


def preformatted(title: str, doc: dict[str, Any]) -> str:
    """A JSON document shown as indented text (the OpenAPI definition)."""
    text = orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()
    return page(title, f"<pre>{escape(text)}</pre>")


def document(title: str, doc: dict[str, Any]) -> str:
    """A landing page, conformance, collections or one collection: its fields and links."""
    parts = [f"<p>{escape(doc['description'])}</p>" if "description" in doc else ""]
    for c in doc.get("collections", []):
        items = next((link["href"] for link in c["links"] if link["rel"] == "items"), "#")
        parts.append(f'<h2><a href="{escape(items)}">{escape(c["title"])}</a></h2>'
                     f"<p>{escape(c['description'])}</p>")
    if "conformsTo" in doc:
        parts.append("<ul>" + "".join(f"<li>{escape(c)}</li>" for c in doc["conformsTo"])
                     + "</ul>")
    parts.append(_links(doc.get("links", [])))
    return page(title, "".join(parts))


def features(title: str, collection: dict[str, Any]) -> str:
    """A page of features as a table of their ids and properties (geometry left out)."""
    feats = collection.get("features", [collection] if "properties" in collection else [])
    names = list(dict.fromkeys(k for f in feats for k in (f.get("properties") or {})))
    head = "".join(f"<th>{escape(n)}</th>" for n in ["id", *names])
    rows = "".join("<tr>" + f"<td>{_cell(f.get('id'))}</td>" + "".join(
        f"<td>{_cell((f.get('properties') or {}).get(n))}</td>" for n in names) + "</tr>"
        for f in feats)
    counts = ""
    if "numberMatched" in collection:
        counts = (f"<p>{collection['numberReturned']} of {collection['numberMatched']} "
                  "features</p>")
    return page(title, f"{counts}<table><tr>{head}</tr>{rows}</table>"
                       f"{_links(collection.get('links', []))}")
