"""The plugin host: pluggy hook specifications, entry-point group ``qylon``.

Qylon's own command groups (default plugins), the parts (agent, server) and integrations
register through the same hooks. Every hook takes a ``register`` callback; an
implementation is named as a ``"module:attr"`` string wherever it can be, so that
``qylon --help`` imports nothing heavy. See docs/plugins.md.

Each entry point loads on its own: one that fails to import is recorded (``qylon plugins
list`` shows it with the error) and the others still load. Two plugins registering the
same name fail loudly (``PluginConflict`` names both).

Set ``QYLON_LOAD_PLUGINS`` to a comma-separated list of entry-point names to load only
those (an empty value loads none), as llm does with ``LLM_LOAD_PLUGINS``. The default
plugins always load.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from .errors import QylonError

hookspec = pluggy.HookspecMarker("qylon")
hookimpl = pluggy.HookimplMarker("qylon")

ENTRY_POINT_GROUP = "qylon"
PROVIDER_KINDS = ("crm", "video", "calendar")
DEFAULT_PLUGINS = ("qylon_cli.default_plugins.core",)


class Hookspecs:
    @hookspec
    def register_commands(self, register: Callable) -> None:
        """Add command groups: ``register(typer_app, name="meeting", help="...")``."""

    @hookspec
    def register_providers(self, register: Callable) -> None:
        """Add providers: ``register(kind="crm", name="hubspot", factory="pkg.mod:Class", auth="oauth")``."""

    @hookspec
    def register_actions(self, register: Callable) -> None:
        """Add workflow actions: ``register("hubspot.create_note", "pkg.mod:fn", input="pkg.mod:Model",
        compensate="pkg.mod:undo")``."""

    @hookspec
    def register_workflows(self, register: Callable) -> None:
        """Add workflow definitions: ``register("hubspot.sync", "pkg/workflows/sync.yaml")`` (a path
        inside the plugin's package: ``"package:relative/path.yaml"``)."""

    @hookspec
    def register_settings(self, register: Callable) -> None:
        """Add a settings section: ``register("hubspot", {"portal_id": int, "sandbox": False})``:
        each key's type, or a default whose type is used."""

    @hookspec
    def register_routers(self, register: Callable) -> None:
        """Add server routers: ``register("pkg.api:router")`` (an ``APIRouter``), after the built-in ones."""

    @hookspec
    def register_report_sources(self, register: Callable) -> None:
        """Add where a report reads this device's data: ``register("meetings", "pkg.mod:fn")``;
        ``fn(client=None, since=None)`` returns the records the report is computed from
        (qylon_cli/reports/meetings.py describes a meeting's)."""


class PluginConflict(QylonError):
    code = "plugin_conflict"


class PluginError(QylonError):
    code = "plugin_error"


@dataclass
class Registration:
    """One thing a plugin registered: its name, the plugin it came from and the details."""

    name: str
    plugin: str
    target: Any = None
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StepContext:
    """What a plugin's workflow action (or its compensation) may ask for by declaring a
    ``context`` parameter: the run and step it serves, a key stable across its retries and
    recoveries (send it to services that deduplicate), and the attempt's deadline."""

    org_id: str
    run_id: str
    step: str
    deadline: float | None = None  # epoch seconds; the attempt is undone after it

    @property
    def idempotency_key(self) -> str:
        return f"{self.run_id}.{self.step}"

    def remaining(self, cap: float) -> float:
        """Seconds left before the deadline, at most ``cap`` (a network call's timeout)."""
        import time

        return cap if self.deadline is None else max(0.0, min(cap, self.deadline - time.time()))


def wants_context(fn: Callable) -> bool:
    """Whether a plugin's function takes ``context`` (a ``StepContext``)."""
    import inspect

    try:
        return "context" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def resolve(target: Any) -> Any:
    """Import a ``"module:attr"`` string (anything else is returned as it is)."""
    if not isinstance(target, str):
        return target
    module, _, attr = target.partition(":")
    if not attr:
        raise PluginError(
            f"{target!r} is not a 'module:attr' name.",
            hint="Name it as 'package.module:attribute'.",
        )
    value: Any = importlib.import_module(module)
    for part in attr.split("."):
        value = getattr(value, part)
    return value


# -- loading -------------------------------------------------------------------------------


class _Host:
    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("qylon")
        self.pm.add_hookspecs(Hookspecs)
        self.failures: list[dict] = []
        self.dists: dict[str, metadata.Distribution | None] = {}
        self._registries: dict[str, dict[str, Registration]] = {}

    def load(self) -> None:
        for module in DEFAULT_PLUGINS:
            self.pm.register(importlib.import_module(module), name=module.rsplit(".", 1)[-1])
            self.dists[module.rsplit(".", 1)[-1]] = None
        wanted = os.environ.get("QYLON_LOAD_PLUGINS")
        names = None if wanted is None else {n.strip() for n in wanted.split(",") if n.strip()}
        seen: set[str] = set()
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if (names is not None and ep.name not in names) or ep.name in seen:
                continue
            seen.add(ep.name)
            self.load_entry_point(ep)

    def load_entry_point(self, ep: metadata.EntryPoint) -> None:
        dist = getattr(ep, "dist", None)
        try:
            if self.pm.has_plugin(ep.name):
                raise PluginConflict(f"Two plugins are named {ep.name!r}.")
            self.pm.register(ep.load(), name=ep.name)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not take the host down
            self.failures.append(
                {
                    "name": ep.name,
                    "package": dist.metadata["Name"] if dist else None,
                    "version": dist.version if dist else None,
                    "error": f"{type(exc).__name__}: {exc}",
                }
            )
            return
        self.dists[ep.name] = dist

    def call(self, hook: str, register_for: Callable[[str], Callable]) -> None:
        """Call one hook, plugin by plugin (in pluggy's order), with a ``register`` bound to each."""
        caller = getattr(self.pm.hook, hook)
        for impl in reversed(caller.get_hookimpls()):
            try:
                impl.function(register=register_for(impl.plugin_name))
            except PluginConflict:
                raise
            except Exception as exc:  # noqa: BLE001 - one plugin's failure is listed, not fatal
                self.failures.append(
                    {
                        "name": impl.plugin_name,
                        "package": None,
                        "version": None,
                        "error": f"{hook}: {type(exc).__name__}: {exc}",
                    }
                )

    def registry(
        self, kind: str, hook: str, make: Callable[..., Registration]
    ) -> dict[str, Registration]:
        """Everything registered through ``hook``, by name; the same name twice raises PluginConflict."""
        if kind not in self._registries:
            found: dict[str, Registration] = {}

            def register_for(plugin: str) -> Callable:
                def register(*args, **kwargs) -> None:
                    entry = make(plugin, *args, **kwargs)
                    claim(found, kind, entry)

                return register

            self.call(hook, register_for)
            self._registries[kind] = found
        return self._registries[kind]


def claim(found: dict[str, Registration], kind: str, entry: Registration) -> None:
    """Record ``entry`` under its name, refusing a name another plugin already took."""
    if entry.name in found:
        other = found[entry.name].plugin
        raise PluginConflict(
            f"The {kind} {entry.name!r} is registered by two plugins: {other!r} and {entry.plugin!r}.",
            hint="Uninstall one of them, or keep one out with QYLON_LOAD_PLUGINS.",
        )
    found[entry.name] = entry


_host: _Host | None = None


def host() -> _Host:
    global _host
    if _host is None:
        made = _Host()
        made.load()
        _host = made
    return _host


def manager() -> pluggy.PluginManager:
    return host().pm


def reset() -> None:
    """Forget what was loaded (tests)."""
    global _host
    _host = None


# -- what the hooks registered -------------------------------------------------------------


def _provider(
    plugin: str, *, kind: str, name: str, factory: str, auth: Any = None, **options
) -> Registration:
    if kind not in PROVIDER_KINDS:
        raise PluginError(
            f"Plugin {plugin!r} registers a provider of unknown kind {kind!r}.",
            hint=f"A provider's kind is one of: {', '.join(PROVIDER_KINDS)}.",
        )
    return Registration(
        f"{kind}:{name}", plugin, factory, {"kind": kind, "name": name, "auth": auth, **options}
    )


def _action(
    plugin: str, name: str, impl: str, *, input: Any = None, compensate: Any = None
) -> Registration:
    return Registration(name, plugin, impl, {"input": input, "compensate": compensate})


def _workflow(plugin: str, name: str, source: str) -> Registration:
    return Registration(name, plugin, source)


def _section(
    plugin: str, section: str, keys: dict[str, Any], *, help: str | None = None
) -> Registration:
    return Registration(section, plugin, dict(keys), {"help": help})


def _router(plugin: str, router: str, **options) -> Registration:
    return Registration(router, plugin, router, options)


def providers() -> dict[str, Registration]:
    """Providers by ``"kind:name"`` (``"crm:hubspot"``)."""
    return host().registry("provider", "register_providers", _provider)


def provider(kind: str, name: str) -> Any:
    """An instance of a registered provider."""
    from .errors import NotFound

    entry = providers().get(f"{kind}:{name}")
    if entry is None:
        known = sorted(e.options["name"] for e in providers().values() if e.options["kind"] == kind)
        raise NotFound(
            f"No {kind} provider named {name!r}.", hint=f"Installed: {', '.join(known) or 'none'}."
        )
    return resolve(entry.target)()


# Integrations Qylon knows of, and the distribution that brings each (``qylon[integrations]``
# brings them all): a command that needs one that is not installed names what to install.
INTEGRATIONS = {
    "hubspot": "qylon-hubspot",
    "salesforce": "qylon-salesforce",
    "zoom": "qylon-zoom",
    "msgraph": "qylon-msgraph",
    "google": "qylon-google",
}
# Providers named apart from the integration that brings them (``--from teams``).
PROVIDED_BY = {"teams": "msgraph", "meet": "google"}
INTEGRATIONS_EXTRA = "integrations"


def integration_of(entry: Registration) -> str:
    """The integration a provider belongs to (signed in as one): its ``integration``
    option, else its own name."""
    return entry.options.get("integration") or entry.options["name"]


def missing_integration(name: str, what: str) -> QylonError:
    """The usage error (exit 2) for an integration that is not installed."""
    from .errors import UsageError

    dist = INTEGRATIONS.get(PROVIDED_BY.get(name, name))
    if dist is None:
        known = sorted({e.options["name"] for e in providers().values()} | set(INTEGRATIONS))
        return UsageError(
            f"No integration named {name!r}.", hint=f"Known integrations: {', '.join(known)}."
        )
    return UsageError(
        f"{what} needs the {name} integration, which is not installed.",
        hint=f"Install it with: pip install 'qylon[{INTEGRATIONS_EXTRA}]' (or {dist}).",
    )


def require(kind: str, name: str, what: str) -> Any:
    """An instance of the ``kind`` provider ``name``; a usage error naming the extra to
    install when no plugin registers it."""
    if f"{kind}:{name}" not in providers():
        raise missing_integration(name, what)
    return provider(kind, name)


def actions() -> dict[str, Registration]:
    return host().registry("workflow action", "register_actions", _action)


def workflows() -> dict[str, Registration]:
    return host().registry("workflow", "register_workflows", _workflow)


def workflow_text(name: str) -> str:
    """The YAML of a registered workflow: ``"package:relative/path.yaml"`` inside the plugin's package."""
    from importlib import resources

    source = workflows()[name].target
    package, _, relative = source.partition(":")
    return resources.files(package).joinpath(*relative.split("/")).read_text("utf-8")


def settings_sections() -> dict[str, Registration]:
    return host().registry("settings section", "register_settings", _section)


def routers() -> list[Registration]:
    return list(host().registry("router", "register_routers", _router).values())


def report_sources() -> dict[str, Registration]:
    """Local report sources by report name (``"meetings"``: the agent's store)."""
    return host().registry("report source", "register_report_sources", _report_source)


def _report_source(plugin: str, name: str, target: str) -> Registration:
    return Registration(name, plugin, target)


def describe() -> list[dict]:
    """What is loaded and what failed: name, distribution, version, hooks (or the error)."""
    h = host()
    rows = []
    for name, plugin in h.pm.list_name_plugin():
        dist = h.dists.get(name)
        rows.append(
            {
                "name": name,
                "package": dist.metadata["Name"] if dist else "qylon",
                "version": dist.version if dist else _own_version(),
                "hooks": sorted(c.name for c in h.pm.get_hookcallers(plugin) or []),
                "error": None,
            }
        )
    rows.extend({**failure, "hooks": []} for failure in h.failures)
    return rows


def _own_version() -> str:
    from . import __version__

    return __version__
