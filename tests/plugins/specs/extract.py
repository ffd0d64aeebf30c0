"""Cut the vendors' published API descriptions down to what the fakes serve.

    python tests/plugins/specs/extract.py google DISCOVERY_DIR
    python tests/plugins/specs/extract.py zoom OPENAPI_V2_JSON
    python tests/plugins/specs/extract.py msgraph V1_0_PROD_CSDL
    python tests/plugins/specs/extract.py hubspot HUBSPOT_API_CLIENT_DIR (the unpacked wheel)

Each writes ``tests/plugins/specs/<vendor>/``: the operations the fake serves and every
type they reference, in the vendor's own format (Google's discovery documents, Zoom's
Swagger 2.0 document, Microsoft Graph's CSDL), descriptions dropped to keep the files
small. HubSpot's OpenAPI documents are not licensed for use outside HubSpot, so its
subset is read from the models of HubSpot's Apache-2.0 client (``hubspot-api-client``),
which are generated from those documents. ``convert.py`` turns each into OpenAPI 3.0
when the tests load it; the README beside each subset names its source and commit.
Not run by the tests (the sources are not in the repository): run it to refresh a
subset, and review the diff.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# -- Google: discovery documents -----------------------------------------------------------
GOOGLE = {
    "calendar.v3": ["calendars.get", "events.list"],
    "drive.v3": ["files.get"],
    "meet.v2": [
        "conferenceRecords.list",
        "conferenceRecords.get",
        "conferenceRecords.participants.list",
        "conferenceRecords.recordings.list",
        "conferenceRecords.transcripts.list",
        "conferenceRecords.transcripts.entries.list",
        "spaces.get",
    ],
}


def _strip(node):
    """The node without its descriptions (which make up most of a description's size)."""
    if isinstance(node, dict):
        return {
            k: _strip(v)
            for k, v in node.items()
            if k not in ("description", "enumDescriptions", "enumDeprecated")
        }
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _refs(node, found: set[str]) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            found.add(node["$ref"])
        for v in node.values():
            _refs(v, found)
    elif isinstance(node, list):
        for v in node:
            _refs(v, found)


def _closure(schemas: dict, roots: set[str]) -> list[str]:
    """The schema names reachable from ``roots`` (names, or ``#/.../Name`` references)."""
    seen: set[str] = set()
    todo = [r.rsplit("/", 1)[-1] for r in roots]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        found: set[str] = set()
        _refs(schemas[name], found)
        todo += [r.rsplit("/", 1)[-1] for r in found]
    return sorted(seen)


def google(source: Path) -> None:
    out = HERE / "google"
    out.mkdir(exist_ok=True)
    for api, wanted in GOOGLE.items():
        doc = json.loads((source / f"{api}.json").read_text())
        resources: dict = {}
        roots: set[str] = set()
        for dotted in wanted:
            *path, method = dotted.split(".")
            node, into = doc, resources
            for part in path:
                node = node["resources"][part]
                into = into.setdefault("resources", {}).setdefault(part, {})
            body = node["methods"][method]
            into.setdefault("methods", {})[method] = _strip(body)
            _refs(body, roots)
        keep = (
            "id",
            "name",
            "version",
            "revision",
            "rootUrl",
            "servicePath",
            "baseUrl",
            "protocol",
            "parameters",
        )
        subset = {k: _strip(doc[k]) for k in keep if k in doc}
        subset["resources"] = resources["resources"]
        subset["schemas"] = {n: _strip(doc["schemas"][n]) for n in _closure(doc["schemas"], roots)}
        (out / f"{api}.json").write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n")


# -- Zoom: its Swagger 2.0 document ----------------------------------------------------------
ZOOM = {
    "/users/{userId}": ["get"],
    "/users/{userId}/recordings": ["get"],
    "/past_meetings/{meetingUUID}/participants": ["get"],
}


def zoom(source: Path) -> None:
    doc = json.loads(source.read_text())
    paths = {p: {m: _strip(doc["paths"][p][m]) for m in methods} for p, methods in ZOOM.items()}
    found: set[str] = set()
    _refs(paths, found)
    parameters = {
        r.rsplit("/", 1)[1]: _strip(doc["parameters"][r.rsplit("/", 1)[1]])
        for r in found
        if r.startswith("#/parameters/")
    }
    names = {r.rsplit("/", 1)[1] for r in found if r.startswith("#/definitions/")}
    _refs(parameters, found)
    keep = _closure(doc["definitions"], names)
    subset = {
        **{k: doc[k] for k in ("swagger", "info", "host", "basePath", "schemes")},
        "paths": paths,
        "parameters": parameters,
        "definitions": {n: _strip(doc["definitions"][n]) for n in keep},
    }
    subset["info"] = {k: v for k, v in subset["info"].items() if k != "description"}
    out = HERE / "zoom"
    out.mkdir(exist_ok=True)
    (out / "openapi.v2.json").write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n")


# -- Microsoft Graph: its CSDL (the metadata its OpenAPI documents are converted from) -----
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
# The navigation from the ``me`` singleton to each thing the fake serves (convert.py walks
# the same hops and fails on one the CSDL does not have).
GRAPH_HOPS = [
    ("calendarView",),
    ("onlineMeetings",),
    ("onlineMeetings", "recordings"),
    ("onlineMeetings", "transcripts"),
    ("onlineMeetings", "attendanceReports", "attendanceRecords"),
]


def _graph_name(reference: str) -> str:
    inner = reference.removeprefix("Collection(").removesuffix(")")
    return inner.split(".")[-1] if inner.startswith(("graph.", "microsoft.graph.")) else ""


def msgraph(source: Path) -> None:
    """The types the fake's answers use, from the ``microsoft.graph`` namespace: every
    structural property (and its type's base types) followed; of the navigation
    properties only the hops above are kept."""
    import xml.etree.ElementTree as ET

    root = ET.parse(source).getroot()
    schema = next(s for s in root.iter(f"{EDM}Schema") if s.get("Namespace") == "microsoft.graph")
    types = {
        t.get("Name"): t
        for t in schema
        if t.tag in (f"{EDM}EntityType", f"{EDM}ComplexType", f"{EDM}EnumType")
    }
    navigations = {"user"}
    keep_nav: dict[str, set[str]] = {}
    for hops in GRAPH_HOPS:
        at = "user"
        for hop in hops:
            owner, nav = at, None
            while nav is None:
                nav = types[owner].find(f"{EDM}NavigationProperty[@Name='{hop}']")
                owner = _graph_name(types[owner].get("BaseType", "")) if nav is None else owner
            keep_nav.setdefault(owner, set()).add(hop)
            at = _graph_name(nav.get("Type"))
            navigations.add(at)
    seen: set[str] = set()
    todo = sorted(navigations)
    while todo:
        name = todo.pop()
        if name in seen or name not in types:
            continue
        seen.add(name)
        node = types[name]
        todo.append(_graph_name(node.get("BaseType", "")))
        todo += [_graph_name(p.get("Type")) for p in node.findall(f"{EDM}Property")]
    out_schema = ET.Element(f"{EDM}Schema", {"Namespace": "microsoft.graph", "Alias": "graph"})
    for name in sorted(seen):
        node = types[name]
        for nav in node.findall(f"{EDM}NavigationProperty"):
            if nav.get("Name") not in keep_nav.get(name, set()):
                node.remove(nav)
        node.tail = None
        out_schema.append(node)
    container = ET.SubElement(out_schema, f"{EDM}EntityContainer", {"Name": "GraphService"})
    ET.SubElement(container, f"{EDM}Singleton", {"Name": "me", "Type": "microsoft.graph.user"})
    edmx = ET.Element("{http://docs.oasis-open.org/odata/ns/edmx}Edmx", {"Version": "4.0"})
    ET.SubElement(edmx, "{http://docs.oasis-open.org/odata/ns/edmx}DataServices").append(out_schema)
    ET.register_namespace("edmx", "http://docs.oasis-open.org/odata/ns/edmx")
    ET.register_namespace("", EDM[1:-1])
    ET.indent(edmx, space=" ")
    out = HERE / "msgraph"
    out.mkdir(exist_ok=True)
    ET.ElementTree(edmx).write(out / "v1.0.csdl", encoding="utf-8", xml_declaration=True)


# -- HubSpot: the models of its Apache-2.0 Python client --------------------------------------
# (module under hubspot/, its api file, HTTP method, path, parameters, body model, answer)
_LIST = [("limit", "integer"), ("after", "string")]
_READ = [("properties", "array"), ("propertiesWithHistory", "array"), ("associations", "array")]
HUBSPOT = [
    (
        "crm/objects",
        "basic_api",
        "get",
        "/crm/v3/objects/{objectType}",
        [*_LIST, *_READ, ("archived", "boolean")],
        None,
        ("200", "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging"),
    ),
    (
        "crm/objects",
        "basic_api",
        "post",
        "/crm/v3/objects/{objectType}",
        [],
        "SimplePublicObjectInputForCreate",
        ("201", "SimplePublicObject"),
    ),
    (
        "crm/objects",
        "basic_api",
        "get",
        "/crm/v3/objects/{objectType}/{objectId}",
        [*_READ, ("archived", "boolean"), ("idProperty", "string")],
        None,
        ("200", "SimplePublicObjectWithAssociations"),
    ),
    (
        "crm/objects",
        "basic_api",
        "patch",
        "/crm/v3/objects/{objectType}/{objectId}",
        [("idProperty", "string")],
        "SimplePublicObjectInput",
        ("200", "SimplePublicObject"),
    ),
    (
        "crm/objects",
        "basic_api",
        "delete",
        "/crm/v3/objects/{objectType}/{objectId}",
        [],
        None,
        ("204", None),
    ),
    (
        "crm/objects",
        "search_api",
        "post",
        "/crm/v3/objects/{objectType}/search",
        [],
        "PublicObjectSearchRequest",
        ("200", "CollectionResponseWithTotalSimplePublicObjectForwardPaging"),
    ),
    (
        "crm/owners",
        "owners_api",
        "get",
        "/crm/v3/owners/",
        [("email", "string"), *_LIST, ("archived", "boolean")],
        None,
        ("200", "CollectionResponsePublicOwnerForwardPaging"),
    ),
    (
        "crm/associations/v4",
        "basic_api",
        "get",
        "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}",
        _LIST,
        None,
        ("200", "CollectionResponseMultiAssociatedObjectWithLabelForwardPaging"),
    ),
    ("oauth", "tokens_api", "post", "/oauth/v1/token", [], "form", ("200", "TokenResponseIF")),
]
_PY_TYPES = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "object": {},
}


def _model(folder: Path, name: str) -> tuple[dict, dict, set[str], dict]:
    """A generated model class: its ``openapi_types``, ``attribute_map``, the attributes it
    refuses ``None`` for, and the ``allowed_values`` of each attribute that has them."""
    import ast

    for path in (folder / "models").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name == name:
                break
        else:
            continue
        values = {
            t.id: ast.literal_eval(a.value)
            for a in node.body
            if isinstance(a, ast.Assign)
            for t in a.targets
            if isinstance(t, ast.Name) and t.id in ("openapi_types", "attribute_map")
        }
        source = path.read_text()
        required = set(re.findall(r"Invalid value for `(\w+)`, must not be `None`", source))
        enums = {}
        for f in node.body:
            if isinstance(f, ast.FunctionDef):
                for a in ast.walk(f):
                    if (
                        isinstance(a, ast.Assign)
                        and getattr(a.targets[0], "id", "") == "allowed_values"
                    ):
                        enums[f.name] = ast.literal_eval(a.value)
        return values["openapi_types"], values["attribute_map"], required, enums
    raise KeyError(f"no model {name} in {folder}")


def _py_schema(kind: str, todo: list[str]) -> dict:
    if kind in _PY_TYPES:
        return dict(_PY_TYPES[kind])
    if kind.startswith("list["):
        return {"type": "array", "items": _py_schema(kind[5:-1], todo)}
    if kind.startswith(("dict[", "dict(")):
        inner = _py_schema(kind[5:-1].split(",", 1)[1].strip(), todo)
        return {"type": "object", "additionalProperties": {**inner, "nullable": True}}
    todo.append(kind)
    return {"$ref": f"#/components/schemas/{kind}"}


def hubspot(source: Path) -> None:
    """An OpenAPI 3.0 document of the operations above, their models as schemas: required
    where the client refuses ``None``, the other properties optional and nullable, enums
    where the client checks them, objects closed."""
    paths, schemas = {}, {}
    for module, api, method, path, params, body, (status, answer) in HUBSPOT:
        folder = source / "hubspot" / module
        if f'"{path}"' not in (folder / "api" / f"{api}.py").read_text():
            raise KeyError(f"{path} is not in {module}/api/{api}.py")
        todo = [m for m in (body, answer) if m not in (None, "form")]
        while todo:
            name = todo.pop()
            if name in schemas:
                continue
            types, names, required, enums = _model(folder, name)
            props = {}
            for attr, kind in types.items():
                props[names[attr]] = _py_schema(kind, todo)
                if attr in enums:
                    props[names[attr]]["enum"] = enums[attr]
                if attr not in required and "$ref" in props[names[attr]]:
                    props[names[attr]] = {
                        "anyOf": [props[names[attr]], {"type": "object", "nullable": True}]
                    }
                elif attr not in required:
                    props[names[attr]]["nullable"] = True
            schemas[name] = {"type": "object", "properties": props, "additionalProperties": False}
            need = sorted(names[a] for a in required if a in names)
            if need:
                schemas[name]["required"] = need
        op: dict = {
            "parameters": [
                {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                for n in re.findall(r"{([^}]+)}", path)
            ]
            + [
                {
                    "name": n,
                    "in": "query",
                    "schema": {"type": "array", "items": {"type": "string"}}
                    if t == "array"
                    else {"type": t},
                }
                for n, t in params
            ],
            "responses": {status: {"description": answer or "no content"}},
        }
        if answer:
            ref = {"$ref": f"#/components/schemas/{answer}"}
            op["responses"][status]["content"] = {"application/json": {"schema": ref}}
        if body == "form":  # the client's form fields; HubSpot takes more (code_verifier)
            fields = (
                "grant_type",
                "code",
                "redirect_uri",
                "client_id",
                "client_secret",
                "refresh_token",
            )
            form = {"type": "object", "properties": {f: {"type": "string"} for f in fields}}
            op["requestBody"] = {"content": {"application/x-www-form-urlencoded": {"schema": form}}}
        elif body:
            ref = {"$ref": f"#/components/schemas/{body}"}
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref}}}
        paths.setdefault(path, {})[method] = op
    doc = {
        "openapi": "3.0.3",
        "info": {"title": "HubSpot (from hubspot-api-client's models)", "version": "subset"},
        "paths": paths,
        "components": {"schemas": dict(sorted(schemas.items()))},
    }
    out = HERE / "hubspot"
    out.mkdir(exist_ok=True)
    (out / "openapi.json").write_text(json.dumps(doc, indent=1) + "\n")


VENDORS = {"google": google, "zoom": zoom, "msgraph": msgraph, "hubspot": hubspot}

if __name__ == "__main__":
    VENDORS[sys.argv[1]](Path(sys.argv[2]))
