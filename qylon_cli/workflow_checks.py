"""Checks across the fields of a workflow definition, which pydantic cannot make field by
field: a step is exactly one kind; step names are unique; templates parse and refer only
to declared inputs and to steps that run before. Each problem is (loc, message), with
the loc a pydantic-style path that ``workflow_defs`` turns into a line and a field.

They read the plain data rather than the model, so that they are reported together with
the field errors, not only once those are fixed.
"""

from __future__ import annotations

from . import workflow_templates as templates

KINDS = ("action", "sleep", "sleep_until", "wait_for")
ACTION_ONLY = ("with", "retry", "timeout", "compensate")


def across(data: dict) -> list[tuple[tuple, str]]:
    """Every problem across fields in ``data`` (a definition's plain data), as (loc, message)."""
    raw_steps = data.get("steps") if isinstance(data.get("steps"), list) else []
    steps = {i: step for i, step in enumerate(raw_steps) if isinstance(step, dict)}
    inputs = data.get("input") if isinstance(data.get("input"), dict) else {}
    out: list[tuple[tuple, str]] = []
    names: dict[str, int] = {}
    for index, step in steps.items():
        out += _step_shape(index, step)
        name = step.get("name")
        if not isinstance(name, str):
            continue
        if name in names:
            message = f"duplicate step name {name!r} (first at steps[{names[name]}])"
            out.append((("steps", index, "name"), message))
        names.setdefault(name, index)

    def resolver(index: int, *, itself: bool):
        def resolve(ref: tuple[str, ...]) -> str | None:
            if ref[0] == "input":
                if len(ref) > 1 and ref[1] not in inputs:
                    declared = ", ".join(map(str, inputs)) or "none"
                    return f"input.{ref[1]} is not declared under input: (declared: {declared})"
                return None
            if len(ref) < 3 or ref[2] not in templates.STEP_FIELDS:
                return "refer to a step as steps.NAME.output (or .status, .error)"
            target = names.get(ref[1])
            if target is None:
                return f"no step named {ref[1]!r}"
            if target == index and not itself:
                return f"a step cannot use its own results (its compensate can): {ref[1]!r}"
            if target > index:
                return (
                    f"step {ref[1]!r} (steps[{target}]) does not run before this one; "
                    "a step can use only the results of steps before it"
                )
            return None

        return resolve

    if isinstance(data.get("subject"), str):
        out += _templated(("subject",), data["subject"], resolver(-1, itself=False))
    for index, step in steps.items():
        before = resolver(index, itself=False)
        condition = step.get("if")
        if isinstance(condition, str):
            expression = condition.strip()
            if expression.startswith("{{") and expression.endswith("}}"):
                expression = expression[2:-2]
            problem = templates.check(expression, before)
            if problem:
                out.append((("steps", index, "if"), f"{condition.strip()}: {problem}"))
        if isinstance(step.get("with"), dict):
            out += _templated(("steps", index, "with"), step["with"], before)
        if isinstance(step.get("sleep_until"), str):
            out += _templated(("steps", index), {"sleep_until": step["sleep_until"]}, before)
        undo = step.get("compensate")
        if isinstance(undo, dict) and isinstance(undo.get("with"), dict):
            after = resolver(index, itself=True)
            out += _templated(("steps", index, "compensate", "with"), undo["with"], after)
    return out


def _step_shape(index: int, step: dict) -> list[tuple[tuple, str]]:
    """A step is exactly one of an action, a sleep or a wait_for; only an action takes
    parameters, retries, a timeout and a compensation."""
    kinds = [kind for kind in KINDS if step.get(kind) is not None]
    if len(kinds) != 1:
        found = f" (found {', '.join(kinds)})" if kinds else ""
        return [
            (("steps", index), f"give exactly one of action, sleep, sleep_until or wait_for{found}")
        ]
    if kinds == ["action"]:
        return []
    return [
        (("steps", index, key), f"only an action step takes {key}; this one is a {kinds[0]}")
        for key in ACTION_ONLY
        if step.get(key) is not None
    ]


def _templated(loc: tuple, params: dict, resolve) -> list[tuple[tuple, str]]:
    out = []
    for path, text in templates.strings(params):
        try:
            expressions = templates.placeholders(text)
        except templates.TemplateProblem as exc:
            out.append((loc + path, str(exc)))
            continue
        for expression in expressions:
            problem = templates.check(expression, resolve)
            if problem:
                out.append((loc + path, f"{{{{{expression}}}}}: {problem}"))
    return out
