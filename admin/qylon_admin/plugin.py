"""The admin part registers its command groups with the host through the plugin hooks.

Kept light: importing this module must not import pydantic, email-validator or phonenumbers.
"""

from __future__ import annotations

from qylon_cli.plugins import hookimpl


@hookimpl
def register_commands(register):
    # Named, not imported: a group's module loads only when a command line names it.
    register(
        "qylon_admin.cli.users:app",
        name="users",
        help="Users on the team server: one at a time, or in bulk from a CSV (Google Workspace, "
        "Entra ID, Okta or Qylon's own).\n\n"
        "Example: qylon users validate people.csv",
    )
    register(
        "qylon_admin.cli.groups:app",
        name="groups",
        help="Groups of users on the team server: list, show, create, delete, add and remove members.\n\n"
        "Example: qylon groups add-member Sales ann@example.com",
    )
    register(
        "qylon_admin.cli.audit:app",
        name="audit",
        help="The team server's audit trail: who changed what, when, with which key.\n\n"
        "Example: qylon audit list --action user.update --since 7d",
    )
    register(
        "qylon_admin.cli.experiments:app",
        name="experiments",
        help="A/B tests of sequences and templates: create, start, stop, list, results.\n\n"
        "Example: qylon experiments create welcome-subject --variants a=50,b=50 "
        "--on sequence:new-consultant --sequence b=new-consultant-short --goal onboarding.completed",
    )
    register(
        "qylon_admin.cli.onboarding:app",
        name="onboarding",
        help="Onboarding on the team server: email sequences (start, status, stop), who is at "
        "risk, and the re-engagement rules.\n\n"
        "Example: qylon onboarding start --user ana@firm.example --sequence new-consultant",
    )
    register(
        "qylon_admin.cli.compliance:app",
        name="compliance",
        help="Compliance policies, assignments, evidence and reports on the team server.\n\n"
        "Example: qylon compliance status --overdue",
    )
    register(
        "qylon_admin.cli.webhooks:app",
        name="webhooks",
        help="Signed webhooks: subscribe an https endpoint to event types, test it, read the "
        "delivery log, redeliver.\n\n"
        "Example: qylon webhooks create https://hooks.example.com/qylon --event meeting.stored "
        "--event compliance.item_escalated",
    )
    register(
        "qylon_admin.cli.notifications:app",
        name="notifications",
        help="Your email notifications: a daily digest of your open and overdue action items, "
        "and emails about events that concern you.\n\n"
        "Example: qylon notifications set --digest daily --hour 8 --events meeting.stored",
    )
