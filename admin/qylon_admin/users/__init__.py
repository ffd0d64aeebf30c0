"""Bulk user provisioning on the client side: read a CSV, validate it, plan the changes.

The pieces, each usable alone:

- ``reader.open_source(path)`` detects encoding, delimiter and the header, then streams
  rows with the row numbers a spreadsheet shows;
- ``columns.resolve(header, overrides)`` maps the file's columns to Qylon's fields;
- ``validate.validate(source, ...)`` checks every row and the rules across rows
  (unique emails, managers, cycles) without keeping the file in memory;
- ``plan.Planner`` turns valid rows and the existing users into create / update /
  unchanged / skip / deactivate;
- ``writer.write_users`` and ``report.ReportWriter`` write what the reader reads back
  and each row's outcome.

Only ``remote`` (the server's users and groups) and ``apply`` (the plan in batches to
the bulk endpoint) talk to the server, through the API client they are given.
This package imports pydantic, email-validator and phonenumbers: never import it from
module level of anything ``qylon --help`` loads.
"""
