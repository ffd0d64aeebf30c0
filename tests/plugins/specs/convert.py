"""The vendors' descriptions kept beside this file (extract.py cut them), turned into one
OpenAPI 3.0 document per fake for openapi-core and schemathesis to read.

- Google: discovery documents (``google/*.json``): each method at ``/`` + its service
  path + its ``flatPath`` (or ``path``), its parameters and three of the API's global
  query parameters (``alt``, ``fields``, ``prettyPrint``); the response from ``response``.
- Zoom: its Swagger 2.0 document (``zoom/openapi.v2.json``), under ``/v2``.
- Microsoft Graph: its CSDL (``msgraph/v1.0.csdl.json``): entity and complex types become
  schemas (base types merged in, ``Edm`` types mapped as Microsoft's own OpenAPI
  conversion maps them), collections are ``{"value", "@odata.nextLink"}``.
- HubSpot: ``hubspot/openapi.json`` is OpenAPI already (read from HubSpot's client).

Objects are closed (``additionalProperties: false``) where the vendor's type lists its
properties: a fake that invents a field, or misspells one, fails. Every operation gets a
``default`` response with no body described, since none of these documents describes
the error bodies (the fakes' error bodies are pinned by their own tests instead).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
UNDESCRIBED = {"description": "an answer the vendor's document does not describe"}


def _document(title: str, paths: dict, schemas: dict) -> dict:
    for item in paths.values():
        for op in item.values():
            op.setdefault("responses", {}).setdefault("default", UNDESCRIBED)
            for p in op.get("parameters", []):
                # OpenAPI 3.0 allows no empty query value (``allowEmptyValue`` is false, and
                # openapi-core holds to that); said so, schemathesis does not send one.
                schema = p["schema"].get("items", p["schema"])
                if p["in"] == "query" and schema.get("type") == "string" and "enum" not in schema:
                    schema.setdefault("minLength", 1)
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "subset"},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas},
    }


# -- Google ---------------------------------------------------------------------------------
# Of the global parameters every Google API takes, those a client of these fakes may send
# (the rest, API keys, JSONP callbacks and quota users, only widen what a fuzzer tries).
_GOOGLE_COMMON = ("alt", "fields", "prettyPrint")
_GOOGLE_FORMATS = {"date-time": "date-time", "google-datetime": "date-time", "date": "date"}


def _discovery_schema(node: dict, prefix: str) -> dict:
    if "$ref" in node:
        return {"$ref": f"#/components/schemas/{prefix}{node['$ref']}"}
    kind = node.get("type")
    if kind == "any" or kind is None:
        return {}
    out: dict = {"type": kind}
    if kind == "string" and node.get("format") in _GOOGLE_FORMATS:
        out["format"] = _GOOGLE_FORMATS[node["format"]]
    if kind == "integer" and node.get("format") == "int32":
        out["format"] = "int32"
    if "enum" in node:
        out["enum"] = node["enum"]
    if kind == "array":
        out["items"] = _discovery_schema(node.get("items", {}), prefix)
    if kind == "object":
        if "properties" in node:
            out["properties"] = {
                k: _discovery_schema(v, prefix) for k, v in node["properties"].items()
            }
        extra = node.get("additionalProperties")
        out["additionalProperties"] = (
            _discovery_schema(extra, prefix) if extra is not None else "properties" not in node
        )
    return out


def _discovery_parameter(name: str, node: dict, where: str) -> dict:
    schema = {"type": node.get("type", "string")}
    if "enum" in node:
        schema["enum"] = node["enum"]
    if node.get("repeated"):
        schema = {"type": "array", "items": schema}
    return {"name": name, "in": where, "required": where == "path", "schema": schema}


def _discovery_methods(resource: dict):
    yield from resource.get("methods", {}).values()
    for child in resource.get("resources", {}).values():
        yield from _discovery_methods(child)


def google() -> dict:
    paths, schemas = {}, {}
    for source in sorted((HERE / "google").glob("*.json")):
        doc = json.loads(source.read_text())
        prefix = doc["name"] + "."
        for name, node in doc["schemas"].items():
            schemas[prefix + name] = _discovery_schema(node, prefix)
        common = [
            _discovery_parameter(n, p, "query")
            for n, p in doc["parameters"].items()
            if n in _GOOGLE_COMMON
        ]
        for method in _discovery_methods(doc):
            template = doc["servicePath"] + method.get("flatPath", method["path"])
            in_path = re.findall(r"{([^}]+)}", template)
            params = [_discovery_parameter(n, {}, "path") for n in in_path] + common
            params += [
                _discovery_parameter(n, p, "query")
                for n, p in method.get("parameters", {}).items()
                if p["location"] == "query"
            ]
            op = {"operationId": method["id"], "parameters": params, "responses": {}}
            if "response" in method:
                schema = _discovery_schema(method["response"], prefix)
                op["responses"]["200"] = {
                    "description": "the method's response",
                    "content": {"application/json": {"schema": schema}},
                }
            paths.setdefault("/" + template, {})[method["httpMethod"].lower()] = op
    return _document("Google (discovery documents)", paths, schemas)


# -- Zoom -----------------------------------------------------------------------------------
def _swagger_refs(node):
    if isinstance(node, dict):
        return {
            k: (
                v.replace("#/definitions/", "#/components/schemas/")
                if k == "$ref"
                else _swagger_refs(v)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_swagger_refs(v) for v in node]
    return node


def zoom() -> dict:
    """Zoom's Swagger 2.0 document as OpenAPI 3.0. Its objects stay open: the document
    is the last one Zoom published as a file (2021), older than fields the API now sends;
    ``zoom/errata.json`` corrects the types it got wrong, each with its reason."""
    doc = json.loads((HERE / "zoom" / "openapi.v2.json").read_text())
    paths = {}
    for template, item in doc["paths"].items():
        for method, op in item.items():
            params = []
            for p in op.get("parameters", []):
                p = doc["parameters"][p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p
                keys = (
                    "type",
                    "format",
                    "enum",
                    "maximum",
                    "minimum",
                    "items",
                )  # 2.0 defaults: mistyped
                schema = {k: p[k] for k in keys if k in p}
                if schema.get("type") == "string" and any(
                    not isinstance(e, str) for e in schema.get("enum", [])
                ):
                    schema["enum"] = [str(e) for e in schema["enum"]]  # 2.0 wrote numbers here
                params.append(
                    {
                        "name": p["name"],
                        "in": p["in"],
                        "required": p.get("required", False),
                        "schema": schema,
                    }
                )
            responses = {}
            for status, answer in op["responses"].items():
                responses[status] = {"description": answer.get("description", status)}
                if "schema" in answer:
                    responses[status]["content"] = {
                        "application/json": {"schema": _swagger_refs(answer["schema"])}
                    }
            paths[doc["basePath"] + template] = {
                method: {
                    "operationId": op["operationId"],
                    "parameters": params,
                    "responses": responses,
                }
            }
    out = _document(
        "Zoom (Swagger 2.0, with errata.json)", paths, _swagger_refs(doc["definitions"])
    )
    for fix in json.loads((HERE / "zoom" / "errata.json").read_text()):
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in fix["at"].split("/")[1:]]
        node = out
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[last] = fix["is"]
    return out


# -- Microsoft Graph ------------------------------------------------------------------------
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
# Edm types as Microsoft's OpenAPI conversion (OpenAPI.NET.OData) writes them.
_EDM_TYPES = {
    "Edm.String": {"type": "string"},
    "Edm.Boolean": {"type": "boolean"},
    "Edm.Int32": {"type": "integer", "format": "int32"},
    "Edm.Int64": {"type": "integer", "format": "int64"},
    "Edm.Double": {"type": "number"},
    "Edm.Single": {"type": "number"},
    "Edm.Decimal": {"type": "number"},
    "Edm.Guid": {"type": "string", "format": "uuid"},
    "Edm.DateTimeOffset": {"type": "string", "format": "date-time"},
    "Edm.Date": {"type": "string", "format": "date"},
    "Edm.TimeOfDay": {"type": "string"},
    "Edm.Duration": {"type": "string"},
    "Edm.Binary": {"type": "string"},
    "Edm.Stream": {"type": "string"},
    "Edm.Byte": {"type": "integer"},
    "Edm.Int16": {"type": "integer"},
}
# A selection of the OData query options the collections take, as Graph's OpenAPI has them.
_ODATA_LIST = ["$top", "$skip", "$filter", "$select", "$orderby", "$expand", "$count", "$search"]
_ODATA_ITEM = ["$select", "$expand"]
_ODATA_TYPES = {
    "$top": {"type": "integer", "minimum": 0},
    "$skip": {"type": "integer", "minimum": 0},
    "$count": {"type": "boolean"},
}
# What the fake serves: (path, the hops from ``me``, what it is). ``{x}`` picks one item.
GRAPH_PATHS = [
    ("/v1.0/me", (), "item"),
    ("/v1.0/me/calendarView", ("calendarView",), "list"),
    ("/v1.0/me/onlineMeetings", ("onlineMeetings",), "list"),
    (
        "/v1.0/me/onlineMeetings/{onlineMeeting-id}/attendanceReports",
        ("onlineMeetings", "attendanceReports"),
        "list",
    ),
    (
        "/v1.0/me/onlineMeetings/{onlineMeeting-id}/attendanceReports/{meetingAttendanceReport-id}",
        ("onlineMeetings", "attendanceReports"),
        "item",
    ),
    (
        "/v1.0/me/onlineMeetings/{onlineMeeting-id}/recordings",
        ("onlineMeetings", "recordings"),
        "list",
    ),
    (
        "/v1.0/me/onlineMeetings/{onlineMeeting-id}/transcripts",
        ("onlineMeetings", "transcripts"),
        "list",
    ),
    (
        "/v1.0/me/onlineMeetings/{onlineMeeting-id}/recordings/{callRecording-id}/content",
        ("onlineMeetings", "recordings", "content"),
        "stream",
    ),
    (
        "/v1.0/me/onlineMeetings/{onlineMeeting-id}/transcripts/{callTranscript-id}/content",
        ("onlineMeetings", "transcripts", "content"),
        "stream",
    ),
]


def _csdl_type(reference: str, nullable: bool) -> dict:
    if reference.startswith("Collection("):
        return {"type": "array", "items": _csdl_type(reference[11:-1], nullable)}
    if reference in _EDM_TYPES:
        return {**_EDM_TYPES[reference], "nullable": nullable}
    ref = {"$ref": f"#/components/schemas/{reference.split('.')[-1]}"}
    return {"anyOf": [ref, {"type": "object", "nullable": True}]} if nullable else ref


def msgraph() -> dict:
    """Graph's CSDL subset as OpenAPI: an entity or complex type is an object holding
    its own and its base types' properties (closed), an enum a string enum."""
    root = ET.parse(HERE / "msgraph" / "v1.0.csdl").getroot()
    types = {t.get("Name"): t for t in root.iter() if t.get("Name") and t.tag.endswith("Type")}

    def members(name: str, kind: str) -> list:
        node = types[name]
        base = node.get("BaseType", "").split(".")[-1]
        return (members(base, kind) if base else []) + node.findall(f"{EDM}{kind}")

    schemas = {}
    for name, node in types.items():
        if node.tag == f"{EDM}EnumType":
            values = [m.get("Name") for m in node.findall(f"{EDM}Member")]
            schemas[name] = {"type": "string", "enum": values + [None], "nullable": True}
            continue
        props = {
            p.get("Name"): _csdl_type(p.get("Type"), p.get("Nullable") != "false")
            for p in members(name, "Property")
            if p.get("Type") != "Edm.Stream"  # streams are paths of their own, not JSON
        }
        for nav in members(name, "NavigationProperty"):  # present when $expand-ed
            props[nav.get("Name")] = _csdl_type(nav.get("Type"), False)
        schemas[name] = {"type": "object", "properties": props, "additionalProperties": False}

    def walk(hops: tuple) -> tuple[str, str]:
        """The type the hops lead to from ``me`` (and the last hop's own type)."""
        at, last = "user", "graph.user"
        for hop in hops:
            found = [
                m
                for kind in ("NavigationProperty", "Property")
                for m in members(at, kind)
                if m.get("Name") == hop
            ]
            if not found:
                raise KeyError(f"Graph's CSDL has no {hop} on {at}")
            last = found[0].get("Type")
            at = last.removeprefix("Collection(").removesuffix(")").split(".")[-1]
        return at, last

    paths = {}
    for template, hops, kind in GRAPH_PATHS:
        name, _ = walk(hops)
        params = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in re.findall(r"{([^}]+)}", template)
        ]
        if kind == "stream":
            responses = {
                "200": {"description": "the content", "content": {"*/*": {"schema": {}}}},
            }
        else:
            schema = {"$ref": f"#/components/schemas/{name}"}
            if kind == "list":
                schema = {
                    "type": "object",
                    "properties": {
                        "value": {"type": "array", "items": schema},
                        "@odata.nextLink": {"type": "string", "nullable": True},
                        "@odata.context": {"type": "string"},
                    },
                    "additionalProperties": False,
                }
            odata = _ODATA_LIST if kind == "list" else _ODATA_ITEM
            params += [
                {"name": o, "in": "query", "schema": _ODATA_TYPES.get(o, {"type": "string"})}
                for o in odata
            ]
            responses = {
                "200": {"description": name, "content": {"application/json": {"schema": schema}}}
            }
        if template.endswith("/calendarView"):  # Graph's OpenAPI: both required
            params += [
                {"name": n, "in": "query", "required": True, "schema": {"type": "string"}}
                for n in ("startDateTime", "endDateTime")
            ]
        paths[template] = {"get": {"parameters": params, "responses": responses}}
    return _document("Microsoft Graph v1.0 (CSDL)", paths, schemas)


# -- HubSpot --------------------------------------------------------------------------------
def hubspot() -> dict:
    """HubSpot's subset (OpenAPI already); ``/crm/v3/owners`` answered as
    ``/crm/v3/owners/`` is (HubSpot serves both; its client writes the slash)."""
    doc = json.loads((HERE / "hubspot" / "openapi.json").read_text())
    doc["paths"]["/crm/v3/owners"] = doc["paths"]["/crm/v3/owners/"]
    return _document(doc["info"]["title"], doc["paths"], doc["components"]["schemas"])


LOADERS = {"google": google, "zoom": zoom, "msgraph": msgraph, "hubspot": hubspot}


def _errata(vendor: str, doc: dict) -> dict:
    """``<vendor>/errata.json``: where the vendor's document contradicts the vendor's API
    reference and answers, the correction (``at``: a JSON pointer into the OpenAPI
    document, ``is``: what stands there instead) and why."""
    source = HERE / vendor / "errata.json"
    for fix in json.loads(source.read_text()) if source.exists() else []:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in fix["at"].split("/")[1:]]
        node = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[last] = fix["is"]
    return doc


@cache
def openapi(vendor: str) -> dict:
    """The OpenAPI 3.0 document of one vendor's subset, errata applied (built once per
    process)."""
    return _errata(vendor, LOADERS[vendor]())
