"""`sgplan fake-cloud serve`: run the fake cloud as an HTTP server the unmodified SDK can talk to."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Optional

import typer

from sgplan.cloud.fake_keys import FAKE_SECRET_ID as DEFAULT_SECRET_ID
from sgplan.cloud.fake_keys import FAKE_SECRET_KEY as DEFAULT_SECRET_KEY


def register(app: typer.Typer) -> None:
    fake_cloud = typer.Typer(help="Run the bundled fake Tencent Cloud.", no_args_is_help=True)

    @fake_cloud.command()
    def serve(
        state: Optional[Path] = typer.Option(
            None, "--state", help="State file to serve and save after every change (created when missing)."),
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
        port: int = typer.Option(9000, "--port", help="Port to listen on (0 = any free port)."),
        secret_id: str = typer.Option(DEFAULT_SECRET_ID, "--secret-id", help="SecretId clients must sign with."),
        secret_key: str = typer.Option(
            DEFAULT_SECRET_KEY, "--secret-key", help="SecretKey clients must sign with.", show_default=False),
        latency_ms: float = typer.Option(0, "--latency-ms", help="Delay added to every request."),
        rate_limit: Optional[float] = typer.Option(
            None, "--rate-limit", help="Requests per second per action; beyond it RequestLimitExceeded."),
        fault_rate: float = typer.Option(
            0.0, "--fault-rate", min=0.0, max=1.0,
            help="Chance of an injected fault: InternalError, or a dropped connection before or after the change."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Seed for injected faults and generated ids."),
        bind_delay: float = typer.Option(
            0.0, "--bind-delay", help="Seconds an instance stays OPERATING after a binding change."),
        require_signed_action: bool = typer.Option(
            False, "--require-signed-action",
            help="Refuse requests whose signature does not cover X-TC-Action (the stock SDK signs only content-type and host)."),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every request to stderr."),
    ) -> None:
        """Serve until SIGTERM or Ctrl-C; the state file is saved after every change and at exit."""
        from sgplan.fakecloud.server import start_server

        try:
            handle = start_server(
                state, host=host, port=port, secret_id=secret_id, secret_key=secret_key,
                latency_ms=latency_ms, rate_limit=rate_limit, fault_rate=fault_rate, seed=seed,
                bind_delay=bind_delay, quiet=not verbose, require_signed_action=require_signed_action,
            )
        except OSError as exc:
            from sgplan.diagnostics import UserError

            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        done = threading.Event()

        def _stop(signum: int, frame: object) -> None:
            done.set()

        previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            typer.echo(handle.url, err=False)
            typer.echo(f"sgplan fake-cloud: serving {handle.url} (state: {state or 'in memory'}); "
                       "Ctrl-C to stop", err=True)
            while not done.wait(0.5):
                pass
        finally:
            handle.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        typer.echo("sgplan fake-cloud: stopped" + (f", state saved to {state}" if state else ""), err=True)

    app.add_typer(fake_cloud, name="fake-cloud")
