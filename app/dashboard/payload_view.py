"""Pretty-print a stored payload as HTML with the part each error points at highlighted.

Every piece of the payload is escaped (markupsafe), so a payload holding `<script>` or
`onerror=` shows as text. An error whose path does not exist in the payload (a missing
required property) highlights the nearest part that does: the object that lacks it.
"""

from __future__ import annotations

import json

from markupsafe import Markup, escape

INDENT = "  "


def highlighted_payload(payload: object, errors: list[dict]) -> Markup:
    """Return the payload as indented JSON in HTML, error locations wrapped in <mark>."""
    marks: dict[str, list[str]] = {}
    for error in errors:
        where = existing_path(payload, error.get("path", ""))
        marks.setdefault(where, []).append(
            f"{error.get('keyword', '')}: {error.get('message', '')}"
        )
    parts: list[str] = []
    _render(payload, "", 0, marks, parts)
    return Markup("".join(parts))


def existing_path(payload: object, pointer: str) -> str:
    """Return the longest prefix of a JSON Pointer that exists in the payload."""
    if not pointer:
        return ""
    found, node = "", payload
    for raw in pointer.lstrip("/").split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            break
        found += "/" + raw
    return found


def _render(node: object, path: str, depth: int, marks: dict, parts: list[str]) -> None:
    notes = marks.get(path)
    if notes:
        title = escape(" · ".join(notes))
        parts.append(f'<mark class="error-mark" data-path="{escape(path or "/")}" title="{title}">')
    pad = INDENT * (depth + 1)
    if isinstance(node, dict) and node:
        parts.append("{\n")
        for index, (key, value) in enumerate(node.items()):
            child = f"{path}/{key.replace('~', '~0').replace('/', '~1')}"
            parts.append(
                f'{pad}<span class="k">{escape(json.dumps(key, ensure_ascii=False))}</span>: '
            )
            _render(value, child, depth + 1, marks, parts)
            parts.append(",\n" if index < len(node) - 1 else "\n")
        parts.append(INDENT * depth + "}")
    elif isinstance(node, list) and node:
        parts.append("[\n")
        for index, value in enumerate(node):
            parts.append(pad)
            _render(value, f"{path}/{index}", depth + 1, marks, parts)
            parts.append(",\n" if index < len(node) - 1 else "\n")
        parts.append(INDENT * depth + "]")
    else:
        kind = "s" if isinstance(node, str) else "v"
        text = escape(json.dumps(node, ensure_ascii=False))
        parts.append(f'<span class="{kind}">{text}</span>')
    if notes:
        parts.append("</mark>")
