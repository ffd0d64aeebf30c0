"""Durable workflows (issue 19): definitions (``qylon_cli.workflow_defs``) run by one DBOS
workflow, ``qylon.run`` (``interpreter``), with actions from ``actions``; ``engine``
launches DBOS in the server process and ``service`` starts runs from requests."""
