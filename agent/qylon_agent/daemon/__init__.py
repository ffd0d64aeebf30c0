"""The local agent daemon: a durable job queue worked in the background, a control
API on a user-only Unix socket, and the CLI's client for it."""
