"""Run ``docker-compose.yaml``'s services as local processes: the compose file is what is tested.

There is no Docker engine on the machines that run the tests, so this reads the
compose file and does, with processes on loopback, what Compose would do with
containers:

* ``${VAR}``/``${VAR:-default}`` come from ``.env`` (``$$`` is a literal ``$``);
* each service built from the project's ``Dockerfile`` runs its ``command`` with
  the image's ``ENV`` and then the service's ``environment`` and ``HOSTNAME``
  (the service's ``hostname:``), as a container would;
* ``postgres`` and ``redis`` images are the machine's own servers: the databases
  the init script and ``POSTGRES_DB`` name are created with a per-run prefix (and
  dropped at the end), and Redis gets a database number of its own;
* each ``(service, exposed port)`` gets a free loopback port, and every
  ``service:port`` (and, inside the service, ``localhost:port``, ``--port port``
  and ``*_PORT`` settings) is rewritten to it; ``0.0.0.0`` binds become
  ``127.0.0.1``; container paths become per-service (image paths) or shared
  (named volumes) directories under the run's directory, the project's
  ``WORKDIR`` the checkout itself;
* ``depends_on`` conditions are honoured (``service_healthy`` runs the service's
  own healthcheck command, every 2 s rather than its ``interval``;
  ``service_completed_successfully`` waits for exit code 0).

What it leaves out: resource limits, restart policies (``restart`` is a method
the test calls), published ``ports`` (the loopback port is the published port).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml

from helpers.live_server import free_port

LOCAL_SERVERS = {"postgres": ("127.0.0.1", 5432), "redis": ("127.0.0.1", 6379)}
_INTERPOLATION = re.compile(r"\$\$|\$\{(\w+)(?::?-([^}]*))?\}")


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of a Compose ``.env`` file (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip().strip("'\"")
    return values


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        value = variables.get(name)
        if value is None and default is None:
            raise KeyError(f"docker-compose.yaml uses ${{{name}}}, which .env does not set")
        return value if value is not None else default

    return _INTERPOLATION.sub(replace, text)


def dockerfile_image(path: Path) -> tuple[dict[str, str], str]:
    """The image's ``ENV`` values and its ``WORKDIR``."""
    text = re.sub(r"\\\n", " ", path.read_text())
    env: dict[str, str] = {}
    workdir = "/"
    for line in text.splitlines():
        words = shlex.split(line, comments=True) if line.strip() else []
        if words and words[0] == "ENV":
            env.update(word.split("=", 1) for word in words[1:] if "=" in word)
        elif words and words[0] == "WORKDIR":
            workdir = words[1]
    return env, workdir


@dataclass
class Service:
    name: str
    spec: dict[str, Any]
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def local_server(self) -> bool:
        return "build" not in self.spec

    @property
    def depends_on(self) -> dict[str, str]:
        deps = self.spec.get("depends_on") or {}
        if isinstance(deps, list):
            return {name: "service_started" for name in deps}
        return {name: (cond or {}).get("condition", "service_started") for name, cond in deps.items()}


class LocalCompose:
    """The services of a compose file as processes under ``workdir`` (see the module docstring)."""

    def __init__(self, compose_file: Path, workdir: Path) -> None:
        self.project = compose_file.parent
        self.workdir = workdir
        self.variables = read_env_file(self.project / ".env")
        spec = yaml.safe_load(interpolate(compose_file.read_text(), self.variables))
        self.services = {name: Service(name, body) for name, body in spec["services"].items()}
        self.volumes = {name: workdir / "volumes" / name for name in spec.get("volumes") or {}}
        self.image_env, self.image_workdir = dockerfile_image(self.project / "Dockerfile")
        self.prefix = f"compose_{uuid.uuid4().hex[:8]}"
        self.redis_db = 1 + int(uuid.uuid4().hex[:4], 16) % 15
        self.ports: dict[tuple[str, int], int] = {}
        for service in self.services.values():
            for port in service.spec.get("expose") or []:
                local = LOCAL_SERVERS.get(service.name)
                self.ports[(service.name, int(port))] = local[1] if local else free_port()
        self.databases = self._databases()
        for service in self.services.values():
            service.environment = self._environment(service)

    # -- translation: container world -> this machine -------------------------------------------
    def _databases(self) -> list[str]:
        postgres = self.services.get("postgres")
        if postgres is None:
            return []
        names = [str(postgres.spec.get("environment", {}).get("POSTGRES_DB", "postgres"))]
        for volume in postgres.spec.get("volumes") or []:
            source = str(volume).split(":", 1)[0]
            if source.endswith(".sql"):
                sql = (self.project / source).read_text()
                names += re.findall(r"CREATE\s+DATABASE\s+(\w+)", sql, flags=re.IGNORECASE)
        return names

    def database(self, name: str) -> str:
        """This run's name for the compose file's database ``name``."""
        return f"{self.prefix}_{name}"

    def translate(self, text: str, service: Service) -> str:
        text = re.sub(
            r"(?P<scheme>[\w+]+)://[^:@/\s]+(?::[^@/\s]*)?@postgres:5432/(?P<db>\w+)",
            lambda m: f"{m['scheme']}://postgres@127.0.0.1:5432/{self.database(m['db'])}",
            text,
        )
        text = re.sub(r"redis://([^@/\s]*@)?redis:6379/\d+", f"redis://127.0.0.1:6379/{self.redis_db}", text)
        for (name, port), local in self.ports.items():
            text = re.sub(rf"(?<![\w.-]){re.escape(name)}:{port}(?!\d)", f"127.0.0.1:{local}", text)
            if name == service.name:
                text = re.sub(rf"\blocalhost:{port}(?!\d)", f"127.0.0.1:{local}", text)
                text = re.sub(rf"(--port[= ]){port}(?!\d)", rf"\g<1>{local}", text)
        text = text.replace("0.0.0.0", "127.0.0.1")
        return self._paths(text, service)

    def _paths(self, text: str, service: Service) -> str:
        mounts: dict[str, Path] = {}
        for volume in service.spec.get("volumes") or []:
            source, target = str(volume).split(":")[:2]
            if source in self.volumes:
                mounts[target] = self.volumes[source]
            elif source.startswith((".", "/")):
                mounts[target] = (self.project / source).resolve()
        for value in self.image_env.values():
            if value.startswith("/") and value not in mounts:
                mounts[value] = (
                    self.workdir / "containers" / service.name / value.strip("/").replace("/", "_")
                )
        mounts.setdefault(self.image_workdir, self.project)
        for target in sorted(mounts, key=len, reverse=True):  # /opt/airflow-mlops before /opt/airflow
            text = re.sub(rf"(?<![\w/.-]){re.escape(target)}(?![\w-])", str(mounts[target]), text)
        return text

    def _environment(self, service: Service) -> dict[str, str]:
        env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
        # The image's interpreter is this checkout's virtualenv.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env.update(self.image_env)
        env.update(
            {str(k): "" if v is None else str(v) for k, v in (service.spec.get("environment") or {}).items()}
        )
        env["HOSTNAME"] = str(service.spec.get("hostname") or service.name)
        out = {key: self.translate(value, service) for key, value in env.items()}
        exposed = {port: local for (name, port), local in self.ports.items() if name == service.name}
        for key, value in out.items():
            if key.endswith("_PORT") and value.isdigit() and int(value) in exposed:
                out[key] = str(exposed[int(value)])
        return out

    def command(self, name: str) -> list[str]:
        service = self.services[name]
        command = service.spec["command"]
        words = shlex.split(command) if isinstance(command, str) else [str(w) for w in command]
        out = [self.translate(word, service) for word in words]
        for index in range(1, len(words)):
            if words[index - 1] in ("--port", "-p") and (name, int(words[index] or 0)) in self.ports:
                out[index] = str(self.ports[(name, int(words[index]))])
        return out

    def url(self, name: str, port: int) -> str:
        """Where the host reaches ``name``'s container port ``port``."""
        return f"http://127.0.0.1:{self.ports[(name, port)]}"

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, name: str) -> None:
        service = self.services[name]
        if service.local_server:
            return
        for path in {*self.volumes.values()}:
            path.mkdir(parents=True, exist_ok=True)
        for key in ("AIRFLOW_HOME", "MLOPS_HOME"):
            if key in service.environment:
                Path(service.environment[key]).mkdir(parents=True, exist_ok=True)
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        service.log = logs / f"{name}.log"
        with service.log.open("ab") as log:
            service.process = subprocess.Popen(
                self.command(name),
                env=service.environment,
                cwd=self.project,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def tail(self, name: str, lines: int = 40) -> str:
        log = self.services[name].log
        if log is None or not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def healthy(self, name: str) -> bool:
        service = self.services[name]
        if service.local_server:
            return True  # the machine's server; the test checked it answers before starting
        check = (service.spec.get("healthcheck") or {}).get("test")
        if not check:
            return service.process is not None and service.process.poll() is None
        if check[0] == "CMD-SHELL":
            argv = ["sh", "-c", self.translate(str(check[1]), service)]
        else:
            argv = [self.translate(str(word), service) for word in check[1:]]
        try:
            done = subprocess.run(argv, env=service.environment, capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0

    def wait(self, name: str, condition: str, timeout_s: float = 600) -> None:
        service = self.services[name]
        deadline = time.monotonic() + timeout_s
        while True:
            if condition == "service_completed_successfully":
                assert service.process is not None
                try:
                    code = service.process.wait(max(1.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    raise AssertionError(
                        f"{name} did not finish in {timeout_s:.0f} s:\n{self.tail(name)}"
                    ) from None
                assert code == 0, f"{name} exited with {code}:\n{self.tail(name)}"
                return
            if service.process is not None and service.process.poll() is not None:
                raise AssertionError(f"{name} exited with {service.process.returncode}:\n{self.tail(name)}")
            if condition == "service_started" or self.healthy(name):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} not healthy within {timeout_s:.0f} s:\n{self.tail(name)}")
            time.sleep(2)

    def up(self) -> None:
        """Start every service after what it depends on, then wait until all are healthy."""
        started: set[str] = set()

        def bring_up(name: str) -> None:
            if name in started:
                return
            for dependency, condition in self.services[name].depends_on.items():
                bring_up(dependency)
                self.wait(dependency, condition)
            self.start(name)
            started.add(name)

        for name in self.services:
            bring_up(name)
        for name, service in self.services.items():
            if service.spec.get("healthcheck") and service.spec.get("restart") != "no":
                self.wait(name, "service_healthy")

    def kill(self, name: str) -> None:
        """SIGKILL the service's whole process tree, as when its container or host dies."""
        process = self.services[name].process
        assert process is not None
        for member in _tree(process.pid):
            with contextlib.suppress(psutil.NoSuchProcess):
                member.send_signal(signal.SIGKILL)
        process.wait(30)

    def restart(self, name: str) -> None:
        """What ``restart: unless-stopped`` does for a container that died."""
        self.start(name)

    def down(self) -> None:
        """SIGTERM every service's process group, SIGKILL what is left after 30 s, drop the databases."""
        trees: list[psutil.Process] = []
        for service in reversed(list(self.services.values())):
            process = service.process
            if process is not None and process.poll() is None:
                trees += _tree(process.pid)
                _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for service in self.services.values():
            process = service.process
            if process is None:
                continue
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(10)
        for member in trees:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.kill()
        self.drop_databases()

    def create_databases(self) -> None:
        import psycopg2

        admin = psycopg2.connect(host="127.0.0.1", port=5432, dbname="postgres", user="postgres")
        admin.autocommit = True
        with admin.cursor() as cursor:
            for name in self.databases:
                cursor.execute(f'CREATE DATABASE "{self.database(name)}"')
        admin.close()

    def drop_databases(self) -> None:
        import psycopg2
        import redis

        admin = psycopg2.connect(host="127.0.0.1", port=5432, dbname="postgres", user="postgres")
        admin.autocommit = True
        with admin.cursor() as cursor:
            for name in self.databases:
                cursor.execute(f'DROP DATABASE IF EXISTS "{self.database(name)}" WITH (FORCE)')
        admin.close()
        redis.Redis(host="127.0.0.1", port=6379, db=self.redis_db).flushdb()


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
