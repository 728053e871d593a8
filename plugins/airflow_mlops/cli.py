"""The ``airflow-mlops`` command: init, serve, up, demo, env.

Each subcommand sets the Airflow variables from :func:`config.airflow_environment`
before Airflow is imported, so everything lands under ``MLOPS_HOME``.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow_mlops.config import Settings, airflow_environment, get_settings

#: prometheus-client's multiprocess directory (``serving/metrics.py``; not imported here, so the
#: CLI process does not load prometheus-client before the variable is set).
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _apply_environment(settings: Settings) -> dict[str, str]:
    env = airflow_environment(settings)
    os.environ.update(env)
    # `airflow standalone` and `mlflow models serve` start `airflow`/`uvicorn` from PATH:
    # make sure they are this environment's, even when the venv is not activated.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    return env


def init_home(settings: Settings, *, airflow_db: bool = True) -> None:
    """Create ``MLOPS_HOME``: the MLOps store (migrated), MLflow's DB, Airflow's DB."""
    from mlflow.tracking import MlflowClient

    from airflow_mlops.store import migrate

    settings.ensure_dirs()
    migrate(settings.store_url)
    MlflowClient(tracking_uri=settings.mlflow_tracking_uri).search_experiments(max_results=1)
    if airflow_db:
        subprocess.run([_airflow_bin(), "db", "migrate"], check=True, stdout=subprocess.DEVNULL)
    print(f"MLOPS_HOME ready at {settings.home}")


def _airflow_bin() -> str:
    candidate = Path(sys.executable).with_name("airflow")
    return str(candidate) if candidate.exists() else "airflow"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="airflow-mlops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="create MLOPS_HOME (MLOps store, MLflow DB, Airflow DB)")
    sub.add_parser("migrate", help="apply the MLOps store's migrations")
    sub.add_parser("env", help="print the shell exports that point Airflow at MLOPS_HOME")
    serve = sub.add_parser("serve", help="run the prediction and management app under uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8008)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="log one line per HTTP request (off by default: every prediction is in the prediction log)",
    )
    up = sub.add_parser(
        "up", help="run Airflow (API server, scheduler, DAG processor, triggerer) with the plugin"
    )
    up.add_argument("--host", default="127.0.0.1", help="address of the API server (default: loopback only)")
    up.add_argument("--port", type=int, default=8080)
    token = sub.add_parser("token", help="create, list or revoke API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="create a token and print it (it is shown only once)")
    create.add_argument("--user", required=True, help="the user the token acts as")
    create.add_argument(
        "--expires-in", default="90d", help="lifetime such as 12h, 30d, or 'never' (default 90d)"
    )
    create.add_argument("--admin", action="store_true", help="the token acts as OWNER of every deployment")
    create.add_argument("--description", default=None)
    listing = token_sub.add_parser("list", help="list tokens (never their secrets)")
    listing.add_argument("--user", default=None)
    revoke = token_sub.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("token_id")
    demo = sub.add_parser("demo", help="run the whole lifecycle headless and print a summary")
    demo.add_argument("--rows", type=int, default=4000, help="training rows")
    demo.add_argument("--trials", type=int, default=16, help="sweep trials (pruned ones are not ranked)")
    demo.add_argument("--verbose", action="store_true", help="show Airflow's task logs as the DAGs run")
    args = parser.parse_args(argv)
    if args.command == "demo" and not args.verbose:
        # The summary is the demo's output; task logs stay one flag away.
        os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")

    settings = get_settings()
    env = _apply_environment(settings)
    if args.command == "init":
        init_home(settings)
    elif args.command == "migrate":
        from airflow_mlops.store import migrate

        migrate(settings.store_url)
    elif args.command == "env":
        for key, value in env.items():
            print(f"export {key}={shlex.quote(value)}")
    elif args.command == "serve":
        with _metrics_directory(args.workers):
            try:
                _serve(args.host, args.port, args.workers, args.access_log)
            except OSError as exc:  # the port is taken or cannot be bound
                print(f"error: {exc}", file=sys.stderr)
                return 1
    elif args.command == "up":
        from airflow_mlops.up import run_up

        return run_up(dict(os.environ), airflow_bin=_airflow_bin(), host=args.host, port=args.port)
    elif args.command == "token":
        return _token_command(args, settings)
    elif args.command == "demo":
        from airflow_mlops.demo import run_demo

        return run_demo(settings, rows=args.rows, trials=args.trials)
    return 0


def _serve(host: str, port: int, workers: int, access_log: bool) -> None:
    """uvicorn, with one listening socket per worker where the platform allows (``serving/listeners.py``)."""
    import uvicorn

    from airflow_mlops.serving.listeners import reuse_port_supported, worker_sockets

    app = "airflow_mlops.serving.app:create_app"
    options: dict[str, Any] = {
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "log_level": "info",
        "access_log": access_log,
    }
    if workers <= 1 or not reuse_port_supported():
        uvicorn.run(app, **options)
        return
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(app, **options)
    with suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=worker_sockets(host, port)).run()


@contextmanager
def _metrics_directory(workers: int) -> Iterator[None]:
    """With several workers: a fresh ``PROMETHEUS_MULTIPROC_DIR`` for this server, removed at exit.

    prometheus-client's multiprocess mode (``serving/metrics.py``) sums the values each worker
    writes there; the workers are spawned after this sets the variable, so they all use it. A
    fresh directory per server, because values left by an earlier server (or another one) would
    be summed in; an inherited ``PROMETHEUS_MULTIPROC_DIR`` is replaced for the same reason.
    """
    if workers <= 1:
        yield
        return
    path = tempfile.mkdtemp(prefix="airflow-mlops-metrics-")
    previous = os.environ.get(METRICS_DIR_ENV)
    os.environ[METRICS_DIR_ENV] = path
    try:
        yield
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if previous is None:
            os.environ.pop(METRICS_DIR_ENV, None)
        else:
            os.environ[METRICS_DIR_ENV] = previous


def parse_duration(text: str) -> timedelta | None:
    """``12h``, ``30d``, ``90m`` or ``never`` (no expiry)."""
    if text == "never":
        return None
    match = re.fullmatch(r"(\d+)([mhd])", text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"--expires-in={text!r} is not valid; expected e.g. 90m, 12h, 30d or 'never'")
    unit = {"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


def _token_command(args: argparse.Namespace, settings: Settings) -> int:
    from airflow_mlops.security import create_token, list_tokens, revoke_token
    from airflow_mlops.store import migrate

    migrate(settings.store_url)
    if args.token_command == "create":
        try:
            expires_in = parse_duration(args.expires_in)
            info, secret = create_token(
                settings.store_url,
                user=args.user,
                expires_in=expires_in,
                is_admin=args.admin,
                description=args.description,
            )
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        expiry = info.expires_at.isoformat() if info.expires_at else "never"
        print(
            f"# token {info.id} for {info.user}{' (admin)' if info.is_admin else ''}, expires {expiry}",
            file=sys.stderr,
        )
        print(secret)
    elif args.token_command == "list":
        for info in list_tokens(settings.store_url, user=args.user):
            state = "active" if info.active else ("revoked" if info.revoked_at else "expired")
            expiry = info.expires_at.isoformat() if info.expires_at else "never"
            print(
                f"{info.id}  {info.user:<20} {'admin' if info.is_admin else '-':<5}  {state:<8} expires {expiry}"
            )
    else:
        try:
            info = revoke_token(settings.store_url, args.token_id)
        except LookupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"revoked token {info.id} of {info.user}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
