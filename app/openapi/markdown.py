"""Render the OpenAPI document as the Markdown reference page docs/api-reference.md.

`python -m app.openapi.markdown` writes the page; `--check` exits 1 when it is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from app.openapi.document import load_document

PAGE_PATH = Path(__file__).resolve().parents[2] / "docs" / "api-reference.md"
METHODS = ("get", "post", "put", "patch", "delete")
HEADER = (
    "<!-- Generated from app/openapi/openapi.yaml by `python -m app.openapi.markdown`;"
    " edit the YAML, not this page. -->\n"
)


def render(document: dict) -> str:
    """Return the whole reference page for `document`."""
    info = document["info"]
    lines = [HEADER, f"# {info['title']}", "", _text(info.get("description", "")), ""]
    lines += [
        "The machine-readable document is served at `GET /api/openapi.json` (OpenAPI "
        f"{document['openapi']}); load it into any OpenAPI tool or client generator.",
        "",
    ]
    lines += _security_section(document["components"]["securitySchemes"])
    for tag in document.get("tags", []):
        lines += [f"## {tag['name'].replace('-', ' ').capitalize()}", "", _text(tag["description"])]
        lines.append("")
        for path, method, operation in _operations(document):
            if operation.get("tags", [None])[0] == tag["name"]:
                lines += _operation_section(document, path, method, operation)
    lines += ["## Schemas", ""]
    for name, schema in document["components"]["schemas"].items():
        lines += _schema_section(name, schema)
    return "\n".join(lines).rstrip() + "\n"


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def _security_section(schemes: dict) -> list[str]:
    lines = ["## Authentication", "", "| scheme | how it is sent | what |", "|---|---|---|"]
    for name, scheme in schemes.items():
        if scheme["type"] == "apiKey":
            how = f"{scheme['in']} `{scheme['name']}`"
        else:
            how = f"`Authorization: {scheme['scheme'].capitalize()} …`"
        lines.append(f"| `{name}` | {how} | {_cell(scheme.get('description', ''))} |")
    return [*lines, ""]


def _operation_section(document: dict, path: str, method: str, operation: dict) -> list[str]:
    lines = [f"### {method.upper()} `{path}`", "", f"**{operation['summary']}**", ""]
    if operation.get("description"):
        lines += [_text(operation["description"]), ""]
    lines += [f"Authentication: {_security(operation.get('security'))}.", ""]
    parameters = [_resolve(document, p) for p in operation.get("parameters", [])]
    if parameters:
        lines += ["| parameter | in | type | required | description |", "|---|---|---|---|---|"]
        for p in parameters:
            required = "yes" if p.get("required") else "no"
            description = _cell(p.get("description") or p["schema"].get("description", ""))
            row = f"`{p['name']}` | {p['in']} | {_type(p['schema'])} | {required} | {description}"
            lines.append(f"| {row} |")
        lines.append("")
    if "requestBody" in operation:
        body = _resolve(document, operation["requestBody"])
        kinds = ", ".join(
            f"`{media}`: {_type(content.get('schema', {}))}"
            for media, content in body["content"].items()
        )
        lines += [f"Request body: {kinds}.", ""]
    lines += ["| status | meaning | body |", "|---|---|---|"]
    for status, response in operation["responses"].items():
        response = _resolve(document, response)
        bodies = ", ".join(
            f"`{media}` {_type(content.get('schema', {}))}"
            for media, content in response.get("content", {}).items()
        )
        extra = "".join(f"; header `{name}`" for name in response.get("headers", {}))
        meaning = _cell(response["description"])
        lines.append(f"| {status} | {meaning} | {bodies or '-'}{extra} |")
    return [*lines, ""]


def _schema_section(name: str, schema: dict) -> list[str]:
    lines = [f"### {name}", ""]
    if schema.get("description"):
        lines += [_text(schema["description"]), ""]
    parts = schema.get("allOf", [schema])
    bases = [_type(part) for part in parts if "$ref" in part]
    if bases:
        lines += [f"Everything in {', '.join(bases)}, and:", ""]
    for part in parts:
        properties = part.get("properties")
        if not properties:
            continue
        required = set(part.get("required", []))
        lines += ["| field | type | required | description |", "|---|---|---|---|"]
        for field, field_schema in properties.items():
            flag = "yes" if field in required else "no"
            description = _cell(field_schema.get("description", ""))
            lines.append(f"| `{field}` | {_type(field_schema)} | {flag} | {description} |")
        lines.append("")
    if not any(part.get("properties") for part in parts):
        lines += [f"Type: {_type(schema)}.", ""]
    return lines


def _type(schema: dict) -> str:  # noqa: C901 - one branch per JSON Schema form, flat
    """A short, readable type: links for named schemas, enums spelled out."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "const" in schema:
        return f"`{_json(schema['const'])}`"
    if "enum" in schema:
        return "one of " + ", ".join(f"`{value}`" for value in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(_type(option) for option in schema[key])
    if "allOf" in schema:
        return " and ".join(_type(option) for option in schema["allOf"])
    kinds = schema.get("type")
    if kinds is None:
        return "any JSON"
    kinds = kinds if isinstance(kinds, list) else [kinds]
    words = []
    for kind in kinds:
        if kind == "array":
            words.append(f"array of {_type(schema.get('items', {}))}")
        elif kind == "string" and "format" in schema:
            words.append(f"string ({schema['format']})")
        else:
            words.append(kind)
    text = " or ".join(words)
    bounds = [
        f"{label} {schema[key]}"
        for key, label in (("minimum", "≥"), ("maximum", "≤"), ("maxLength", "length ≤"))
        if key in schema
    ]
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _security(requirements: list[dict] | None) -> str:
    if not requirements:
        return "none"
    # An empty requirement is the Segment routes' third way: the write key inside the body.
    options = [
        " + ".join(f"`{name}`" for name in r) or "a `writeKey` in the body" for r in requirements
    ]
    return " or ".join(options)


def _resolve(document: dict, node: dict) -> dict:
    while "$ref" in node:
        target = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _json(value: object) -> str:
    return "true" if value is True else "false" if value is False else str(value)


def _text(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    return _text(text).replace("|", "\\|")


def main(argv: list[str]) -> int:
    """Write the page, or with --check report whether the committed page is current."""
    page = render(load_document())
    if "--check" in argv:
        current = PAGE_PATH.read_text(encoding="utf-8") if PAGE_PATH.exists() else ""
        if current != page:
            print(f"{PAGE_PATH} is stale: run python -m app.openapi.markdown", file=sys.stderr)
            return 1
        return 0
    PAGE_PATH.write_text(page, encoding="utf-8")
    print(f"wrote {PAGE_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
