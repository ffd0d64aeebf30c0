"""Qylon's administration part (dist "qylon-admin"): bulk user provisioning, `qylon users`.

``users/`` is the library (read, check, plan and apply a user file); ``cli/`` holds the
commands, registered with the host through ``plugin.py``. It imports only ``qylon_cli``.
"""
