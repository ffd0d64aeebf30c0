"""Roles, scopes and the permissions each grants. A request may do what both allow.

A user's role bounds what any of their keys can do; a key's scopes narrow it further.
"""

from __future__ import annotations

ROLES = ("member", "manager", "admin", "owner")  # ascending

READ = {
    "clients:read",
    "meetings:read",
    "action_items:read",
    "users:read",
    "api_keys:read",
    "workflows:read",
    "compliance:read",
    "notifications:read",
    "transcription:read",
}
MEMBER = READ | {
    "meetings:write",
    "action_items:write",
    "api_keys:own",
    "compliance:own",
    "notifications:own",
    "transcription:submit",
    "transcription:work",
}
MANAGER = MEMBER | {"clients:write"}
ADMIN = MANAGER | {
    "users:write",
    "api_keys:admin",
    "audit:read",
    "events:read",
    "workflows:run",
    "workflows:admin",
    "onboarding:admin",
    "experiments:read",
    "experiments:admin",
    "engagement:read",
    "engagement:admin",
    "compliance:admin",
    "webhooks:admin",
    "notifications:admin",
    "integrations:admin",
    "transcription:admin",
}
OWNER = ADMIN | {"users:owner"}

BY_ROLE = {"member": MEMBER, "manager": MANAGER, "admin": ADMIN, "owner": OWNER}

WRITE = {
    "meetings:write",
    "action_items:write",
    "clients:write",
    "api_keys:own",
    "compliance:own",
    "notifications:own",
    "transcription:submit",
}
BY_SCOPE = {
    "read": READ,
    "write": READ | WRITE,
    "admin": OWNER,
    "scim": set(),  # issue 7: SCIM provisioning endpoints check this scope by name
    # a transcription worker's key (docs/workers.md): takes jobs, reads their audio,
    # posts the meetings back, and nothing else
    "transcribe": {"transcription:work"},
}


def granted(role: str, scopes: list[str]) -> set[str]:
    from_scopes: set[str] = set()
    for scope in scopes:
        from_scopes |= BY_SCOPE.get(scope, set())
    return BY_ROLE.get(role, set()) & from_scopes


def rank(role: str) -> int:
    return ROLES.index(role)


def scopes_allowed(role: str) -> set[str]:
    """The scopes a user of this role may put on a key."""
    allowed = {"read", "write", "transcribe"}
    if rank(role) >= rank("admin"):
        allowed |= {"admin", "scim"}
    return allowed
