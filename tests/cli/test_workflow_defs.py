"""Workflow definitions: the shipped examples, every kind of error with its line and field,
the published JSON Schema, and `qylon workflows validate|schema`."""

from __future__ import annotations

import hashlib
import json
import textwrap

import jsonschema_rs
import pytest
import yaml

from qylon_cli import workflow_defs
from qylon_cli.workflow_yaml import CoreLoader

from ..conftest import REPO

EXAMPLES = sorted((REPO / "config" / "workflows").glob("*.yaml"))
SCHEMA_FILE = REPO / "docs" / "workflow.schema.json"


def check(text: str) -> workflow_defs.Checked:
    return workflow_defs.check(textwrap.dedent(text).lstrip("\n"), "wf.yaml")


def only_problem(text: str) -> workflow_defs.Problem:
    result = check(text)
    assert not result.valid
    assert len(result.problems) == 1, [p.format("wf.yaml") for p in result.problems]
    return result.problems[0]


HEAD = """
name: demo
version: 1
input:
  email: {type: string, required: true}
steps:
"""


# -- the shipped examples ---------------------------------------------------------------


def test_every_shipped_example_is_valid_and_matches_the_published_schema():
    names = {path.name for path in EXAMPLES}
    assert {"offboard-consultant.yaml", "onboard-consultant.yaml", "meeting-follow-up.yaml"} <= (
        names
    )
    validator = jsonschema_rs.validator_for(json.loads(SCHEMA_FILE.read_text()))
    for path in EXAMPLES:
        result = workflow_defs.check_file(path)
        assert result.valid, [p.format(path.name) for p in result.problems]
        assert result.name == path.stem
        assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        validator.validate(yaml.load(path.read_text(), Loader=CoreLoader))


def test_offboarding_deactivates_revokes_reassigns_notifies_and_can_undo_the_deactivation():
    definition = workflow_defs.load(
        (REPO / "config/workflows/offboard-consultant.yaml").read_text()
    )
    assert [(s.name, s.action) for s in definition.steps] == [
        ("deactivate", "users.deactivate"),
        ("revoke_keys", "keys.revoke"),
        ("reassign_items", "action_items.reassign"),
        ("notify_manager", "notify"),
    ]
    assert definition.steps[0].compensate.action == "users.reactivate"
    assert definition.steps[0].retry.retry_on == ["unavailable", "conflict"]
    assert definition.input["email"].required
    assert workflow_defs.seconds(definition.timeout) == 3600


def test_a_valid_definition_with_every_kind_of_step():
    result = check(
        HEAD
        + """
          - name: find
            action: users.get
            with: {email: "{{ input.email }}"}
            retry: {max_attempts: 2, initial_interval: 1s, backoff_rate: 1.5, max_interval: 10s,
                    retry_on: [unavailable]}
            timeout: 30s
            compensate:
              action: notify
              with: {text: "undoing {{ steps.find.output.id }}"}
          - name: pause
            sleep: 5m
          - name: approval
            if: steps.find.output.manager is defined and steps.find.status == "completed"
            wait_for: {signal: approved, timeout: 7d}
          - name: tell
            if: "{{ steps.approval.output.ok | default(false) }}"
            action: notify
            with:
              to: ["{{ steps.find.output.manager | lower }}", "{{ input.email }}"]
              text: "{{ steps.approval.output['note'] if steps.approval.output else 'none' }}"
        """
    )
    assert result.valid, [p.format("wf.yaml") for p in result.problems]
    steps = result.definition.steps
    assert [s.kind for s in steps] == ["action", "sleep", "wait_for", "action"]
    assert workflow_defs.seconds(steps[2].wait_for.timeout) == 7 * 86400


# -- errors name the line and the field ---------------------------------------------------


@pytest.mark.parametrize(
    ("yaml_text", "line", "field", "message"),
    [
        (  # a key the model does not know, with the one it looks like
            "name: demo\nversion: 1\nsteps:\n  - name: a\n    action: notify\n    retyr: {}\n",
            6,
            "steps[0].retyr",
            "did you mean 'retry'?",
        ),
        (
            "name: demo\nversion: 1\nsteps:\n  - name: a\n    sleep: 10 minutes\n",
            5,
            "steps[0].sleep",
            "is not a duration",
        ),
        (
            "name: demo\nversion: 1\nsteps:\n  - name: a\n    sleep: 0s\n",
            5,
            "steps[0].sleep",
            "more than zero",
        ),
        (
            (
                "name: demo\nversion: 1\nsteps:\n  - name: a\n    action: notify\n"
                "    retry:\n      max_attempts: 0\n"
            ),
            7,
            "steps[0].retry.max_attempts",
            "must be at least 1",
        ),
        (
            (
                "name: demo\nversion: 1\nsteps:\n  - name: a\n    sleep: 1s\n"
                "  - name: b\n    sleep: 1s\n  - name: a\n    sleep: 2s\n"
            ),
            8,
            "steps[2].name",
            "duplicate step name 'a' (first at steps[0])",
        ),
        (  # a step refers to one that runs after it
            (
                "name: demo\nversion: 1\nsteps:\n  - name: a\n    action: notify\n"
                "    with:\n      to: '{{ steps.b.output.email }}'\n  - name: b\n    sleep: 1s\n"
            ),
            7,
            "steps[0].with.to",
            "step 'b' (steps[1]) does not run before this one",
        ),
        (
            (
                "name: demo\nversion: 1\nsteps:\n  - name: a\n    action: notify\n"
                "    if: steps.ghost.output.ok\n"
            ),
            6,
            "steps[0].if",
            "no step named 'ghost'",
        ),
        (
            (
                "name: demo\nversion: 1\nsteps:\n  - name: a\n    action: notify\n"
                "    with: {to: '{{ input.nobody }}'}\n"
            ),
            6,
            "steps[0].with.to",
            "input.nobody is not declared",
        ),
        (
            (
                "name: demo\nversion: 1\nsteps:\n  - name: a\n    action: notify\n"
                "    with:\n      text: 'Hello {{ input.email'\n"
            ),
            7,
            "steps[0].with.text",
            "a {{ is not closed by }}",
        ),
        (
            (
                "name: demo\nversion: 1\nsteps:\n  - name: a\n    action: notify\n"
                "    with:\n      text: '{{ steps.a.output | lower( }}'\n"
            ),
            7,
            "steps[0].with.text",
            "bad syntax",
        ),
        (
            (
                "name: demo\nversion: 1\nsteps:\n  - name: a\n    action: notify\n"
                '    with:\n      text: \'{{ __import__("os").system("x") }}\'\n'
            ),
            7,
            "steps[0].with.text",
            "not allowed",
        ),
        (
            (
                "name: demo\nversion: 1\nsteps:\n  - name: a\n    action: notify\n"
                "    with:\n      text: '{% if true %}x{% endif %}'\n"
            ),
            7,
            "steps[0].with.text",
            "blocks are not allowed",
        ),
        (
            "name: demo\nversion: 1\nsteps:\n  - name: a\n    action: notify\n    sleep: 1s\n",
            4,
            "steps[0]",
            "give exactly one of action, sleep, sleep_until or wait_for (found action, sleep)",
        ),
        (
            "name: demo\nversion: 1\nsteps:\n  - name: a\n    sleep: 1s\n    retry: {}\n",
            6,
            "steps[0].retry",
            "only an action step takes retry",
        ),
        (
            "name: demo\nversion: 1\nsteps:\n  - name: a\n    wait_for: {signal: go}\n",
            5,
            "steps[0].wait_for.timeout",
            "required",
        ),
        (
            "name: Demo Flow\nversion: 1\nsteps:\n  - name: a\n    sleep: 1s\n",
            1,
            "name",
            "is not a workflow name",
        ),
        (
            (
                "name: demo\nversion: 1\ninput:\n  n: {type: integer, default: many}\n"
                "steps:\n  - name: a\n    sleep: 1s\n"
            ),
            4,
            "input.n",
            'default "many" is not of type integer',
        ),
        ("name: demo\nversion: 1\nsteps: []\n", 3, "steps", "at least 1 item"),
        (  # no coercion: the JSON Schema would refuse a quoted number too
            (
                "name: demo\nversion: 1\nsteps:\n  - name: a\n    action: notify\n"
                "    retry: {max_attempts: '3'}\n"
            ),
            6,
            "steps[0].retry.max_attempts",
            "must be a whole number",
        ),
    ],
)
def test_each_error_names_its_line_and_field(yaml_text, line, field, message):
    problem = only_problem(yaml_text)
    assert (problem.line, problem.field) == (line, field)
    assert message in problem.message
    assert problem.format("wf.yaml").startswith(f"wf.yaml:{line}: {field}: ")


def test_on_stays_a_string_key_and_is_refused_with_a_hint_to_use_retry_on():
    problem = only_problem(
        """
        name: demo
        version: 1
        steps:
          - name: a
            action: notify
            retry:
              max_attempts: 3
              on: [unavailable]
        """
    )
    assert (problem.line, problem.field) == (8, "steps[0].retry.on")
    assert "retry_on" in problem.message


def test_yaml_1_1_booleans_sexagesimals_octals_and_dates_stay_what_they_look_like():
    result = check(
        HEAD
        + """
          - name: a
            action: notify
            with: {on: yes, off: no, y: Y, n: n, time: 1:30, day: 2026-12-05, code: 010,
                   hex: 0x1F, t: true, f: False, nothing: ~}
        """
    )
    assert result.valid, [p.format("wf.yaml") for p in result.problems]
    assert result.definition.steps[0].with_ == {
        "on": "yes",
        "off": "no",
        "y": "Y",
        "n": "n",
        "time": "1:30",
        "day": "2026-12-05",
        "code": 10,
        "hex": 31,
        "t": True,
        "f": False,
        "nothing": None,
    }


def test_a_key_given_twice_is_an_error_at_the_second():
    result = check(
        """
        name: demo
        version: 1
        steps:
          - name: a
            action: notify
            with:
              to: boss@example.com
              to: everyone@example.com
        """
    )
    assert [(p.line, p.field, p.message) for p in result.problems] == [
        (8, "steps[0].with.to", "given twice (first on line 7)")
    ]


def test_several_errors_are_all_reported_in_line_order():
    result = check(
        """
        name: demo
        version: one
        steps:
          - name: a
            sleep: 1 day
          - name: a
            action: notify
            with: {to: "{{ steps.zed.output }}"}
        """
    )
    assert [(p.line, p.field) for p in result.problems] == [
        (2, "version"),
        (5, "steps[0].sleep"),
        (6, "steps[1].name"),
        (8, "steps[1].with.to"),
    ]


@pytest.mark.parametrize(
    ("data", "line", "message"),
    [
        (b"", None, "the file is empty"),
        (b"# only a comment\n", None, "the file is empty"),
        (b"- name: a\n- name: b\n", 1, "is a mapping (name:, version:, steps:), not a list"),
        (b"just words\n", 1, "not a string"),
        (b"name: demo\nversion: 1\ndescription: caf\xe9\n", 3, "not UTF-8"),
        (b"name: demo\nsteps: [\n", 3, "not valid YAML"),
        (b"name: &n demo\nversion: 1\ndescription: *n\n", 3, "aliases (*n) are not allowed"),
        (b"name: a\n---\nname: b\n", 2, "not valid YAML"),
        (b"#" * (256 * 1024 + 1), None, "larger than 256 KiB"),
        (b"name: demo\nversion: 1\ndescription: !!binary aGk=\n", 3, "tag:yaml.org,2002:binary"),
        (b"name: !!python/name:os.system x\n", 1, "is not allowed"),
        (b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", None, "nested too deeply"),
        (b"name: de\x01mo\nversion: 1\n", None, "unacceptable character #x0001"),
    ],
)
def test_files_that_are_no_definition_at_all(data, line, message):
    result = workflow_defs.check(data, "wf.yaml")
    assert not result.valid
    [problem] = result.problems
    assert problem.line == line and problem.field is None
    assert message in problem.message
    assert result.sha256 == hashlib.sha256(data).hexdigest()


def test_a_byte_order_mark_is_fine_and_counted_in_the_hash():
    data = b"\xef\xbb\xbf" + EXAMPLES[0].read_bytes()
    result = workflow_defs.check(data, "bom.yaml")
    assert result.valid and result.sha256 == hashlib.sha256(data).hexdigest()


def test_load_raises_an_invalid_input_error_listing_every_problem():
    with pytest.raises(workflow_defs.WorkflowInvalid) as caught:
        workflow_defs.load("name: demo\nversion: 0\nsteps: []\n", "bad.yaml")
    error = caught.value
    assert error.exit_code == 3 and error.code == "workflow_invalid"
    assert "bad.yaml:2: version: must be at least 1" in error.message
    assert {e["field"] for e in error.to_dict()["errors"]} == {"version", "steps"}


def test_durations():
    assert [workflow_defs.seconds(d) for d in ("30s", "5m", "2h", "7d")] == [
        30,
        300,
        7200,
        604800,
    ]
    assert "longer than a year" in only_problem(HEAD + "  - name: a\n    sleep: 400d\n").message


# -- the published schema ------------------------------------------------------------------


def test_the_published_schema_is_current_and_refuses_what_the_model_refuses():
    published = json.loads(SCHEMA_FILE.read_text())
    assert published == workflow_defs.json_schema(), (
        "docs/workflow.schema.json is out of date: run `make docs`"
    )
    validator = jsonschema_rs.validator_for(published)
    step = {"name": "a", "action": "notify"}
    assert validator.is_valid({"name": "demo", "version": 1, "steps": [step]})
    for bad in (
        {"name": "demo", "version": 1, "steps": [{**step, "sleep": "1s"}]},
        {"name": "demo", "version": 1, "steps": [{**step, "retry": {"on": ["x"]}}]},
        {"name": "demo", "version": 1, "steps": [{"name": "a", "sleep": "5 minutes"}]},
        {"name": "demo", "version": 1, "steps": []},
    ):
        assert not validator.is_valid(bad), bad


# -- the CLI -------------------------------------------------------------------------------


def test_validate_cli_lists_every_file_and_exits_0_when_all_are_valid(qylon):
    result = qylon("workflows", "validate", *map(str, EXAMPLES), "--json")
    assert result.code == 0, result.stderr
    page = result.json["data"]
    assert page["total"] == len(EXAMPLES) and page["limit"] is None
    offboard = next(i for i in page["items"] if i["name"] == "offboard-consultant")
    path = REPO / "config/workflows/offboard-consultant.yaml"
    assert offboard == {
        "file": str(path),
        "valid": True,
        "name": "offboard-consultant",
        "version": 1,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "errors": [],
    }


def test_validate_cli_exits_3_naming_file_line_and_field(qylon, tmp_path):
    bad = tmp_path / "offboard.yaml"
    bad.write_text(
        "name: offboard\nversion: 1\nsteps:\n  - name: a\n    action: notify\n"
        "    retry:\n      max_attempts: 0\n"
    )
    good = EXAMPLES[0]
    result = qylon("workflows", "validate", str(bad), str(good), "--json")
    assert result.code == 3
    error = result.json["error"]
    assert error["code"] == "workflow_invalid"
    assert "1 of 2" in error["message"]
    first, second = error["items"]
    assert first["valid"] is False and second["valid"] is True
    assert first["errors"] == [
        {"line": 7, "field": "steps[0].retry.max_attempts", "message": "must be at least 1"}
    ]
    human = qylon("workflows", "validate", str(bad))
    assert human.code == 3
    assert f"{bad}:7: steps[0].retry.max_attempts: must be at least 1" in human.stdout
    assert "1 of 1 definition(s) invalid" in human.stderr


def test_validate_cli_usage_errors_and_standard_input(qylon):
    missing = qylon("workflows", "validate", "no-such.yaml", "--json")
    assert missing.code == 2 and missing.json["error"]["code"] == "usage_error"
    assert qylon("workflows", "validate").code == 2
    piped = qylon(
        "workflows", "validate", "-", "--jq", ".data.items[0].name", input=EXAMPLES[0].read_text()
    )
    assert piped.code == 0 and piped.stdout.strip() == EXAMPLES[0].stem


def test_schema_cli_prints_the_published_schema(qylon):
    result = qylon("workflows", "schema")
    assert result.code == 0
    assert json.loads(result.stdout) == json.loads(SCHEMA_FILE.read_text())
