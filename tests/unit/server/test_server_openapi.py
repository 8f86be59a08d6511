"""The OpenAPI description: a valid 3.0 document that lists exactly the ENDPOINTS table."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pytest
from ocimux.server.docker_api import API_VERSION, ENDPOINTS, MUX, RAW
from ocimux.server.openapi import openapi

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi()


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def test_top_level(doc: dict[str, Any]) -> None:
    assert doc["openapi"] == "3.0.3"
    assert doc["info"]["version"] == API_VERSION
    assert isinstance(doc["info"]["title"], str) and doc["info"]["title"]
    error = doc["components"]["schemas"]["ErrorResponse"]
    assert error["required"] == ["message"]
    assert error["properties"]["message"] == {"type": "string"}
    json.dumps(doc)  # plain JSON, nothing a serializer would choke on


def test_paths_equal_endpoints(doc: dict[str, Any]) -> None:
    table = [(e.method, e.path) for e in ENDPOINTS]
    assert len(table) == len(set(table)), "an endpoint is listed twice"
    assert set(operations(doc)) == set(table)
    for item in doc["paths"].values():
        assert set(item) <= METHODS, item.keys()


def test_operation_ids_unique_and_match_handlers(doc: dict[str, Any]) -> None:
    ops = operations(doc)
    ids = Counter(op["operationId"] for op in ops.values())
    assert all(n == 1 for n in ids.values()), ids
    for e in ENDPOINTS:
        assert ops[(e.method, e.path)]["operationId"] == e.handler
        assert ops[(e.method, e.path)]["summary"] == e.summary


def test_path_parameters_declared(doc: dict[str, Any]) -> None:
    for (method, path), op in operations(doc).items():
        names = re.findall(r"\{(\w+)\}", path)
        declared = [p for p in op.get("parameters", []) if p["in"] == "path"]
        assert sorted(p["name"] for p in declared) == sorted(names), (method, path)
        for p in declared:
            assert p["required"] is True and p["schema"] == {"type": "string"}, (method, path)
        keys = [(p["name"], p["in"]) for p in op.get("parameters", [])]
        assert len(keys) == len(set(keys)), (method, path, keys)


def test_query_parameters_match_endpoints(doc: dict[str, Any]) -> None:
    ops = operations(doc)
    for e in ENDPOINTS:
        query = [
            (p["name"], p["schema"]["type"])
            for p in ops[(e.method, e.path)].get("parameters", [])
            if p["in"] == "query"
        ]
        assert query == list(e.query), e.path
        for p in ops[(e.method, e.path)].get("parameters", []):
            assert p["schema"]["type"] in ("string", "integer", "boolean"), (e.path, p)


def test_responses(doc: dict[str, Any]) -> None:
    ops = operations(doc)
    for e in ENDPOINTS:
        responses = ops[(e.method, e.path)]["responses"]
        # every {id} may be an ambiguous prefix: 409 is documented there too
        extra = {409} if "{id}" in e.path else set()
        assert {int(s) for s in responses} == {*e.responses, 400, 500, *extra}, e.path
        for status, response in responses.items():
            assert response["description"], (e.path, status)
            if int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}
            elif int(status) in (101, 204, 304):
                assert "content" not in response, (e.path, status)
            else:
                assert response.get("content"), (e.path, status)
        if e.body:
            assert ops[(e.method, e.path)]["requestBody"]["content"]["application/json"]
        else:
            assert "requestBody" not in ops[(e.method, e.path)]


def test_stream_endpoints_describe_both_stream_types(doc: dict[str, Any]) -> None:
    ops = operations(doc)
    for key in (("GET", "/containers/{id}/logs"), ("POST", "/containers/{id}/attach")):
        assert set(ops[key]["responses"]["200"]["content"]) == {RAW, MUX}
    created = ops[("POST", "/containers/create")]["responses"]["201"]
    assert created["content"]["application/json"]["schema"]["required"] == ["Id"]
    ping = ops[("GET", "/_ping")]["responses"]["200"]
    assert set(ping["content"]) == {"text/plain"}


def test_local_refs_resolve(doc: dict[str, Any]) -> None:
    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [node["$ref"]] if "$ref" in node else []
            return own + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    found = refs(doc)
    assert found
    for ref in found:
        assert ref.startswith("#/")
        target: Any = doc
        for part in ref[2:].split("/"):
            target = target[part]
        assert isinstance(target, dict)


def test_valid_per_openapi_spec_validator(doc: dict[str, Any]) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(doc)


def test_valid_per_openapi_30_meta_schema(doc: dict[str, Any]) -> None:
    """The official OpenAPI 3.0 JSON schema, as schemathesis ships it (checked by jsonschema_rs)."""
    definitions = pytest.importorskip("schemathesis.specs.openapi.definitions")
    validator = definitions.OPENAPI_30_VALIDATOR
    errors = [str(e) for e in validator.iter_errors(doc)]
    assert errors == []
    broken = json.loads(json.dumps(doc))
    del broken["paths"]["/_ping"]["get"]["responses"]  # the validator does reject a bad one
    assert list(validator.iter_errors(broken))


def test_schemathesis_loads_every_operation(doc: dict[str, Any]) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    schema = schemathesis.openapi.from_dict(json.loads(json.dumps(doc)))
    schema.validate()
    loaded = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        loaded.add((operation.method.upper(), operation.path))
    assert loaded == {(e.method, e.path) for e in ENDPOINTS}


def test_the_create_body_lists_mapped_and_refused_fields(doc: dict[str, Any]) -> None:
    from ocimux.server.unsupported import MAPPED, UNSUPPORTED

    text = doc["paths"]["/containers/create"]["post"]["requestBody"]["description"]
    assert all(field in text for field in MAPPED)
    assert all(f"{path} ({why})" in text for path, _, why in UNSUPPORTED)
    assert "HostConfig.PortBindings (it has no network stack)" in text
