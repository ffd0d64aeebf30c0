"""`qylon agent ...`: run the background agent and look at its jobs."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from qylon_cli import output

app = typer.Typer(
    no_args_is_help=True,
)
jobs_app = typer.Typer(
    help="The agent's job queue.\n\nExample: qylon agent jobs --json",
    invoke_without_command=True,
)
app.add_typer(jobs_app, name="jobs")


def _client():
    from ..daemon.client import AgentClient

    return AgentClient()


@app.command()
def start(
    foreground: Annotated[
        bool,
        typer.Option(
            "--foreground", help="Run in this terminal (logs to stderr too); Ctrl-C stops it."
        ),
    ] = False,
    json: output.JsonOption = False,
) -> None:
    """Start the agent in the background (one per QYLON_HOME).

    Example: qylon agent start
    """
    if foreground:
        from ..daemon.__main__ import main

        main_args = ["--foreground"]
        import sys

        sys.argv = [sys.argv[0], *main_args]
        main()
        return
    status = _client().start()
    output.emit(status, lambda c: c.print(f"Agent started (pid {status['pid']})."))


@app.command()
def stop(json: output.JsonOption = False) -> None:
    """Stop the agent; a job in progress goes back to the queue and resumes at the next start.

    Example: qylon agent stop
    """
    info = _client().stop()
    data = {"stopped": info is not None, "pid": info.get("pid") if info else None}
    output.emit(
        data,
        lambda c: c.print(
            f"Agent stopped (pid {data['pid']})." if info else "The agent was not running."
        ),
    )


@app.command()
def restart(json: output.JsonOption = False) -> None:
    """Stop the agent if it runs, then start it.

    Example: qylon agent restart
    """
    client = _client()
    client.stop()
    status = client.start()
    output.emit(status, lambda c: c.print(f"Agent restarted (pid {status['pid']})."))


@app.command()
def status(json: output.JsonOption = False) -> None:
    """Show whether the agent runs: pid, uptime, version, queue, current job.

    Example: qylon agent status --json
    """
    from qylon_cli.errors import Unavailable

    client = _client()
    if client.running() is None:
        data = {"running": False}
    else:
        try:
            data = {"running": True, **client.request("GET", "/v1/status")}
        except Unavailable:
            data = {"running": True, "reachable": False}

    def human(console) -> None:
        if not data["running"]:
            console.print("The agent is not running. Start it with `qylon agent start`.")
            return
        if data.get("reachable") is False:
            console.print("The agent holds its lock but does not answer on its socket.")
            return
        console.print(
            f"Agent running: pid {data['pid']}, up {data['uptime_s']:.0f} s, version {data['version']}"
        )
        console.print(
            f"Queue: {data['queue_length']} job(s); model {'loaded' if data['model_ready'] else 'loading'}"
        )
        for job in data["current"]:
            prog = job["progress"]
            where = (
                f" {prog['position_s']:.0f}/{prog['total_s']:.0f} s" if prog.get("total_s") else ""
            )
            console.print(f"Now: {job['kind']} {job['id'][:8]}{where}")
        if data.get("recording"):
            console.print(f"Recording: {data['recording'][:8]}")
        if data.get("meeting_apps"):
            console.print(f"Meeting apps using the microphone: {', '.join(data['meeting_apps'])}")
        console.print(_last_sync_line(data.get("last_sync"), time.time()), markup=False)

    output.emit(data, human)


def _last_sync_line(last: dict | None, now: float) -> str:
    """The agent's last sync in words, as `agent status` shows it."""
    if not last:
        return (
            "Last sync: none since the agent started (it syncs when a team server is configured)."
        )
    ago = max(0, int(now - last["at"]))
    when = f"{ago // 60} min ago" if ago >= 60 else f"{ago} s ago"
    if last.get("offline"):
        return (
            f"Last sync: {when}, server unreachable ({last.get('error') or 'no answer'}); "
            f"{last.get('pending', 0)} meeting(s) waiting."
        )
    return (
        f"Last sync: {when}, server reachable; {last.get('pushed', 0)} pushed, "
        f"{last.get('pending', 0)} waiting."
    )


@app.command()
def logs(
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines.")
    ] = False,
    lines: Annotated[
        int, typer.Option("--lines", "-n", min=0, help="How many of the last lines to show.")
    ] = 50,
) -> None:
    """Print the agent's log (JSON lines, rotated at 5 MB).

    Example: qylon agent logs -f
    """
    from collections import deque

    path = _client().paths.log
    if not path.exists():
        output.info(f"No log yet at {path}.")
        return
    with path.open() as fh:
        for line in deque(fh, maxlen=lines):
            typer.echo(line, nl=False)
        while follow:
            line = fh.readline()
            if line:
                typer.echo(line, nl=False)
            else:
                time.sleep(0.3)


@jobs_app.callback()
def jobs(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Include done and cancelled jobs.")] = False,
    json: output.JsonOption = False,
) -> None:
    """List the agent's jobs: queued, running, parked (failed for good) and, with --all, finished.

    Example: qylon agent jobs --all
    """
    if ctx.invoked_subcommand:
        return
    rows = _client().request("GET", "/v1/jobs" + ("?all=1" if all_ else ""))

    def human(console, rows) -> None:
        from rich.table import Table

        if not rows:
            console.print("No jobs.")
            return
        table = Table("id", "kind", "status", "tries", "created", "error", box=None)
        for job in rows:
            table.add_row(
                job["id"][:8],
                job["kind"],
                job["status"],
                str(job["attempts"]),
                job["created_at"][:19],
                job["error"] or "",
            )
        console.print(table)

    output.emit_list(rows, human)


@jobs_app.command("cancel")
def cancel(
    job_id: Annotated[str, typer.Argument(help="A job id or unique prefix.")],
    json: output.JsonOption = False,
) -> None:
    """Cancel a queued or running job.

    Example: qylon agent jobs cancel 3f2a
    """
    job = _client().request("POST", f"/v1/jobs/{job_id}/cancel")
    output.emit(job, lambda c: c.print(f"Cancelled job {job['id'][:8]}."))


@jobs_app.command("retry")
def retry(
    job_id: Annotated[str, typer.Argument(help="A job id or unique prefix.")],
    json: output.JsonOption = False,
) -> None:
    """Queue a parked or cancelled job again, with its attempts reset.

    Example: qylon agent jobs retry 3f2a
    """
    job = _client().request("POST", f"/v1/jobs/{job_id}/retry")
    output.emit(job, lambda c: c.print(f"Job {job['id'][:8]} queued again."))


@app.command("install-service")
def install_service(
    enable: Annotated[
        bool, typer.Option(help="Also enable and start it now (systemctl --user / launchctl).")
    ] = True,
    json: output.JsonOption = False,
) -> None:
    """Start the agent at login: writes a systemd user unit (Linux) or a launchd agent (macOS).

    Example: qylon agent install-service
    """
    from ..daemon import service

    result = service.install(enable=enable)

    def human(console) -> None:
        console.print(f"Wrote {result['path']}")
        console.print(
            "Enabled: the agent starts at login."
            if result["enabled"]
            else (result["note"] or "Not enabled.")
        )

    output.emit(result, human)


@app.command("uninstall-service")
def uninstall_service(json: output.JsonOption = False) -> None:
    """Stop starting the agent at login (removes the unit or launchd agent).

    Example: qylon agent uninstall-service
    """
    from ..daemon import service

    result = service.uninstall()
    output.emit(
        result,
        lambda c: c.print(
            f"Removed {result['path']}" if result["removed"] else "No service was installed."
        ),
    )


@app.command()
def worker(
    server: Annotated[
        str | None,
        typer.Option(help="The team server (default: QYLON_SERVER, or the one logged in to)."),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="Jobs transcribed at once here.")
    ] = 1,
    model: Annotated[
        str | None, typer.Option(help="A model name or folder (default: transcribe.model).")
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="cpu, cuda or auto (default: transcribe.device).")
    ] = None,
    diarize: Annotated[
        bool | None,
        typer.Option("--diarize/--no-diarize", help="Find who spoke when (default: settings)."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="This worker's name on the server (default: HOST:PID)."),
    ] = None,
    poll: Annotated[
        float, typer.Option(min=0.1, help="Seconds between looks at an empty queue.")
    ] = 2.0,
    json: output.JsonOption = False,
) -> None:
    """Transcribe the team's queued recordings here, as a worker of the team server.

    Takes jobs from the server's queue (`qylon jobs submit`), fetches their audio over
    the API, transcribes them with this machine's model and device, and posts each
    meeting back. It needs a key with the `transcribe` scope (QYLON_TOKEN, or `qylon auth
    login`). Ctrl-C or SIGTERM: finish the jobs in hand, then stop (twice: at once; the
    jobs go to other workers when their leases lapse). Progress goes to stderr; --json
    prints a summary when it stops. docs/workers.md has the details.

    Example: qylon agent worker --server https://qylon.acme.example --concurrency 2 --model small --device cuda
    """
    import os
    import signal
    import socket
    import sys

    from qylon_cli.client import ApiClient

    from ..team_worker import Worker, pipeline_transcriber

    if server:
        os.environ["QYLON_SERVER"] = server

    def log(line: str) -> None:
        sys.stderr.write(f"{time.strftime('%H:%M:%S')} {line}\n")
        sys.stderr.flush()

    transcribe = pipeline_transcriber(model=model, device=device, diarize=diarize, warn=log)
    name = name or f"{socket.gethostname()}:{os.getpid()}"
    with ApiClient.from_credentials() as api:
        me = api.get("/v1/me")  # the key works before any job is taken
        team = Worker(
            api, name=name, concurrency=concurrency, transcribe=transcribe, poll_s=poll, log=log
        )

        def stop(signum, frame) -> None:
            if team.stop.is_set():
                raise KeyboardInterrupt
            team.stop.set()
            log("stopping: finishing the jobs in hand (again to stop at once)")

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log(
            f"worker {name} for {me['organisation']['name']} at {api.server}, {concurrency} at once"
        )
        summary = team.run()
    output.emit(
        {"worker": name, **summary},
        lambda c: c.print(
            f"Worker {name} stopped: {summary['completed']} completed, "
            f"{summary['failed']} failed, {summary['dropped']} taken back."
        ),
    )
