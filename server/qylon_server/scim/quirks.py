"""What identity providers send that RFC 7644 or scim2-server does not take as it is.

scim2-models' policy (see ``app.POLICY``) already covers unknown attributes and schemas
(Entra's group schema, top-level nulls), Entra's ``remove`` with a value list and PATCH
paths whose filter matches nothing. What is left is rewritten here, before the request
is read:

- a filter value without quotes (``externalId eq jyoung``, from Entra's older examples);
- a manager given as a plain id (``"manager": "123"``) or as a list of one
  (``[{"value": "123"}]``, Entra's Example 5), where the enterprise schema has a complex
  ``{"value": "123", "$ref": "..."}`` (its ``$ref`` is required; we fill it in);
- enterprise attributes named without their schema, in a filter (``manager eq 123``,
  Entra's check before it changes a manager) or a PATCH path (``"path": "manager"``,
  which the lenient policy would otherwise ignore).
"""

from __future__ import annotations

import json
import re

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
OPERATORS = r"eq|ne|co|sw|ew|gt|ge|lt|le"
# an operator followed by a bare word that is not JSON (true, false, null, a number)
BARE = re.compile(
    rf'(?i)(\s(?:{OPERATORS})\s+)(?!(?:true|false|null)\b|-?\d[\d.eE+-]*(?:[\s)\]]|$)|")([^\s"()\[\]]+)'
)


# an enterprise attribute without its schema, compared (not followed by "." or "[")
UNQUALIFIED = re.compile(
    rf"(?i)(?<![\w:.])(manager|department|employeeNumber|costCenter|organization|division)(?=\s+(?:{OPERATORS}|pr)\b)"
)


def fix_filter(text: str) -> str:
    """``externalId eq jyoung`` -> ``externalId eq "jyoung"``; ``manager eq 1`` -> the
    enterprise ``manager.value``; anything else unchanged."""
    text = BARE.sub(lambda m: f"{m.group(1)}{json.dumps(m.group(2))}", " " + text)[1:]
    return UNQUALIFIED.sub(
        lambda m: (
            f"{ENTERPRISE}:{m.group(1)}" + (".value" if m.group(1).lower() == "manager" else "")
        ),
        text,
    )


def _manager(value):
    if isinstance(value, str):
        value = {"value": value} if value else None
    elif isinstance(value, list) and len(value) <= 1:
        value = value[0] if value else None
    if (
        isinstance(value, dict)
        and isinstance(value.get("value"), str)
        and value["value"]
        and not value.get("$ref")
    ):
        value = {**value, "$ref": f"Users/{value['value']}"}
    return value


def _fix_extension(document: dict) -> None:
    for key, ext in document.items():
        if key.lower() == ENTERPRISE.lower() and isinstance(ext, dict):
            for name in list(ext):
                if name.lower() == "manager":
                    ext[name] = _manager(ext[name])


ENTERPRISE_NAMES = (
    "manager",
    "department",
    "employeeNumber",
    "costCenter",
    "organization",
    "division",
)


def _qualified(path: str) -> str:
    """``manager`` -> ``urn:...:enterprise:2.0:User:manager``; other paths unchanged."""
    head = re.split(r"[.\[]", path.strip(), maxsplit=1)[0]
    if head.lower() in {n.lower() for n in ENTERPRISE_NAMES}:
        return f"{ENTERPRISE}:{path.strip()}"
    return path


def _is_manager_path(path: str) -> bool:
    return _qualified(path).strip().lower() == f"{ENTERPRISE.lower()}:manager"


def fix_body(body: bytes, method: str, path: str = "") -> bytes:
    """Normalise the manager in a resource (POST/PUT) or in PATCH operations; a user
    created without ``active`` is active (our schema makes it required, as a Qylon user is
    always active or not, so a replacement must say which)."""
    if not body or method not in ("POST", "PUT", "PATCH"):
        return body
    try:
        document = json.loads(body)
    except ValueError:
        return body  # the service answers invalidSyntax
    if not isinstance(document, dict):
        return body
    before = json.dumps(document, sort_keys=True)
    if method == "POST" and path.rstrip("/").lower().endswith("/users"):
        document.setdefault("active", True)
    _fix_extension(document)
    for op in document.get("Operations") or []:
        if not isinstance(op, dict):
            continue
        path, value = op.get("path"), op.get("value")
        if isinstance(path, str):
            op["path"] = path = _qualified(path)
        if isinstance(path, str) and _is_manager_path(path):
            manager = _manager(value)
            if isinstance(manager, dict) and manager.get("value"):
                op["value"] = manager
            else:  # an empty manager clears it
                op["op"] = "remove"
                op.pop("value", None)
        elif isinstance(value, dict):
            _fix_extension(value)
            for name in list(value):
                if _is_manager_path(name):
                    value[name] = _manager(value[name])
    if json.dumps(document, sort_keys=True) == before:
        return body
    return json.dumps(document).encode()
