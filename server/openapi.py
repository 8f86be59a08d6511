"""The OpenAPI 3.0 description of what `ocimux serve` answers, built from `ENDPOINTS`.

One table drives both the router and this document, so a route cannot be served without
being described or described without being served (a test also checks it from outside).
"""

from __future__ import annotations

import re
from typing import Any

from .docker_api import API_VERSION, ENDPOINTS, MUX, RAW
from .unsupported import CLIENT_SIDE, MAPPED, UNSUPPORTED

__all__ = ["openapi"]

_ERROR = {"$ref": "#/components/schemas/ErrorResponse"}
_STATUS_TEXT = {
    101: "the connection is hijacked: a raw or multiplexed stream follows",
    200: "success", 201: "created", 204: "no content", 304: "already in that state",
    400: "bad parameter", 404: "no such object", 409: "conflict with the object's state",
    500: "server error",
}  # fmt: skip
_ARRAY_RESULTS = {"list", "images"}
_STREAMS = {"logs", "attach", "exec_start"}
_TEXT = {"ping", "resize", "exec_resize"}


def _success(handler: str, status: int) -> dict[str, Any]:
    if status in (101, 204, 304):
        return {"description": _STATUS_TEXT[status]}
    if handler == "exec_start" and status == 200:
        # a detached start answers empty text; a client that did not ask to upgrade gets the stream
        binary = {"schema": {"type": "string", "format": "binary"}}
        text = {"schema": {"type": "string"}}
        content = {"text/plain": text, RAW: binary, MUX: binary}
        return {"description": _STATUS_TEXT[status], "content": content}
    if handler in _STREAMS or status == 101:
        binary = {"schema": {"type": "string", "format": "binary"}}
        return {"description": _STATUS_TEXT[status], "content": {RAW: binary, MUX: binary}}
    if handler in _TEXT:
        return {
            "description": _STATUS_TEXT[status],
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    if handler == "wait":
        schema = {"type": "object", "required": ["StatusCode"],
                  "properties": {"StatusCode": {"type": "integer"}, "Error": {"nullable": True}}}  # fmt: skip
    elif handler == "prune":
        deleted = {"type": "array", "items": {"type": "string"}, "nullable": True}
        schema = {"type": "object", "required": ["ContainersDeleted", "SpaceReclaimed"],
                  "properties": {"ContainersDeleted": deleted, "SpaceReclaimed": {"type": "integer"}}}  # fmt: skip
    elif handler == "top":
        rows = {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}
        schema = {"type": "object", "required": ["Titles", "Processes"],
                  "properties": {"Titles": {"type": "array", "items": {"type": "string"}}, "Processes": rows}}  # fmt: skip
    elif handler == "create" or handler == "exec_create":
        schema = {"type": "object", "required": ["Id"], "properties": {"Id": {"type": "string"}}}
    else:
        schema = (
            {"type": "array", "items": {"type": "object"}}
            if handler in _ARRAY_RESULTS
            else {"type": "object"}
        )
    return {
        "description": _STATUS_TEXT[status],
        "content": {"application/json": {"schema": schema}},
    }


def _create_body() -> str:
    """Which fields of a create body ocimux maps, and which it refuses unless at their default."""
    refused = "; ".join(f"{path} ({why})" for path, _, why in UNSUPPORTED)
    return (
        "Docker's container config. Mapped into the container's configuration: "
        f"{', '.join(MAPPED)}. Accepted, for the client only: {', '.join(CLIENT_SIDE)}. "
        f"Refused with 400 unless at Docker's default (zero, empty or null): {refused}. "
        "NetworkMode default/bridge/empty means none (a private loopback); host is the host's. "
        "Fields Docker does not define are ignored."
    )


def openapi() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for e in ENDPOINTS:
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"\{(\w+)\}", e.path)
        ]
        params += [
            {"name": n, "in": "query", "required": False, "schema": {"type": t}} for n, t in e.query
        ]
        responses: dict[str, Any] = {}
        # any {id} may be an ambiguous prefix (409), as may a conflict with the object's state
        extra = {409} if "{id}" in e.path else set()
        for status in sorted({*e.responses, 400, 500, *extra}):
            if status >= 400:
                responses[str(status)] = {
                    "description": _STATUS_TEXT[status],
                    "content": {"application/json": {"schema": _ERROR}},
                }
            else:
                responses[str(status)] = _success(e.handler, status)
        operation: dict[str, Any] = {
            "summary": e.summary,
            "operationId": e.handler,
            "responses": responses,
        }
        if params:
            operation["parameters"] = params
        if e.body:
            operation["requestBody"] = {
                "required": False,
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
            if e.handler == "create":
                operation["requestBody"]["description"] = _create_body()
        paths.setdefault(e.path, {})[e.method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "ocimux Docker Engine API subset",
            "version": API_VERSION,
            "description": "What `ocimux serve` answers, also under /v{version}/ prefixes.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "ErrorResponse": {
                    "type": "object",
                    "required": ["message"],
                    "properties": {"message": {"type": "string"}},
                }
            }
        },
    }
