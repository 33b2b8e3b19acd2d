"""OpenAPI request-body documents for routes that read their body by hand (gzip, limits)."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

__all__ = ["json_body"]


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def json_body(record: type, description: str) -> dict[str, Any]:
    """``openapi_extra`` declaring a required JSON body of ``record`` (schema inlined)."""
    schema = TypeAdapter(record).json_schema()
    defs = schema.pop("$defs", {})
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": _inline(schema, defs)}},
        }
    }
