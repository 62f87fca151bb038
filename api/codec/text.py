"""JSON values as TF Serving's error messages show them: type names and compact, cut text.

The text is written token by token, without recursion, and stops once past its limit: a
message about a 16-million-element or 1000-deep value costs no more than one about `[1]`.
"""
from __future__ import annotations

import json
from typing import Any

_JSON_TYPE = {dict: "Object", list: "Array", str: "String", int: "Number", float: "Number",
              type(None): "Null"}
_END = object()


def json_type(value: Any) -> str:
    """The JSON type name TF Serving's messages use (True/False are types of their own)."""
    if isinstance(value, bool):
        return "True" if value else "False"
    return _JSON_TYPE.get(type(value), "Unknown")


class _Raw(str):
    """Punctuation of the JSON being written (as opposed to a string value)."""


def json_text(value: Any, limit: int = 200) -> str:
    """A JSON value as the error messages show it: compact JSON, cut after `limit` chars."""
    parts, size, pending = [], 0, [iter((value,))]
    while pending and size <= limit:
        item = next(pending[-1], _END)
        if item is _END:
            pending.pop()
            continue
        if isinstance(item, _Raw):
            text = item
        elif isinstance(item, list):
            pending.append(_list_tokens(item))
            continue
        elif isinstance(item, dict):
            pending.append(_dict_tokens(item))
            continue
        else:
            text = _scalar_text(item[:limit + 1] if isinstance(item, str) else item)
        parts.append(text)
        size += len(text)
    text = "".join(parts)
    return text if len(text) <= limit and not pending else text[:limit] + "..."


def _list_tokens(items: list):
    yield _Raw("[")
    for index, item in enumerate(items):
        if index:
            yield _Raw(",")
        yield item
    yield _Raw("]")


def _dict_tokens(items: dict):
    yield _Raw("{")
    for index, (key, item) in enumerate(items.items()):
        yield _Raw(("," if index else "") + _scalar_text(str(key)) + ":")
        yield item
    yield _Raw("}")


def _scalar_text(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)
