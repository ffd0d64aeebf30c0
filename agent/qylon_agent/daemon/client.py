"""The CLI's side of the control API: HTTP over the agent's Unix socket (httpx2)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from qylon_cli.errors import QylonError, Unavailable, from_status

from .state import agent_paths, holder


class AgentClient:
    def __init__(self) -> None:
        self.paths = agent_paths()

    def running(self) -> dict | None:
        """Lock info of the running daemon, or None."""
        return holder(self.paths.lock)

    def request(self, method: str, path: str, body: dict | None = None, *, timeout: float = 10.0):
        import httpx2

        transport = httpx2.HTTPTransport(uds=str(self.paths.socket))
        try:
            with httpx2.Client(
                transport=transport, base_url="http://agent", timeout=timeout
            ) as http:
                response = http.request(method, path, json=body)
        except (
            httpx2.ConnectError,
            httpx2.RemoteProtocolError,
            FileNotFoundError,
            PermissionError,
        ) as exc:
            raise Unavailable(
                f"The agent is not reachable ({exc}).",
                hint="Start it with `qylon agent start`.",
                code="agent_unavailable",
            ) from None
        document = response.json()
        if "error" in document:
            err = document["error"]
            raise from_status(
                response.status_code,
                err["message"],
                hint=err.get("hint"),
                code=err.get("code"),
                server_error=QylonError,
            )
        return document["data"]

    # -- lifecycle -------------------------------------------------------
    def start(self, *, wait_s: float = 20.0) -> dict:
        info = self.running()
        if info is not None:
            from .process import AlreadyRunning

            raise AlreadyRunning(
                f"The agent is already running (pid {info.get('pid')}).",
                hint="`qylon agent status` shows it.",
            )
        with open(self.paths.log, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "qylon_agent.daemon"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                close_fds=True,
            )
        deadline = time.time() + wait_s
        while time.time() < deadline:
            if proc.poll() is not None:
                raise QylonError(
                    f"The agent exited at start (code {proc.returncode}).",
                    hint=f"See its log: {self.paths.log}",
                )
            try:
                return self.request("GET", "/v1/status")
            except Unavailable:
                time.sleep(0.1)
        raise Unavailable(
            "The agent did not answer in time after starting.",
            hint=f"See its log: {self.paths.log}",
        )

    def stop(self, *, wait_s: float = 60.0) -> dict | None:
        info = self.running()
        if info is None:
            return None
        pid = info.get("pid")
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.time() + wait_s
        while time.time() < deadline and self.running() is not None:
            time.sleep(0.1)
        if self.running() is not None:
            raise QylonError(
                f"The agent (pid {pid}) did not stop within {wait_s:.0f} s.", hint=f"kill {pid}"
            )
        return info
