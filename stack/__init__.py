"""The whole PCSE status stack on one machine: PostgreSQL, NATS, the subgraphs and the gateway.

``make up`` runs it in the foreground (``python -m stack up``); the end-to-end tests start their
own copy on free ports with their own data directory, through the same code.
"""

from __future__ import annotations

# isort: off
# First of all: a stop signal must work while the rest imports (see early_signals).
from stack import early_signals
# isort: on

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, Self
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from pcse_kit.auth import DEVELOPMENT_AUDIENCE, DEVELOPMENT_ISSUER, SigningKey
from pcse_kit.broker import EmbeddedNats
from pcse_kit.events import Bus
from pcse_kit.postgres import EmbeddedPostgres
from pcse_kit.processes import die_with_parent
from pcse_kit.roles import ServiceRoles, provision

if TYPE_CHECKING:
    from types import TracebackType

ROOT: Final = Path(__file__).resolve().parent.parent
SERVICES: Final = ("payments", "records", "performers")
DEFAULT_PORTS: Final = {
    "gateway": 4000,
    "payments": 4001,
    "records": 4002,
    "performers": 4003,
    "gateway_metrics": 9464,
}
"""Each read from ``<NAME>_PORT`` by ``make up`` (``GATEWAY_METRICS_PORT`` for the last)."""
DEFAULT_POSTGRES_PORT: Final = 54329
DEFAULT_NATS_PORT: Final = 54229
NATS_CONFIG: Final = ROOT / "deploy" / "nats" / "nats.conf"
"""The broker's users and permissions, the same file docker-compose.yml mounts."""
NATS_READER: Final = "reader"
"""The broker user that may read every stream and publish nothing (operators, tests)."""
SHUTDOWN_GRACE_SECONDS: Final = 2
"""What requests in flight get when the stack stops (each part's ``*_SHUTDOWN_GRACE_SECONDS``,
unless the environment sets it): on one machine, a quick stop matters more."""
STOP_TIMEOUT_SECONDS: Final = SHUTDOWN_GRACE_SECONDS + 3.0
"""How long the parts get, together, to stop on SIGTERM before they are killed."""
STOP_SIGNALS: Final = early_signals.STOP_SIGNALS
TOKEN_ISSUER: Final = DEVELOPMENT_ISSUER
TOKEN_AUDIENCE: Final = DEVELOPMENT_AUDIENCE
LOG_TAIL_LINES: Final = 30
CREDENTIALS_FILE: Final = "db-credentials.json"
"""The database roles' passwords make up generated, kept in the data directory (mode 0600)."""
PRODUCTION_SWITCHES: Final = (
    "GATEWAY_ENVIRONMENT",
    *(f"{name.upper()}_ENVIRONMENT" for name in ("payments", "records", "performers")),
)


def sign_token(
    key: SigningKey,
    *,
    role: str,
    scope: list[str] | tuple[str, ...] = (),
    subject: str | None = None,
    ttl_seconds: int = 12 * 3600,
) -> str:
    """A development token for ``role`` over ``scope``, as the identity provider would issue."""
    return key.sign(
        subject=subject or f"dev-{role}",
        role=role,
        scope=scope,
        issuer=TOKEN_ISSUER,
        audience=TOKEN_AUDIENCE,
        ttl_seconds=ttl_seconds,
    )


def nats_password() -> str:
    """A new broker password. The server reads a password given in the environment as a
    config value, so it must read as a string: a letter first, then letters and digits."""
    return "p" + secrets.token_hex(24)


class StackError(RuntimeError):
    """A part of the stack failed to start; the message carries its log tail."""


def service_roles(name: str, database: str, passwords: dict[str, str]) -> ServiceRoles:
    """Service ``name``'s two roles (``pcse_<name>_migrator`` owns, ``pcse_<name>`` uses)."""
    migrator, service = f"pcse_{name}_migrator", f"pcse_{name}"
    return ServiceRoles(
        database=database,
        migrator=migrator,
        service=service,
        migrator_password=passwords[migrator],
        service_password=passwords[service],
    )


def load_passwords(data_dir: Path) -> dict[str, str]:
    """The roles' passwords, made on first use and kept in the data directory (mode 0600)."""
    path = data_dir / CREDENTIALS_FILE
    passwords: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    wanted = [f"pcse_{n}{suffix}" for n in SERVICES for suffix in ("", "_migrator")]
    if all(role in passwords for role in wanted):
        return passwords
    for role in wanted:
        passwords.setdefault(role, secrets.token_urlsafe(24))
    data_dir.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(passwords, indent=2) + "\n")
    return passwords


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def with_database(url: str, database: str) -> str:
    """``url`` pointing at ``database`` on the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def ensure_databases(server_url: str, names: list[str]) -> None:
    """Create the databases that do not exist yet on an external server."""
    connection = await asyncpg.connect(server_url.replace("+asyncpg", ""))
    try:
        existing = {
            row["datname"] for row in await connection.fetch("SELECT datname FROM pg_database")
        }
        for name in names:
            if name not in existing:
                # Identifiers cannot be bound as parameters; names come from SERVICES only.
                await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


@dataclass(kw_only=True)
class StackConfig:
    data_dir: Path = ROOT / ".data"
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    postgres_port: int | None = DEFAULT_POSTGRES_PORT
    server_url: str | None = None
    """An external PostgreSQL server (``DATABASE_URL``); None runs the embedded one."""
    nats_port: int | None = DEFAULT_NATS_PORT
    nats_url: str | None = None
    """An external NATS server (``NATS_URL``); None runs the embedded one. The services then
    take their credentials from ``*_NATS_USER`` and ``*_NATS_PASSWORD`` if set."""
    database_urls: dict[str, str] = field(default_factory=dict)
    """Per-service overrides (``PAYMENTS_DATABASE_URL``, ...)."""
    migrate_urls: dict[str, str] = field(default_factory=dict)
    """Their migrators (``PAYMENTS_MIGRATE_DATABASE_URL``, ...); unset, the same URL."""
    seed_demo: bool | None = None
    """Load the demo data; None: only into the embedded server, never into an outside one."""
    trust_dev_key: bool = False
    """Trust the development key with an outside database (``PCSE_TRUST_DEV_KEY=1``)."""
    durable: bool = True
    traces_dir: Path | None = None
    """Each part appends its spans to ``<part>.jsonl`` here (``PCSE_TRACES_DIR``); None: no
    tracing, unless the parts' own variables say otherwise."""
    extra_env: dict[str, str] = field(default_factory=dict)
    gateway_node_args: list[str] = field(default_factory=list)
    """Options for the gateway's ``node`` (the profiler's ``--cpu-prof``, which Node refuses
    in ``NODE_OPTIONS``)."""

    @property
    def outside(self) -> bool:
        """Whether any service's data is on a server this stack did not start."""
        return self.server_url is not None or bool(self.database_urls)

    @property
    def seeds_demo(self) -> bool:
        return not self.outside if self.seed_demo is None else self.seed_demo

    @property
    def keys_dir(self) -> Path:
        """The development signing key that this stack's services and gateway trust."""
        return self.data_dir / "dev-keys"

    @classmethod
    def free_ports(cls, data_dir: Path, **kwargs: object) -> StackConfig:
        """A configuration that clashes with nothing else on this machine (for tests)."""
        return cls(
            data_dir=data_dir,
            ports={name: free_port() for name in DEFAULT_PORTS},
            postgres_port=None,
            nats_port=None,
            **kwargs,  # type: ignore[arg-type]
        )

    @classmethod
    def from_environment(cls) -> StackConfig:
        """``make up``'s configuration: defaults, overridden by the variables the parts use."""
        env = os.environ
        ports = {
            name: int(env.get(f"{name.upper()}_PORT", port)) for name, port in DEFAULT_PORTS.items()
        }
        seed = env.get("PCSE_SEED_DEMO", "").strip().lower()
        return cls(
            data_dir=Path(env.get("PCSE_DATA_DIR", ROOT / ".data")),
            ports=ports,
            postgres_port=int(env.get("PCSE_POSTGRES_PORT", DEFAULT_POSTGRES_PORT)),
            server_url=env.get("DATABASE_URL") or None,
            nats_port=int(env.get("PCSE_NATS_PORT", DEFAULT_NATS_PORT)),
            traces_dir=Path(env["PCSE_TRACES_DIR"]) if env.get("PCSE_TRACES_DIR") else None,
            nats_url=env.get("NATS_URL") or None,
            database_urls={
                name: env[f"{name.upper()}_DATABASE_URL"]
                for name in SERVICES
                if env.get(f"{name.upper()}_DATABASE_URL")
            },
            migrate_urls={
                name: env[f"{name.upper()}_MIGRATE_DATABASE_URL"]
                for name in SERVICES
                if env.get(f"{name.upper()}_MIGRATE_DATABASE_URL")
            },
            seed_demo=None if not seed else seed in {"1", "true", "yes", "on"},
            trust_dev_key=env.get("PCSE_TRUST_DEV_KEY", "").strip().lower()
            in {"1", "true", "yes", "on"},
        )

    def refusal(self, environ: dict[str, str]) -> str | None:
        """Why this stack must not start, if it must not: it is a development stack that trusts
        the development key, which production never does and an outside database must agree
        to."""
        production = [
            name for name in PRODUCTION_SWITCHES if environ.get(name, "").lower() == "production"
        ]
        if environ.get("NODE_ENV", "").lower() == "production":
            production.append("NODE_ENV")
        if production:
            return (
                f"{', '.join(production)}=production: make up runs a development stack that "
                "trusts the development key, which production never does. Unset it, or deploy "
                "with docker-compose.yml and your identity provider."
            )
        if self.outside and not self.trust_dev_key:
            return (
                "make up would point services that trust the development key at an outside "
                "database: anyone holding this checkout's .data/dev-keys could then read and "
                "change its data through the gateway. If that database is yours to play with, "
                "say so with PCSE_TRUST_DEV_KEY=1 (demo data is loaded there only with "
                "PCSE_SEED_DEMO=1)."
            )
        return None


@dataclass
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]


class Stack:
    """Starts and stops the parts in order; a context manager."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.log_dir = config.data_dir / "logs"
        self.postgres: EmbeddedPostgres | None = None
        self.nats: EmbeddedNats | None = None
        self.children: list[_Child] = []
        self.database_urls: dict[str, str] = {}
        self.nats_url: str | None = config.nats_url
        # Each broker user's password (the services' and the read-only reader's), new for
        # every start of the stack.
        self.nats_passwords = {name: nats_password() for name in [*SERVICES, NATS_READER]}
        """Each service's own connection: its service role."""
        self.migrate_urls: dict[str, str] = {}
        """Each service's migrator: the tables' owner."""
        self.signing_key = SigningKey.load_or_create(config.keys_dir)

    def token(
        self,
        role: str,
        scope: list[str] | tuple[str, ...] = (),
        *,
        subject: str | None = None,
        ttl_seconds: int = 3600,
    ) -> str:
        """A token this stack accepts."""
        return sign_token(
            self.signing_key, role=role, scope=scope, subject=subject, ttl_seconds=ttl_seconds
        )

    def _auth_env(self, prefix: str) -> dict[str, str]:
        return {
            f"{prefix}_AUTH_PUBLIC_KEY_FILE": str(self.config.keys_dir / "public.pem"),
            f"{prefix}_AUTH_ISSUER": TOKEN_ISSUER,
            f"{prefix}_AUTH_AUDIENCE": TOKEN_AUDIENCE,
        }

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.config.ports['gateway']}/graphql"

    def service_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.config.ports[name]}/graphql"

    def metrics_url(self, name: str) -> str:
        """Where a part answers Prometheus: a service's own port, the gateway's metrics port."""
        port = self.config.ports["gateway_metrics" if name == "gateway" else name]
        return f"http://127.0.0.1:{port}/metrics"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout: float = 90.0) -> None:
        refusal = self.config.refusal(dict(os.environ))
        if refusal:
            raise StackError(refusal)
        busy = [f"{n} ({p})" for n, p in self.config.ports.items() if port_in_use(p)]
        if busy:
            raise StackError(f"ports already in use: {', '.join(busy)}; is the stack running?")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_databases()
            self._start_broker()
            for name in SERVICES:
                self._spawn_service(name)
            self._spawn_gateway()
            self._wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _start_databases(self) -> None:
        """Each service's database with its two roles (pcse_kit.roles)."""
        missing = [name for name in SERVICES if name not in self.config.database_urls]
        server: str | None = self.config.server_url
        prefix = "pcse_" if server is not None else ""
        if server is None and missing:
            self.postgres = EmbeddedPostgres(
                self.config.data_dir / "postgres",
                port=self.config.postgres_port,
                log_file=self.log_dir / "postgres.log",
                durable=self.config.durable,
            )
            self.postgres.start()
            server = self.postgres.dsn()
        self.database_urls = dict(self.config.database_urls)
        self.migrate_urls = {
            name: self.config.migrate_urls.get(name, url)
            for name, url in self.config.database_urls.items()
        }
        if server is None:
            return
        passwords = load_passwords(self.config.data_dir)

        async def provision_all(server_url: str) -> None:
            for name in missing:
                roles = service_roles(name, f"{prefix}{name}", passwords)
                service_url, migrate_url = await provision(server_url, roles)
                self.database_urls[name], self.migrate_urls[name] = service_url, migrate_url

        asyncio.run(provision_all(server))

    def _start_broker(self) -> None:
        if self.config.nats_url is not None:
            return
        self.nats = EmbeddedNats(
            self.config.data_dir / "nats",
            port=self.config.nats_port,
            log_file=self.log_dir / "nats.log",
            config_file=NATS_CONFIG,
            environment={
                f"{name.upper()}_NATS_PASSWORD": password
                for name, password in self.nats_passwords.items()
            },
        )
        self.nats.start()
        self.nats_url = self.nats.url

    def bus(self, user: str) -> Bus:
        """A connection to this stack's embedded broker as ``user`` (a service, or reader)."""
        if self.nats_url is None or self.nats is None:
            raise StackError("this stack runs no broker of its own")
        return Bus(
            self.nats_url, name=f"stack-{user}", user=user, password=self.nats_passwords[user]
        )

    def _traces_env(self, prefix: str, name: str) -> dict[str, str]:
        if self.config.traces_dir is None:
            return {}
        return {f"{prefix}_TRACES_FILE": str(self.config.traces_dir.absolute() / f"{name}.jsonl")}

    def traces(self, name: str) -> list[dict[str, Any]]:
        """The spans ``name`` has written so far (the stack must have a traces_dir)."""
        if self.config.traces_dir is None:
            raise StackError("this stack records no traces")
        path = self.config.traces_dir / f"{name}.jsonl"
        if not path.exists():
            return []
        spans: list[dict[str, Any]] = []
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):  # a line being written as we read
                spans.append(json.loads(line))
        return spans

    def _nats_env(self, name: str) -> dict[str, str]:
        prefix = name.upper()
        if self.nats_url is None:
            return {}
        if self.nats is None:
            # An outside broker: its credentials, if any, come from our own environment.
            return {f"{prefix}_NATS_URL": self.nats_url}
        return {
            f"{prefix}_NATS_URL": self.nats_url,
            f"{prefix}_NATS_USER": name,
            f"{prefix}_NATS_PASSWORD": self.nats_passwords[name],
        }

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log_path = self.log_dir / f"{name}.log"
        log = log_path.open("ab")
        grace = {f"{name.upper()}_SHUTDOWN_GRACE_SECONDS": str(SHUTDOWN_GRACE_SECONDS)}
        if name == "payments":
            # Webhook receivers of a development or test stack listen on this machine, over
            # http: let them (unless the environment says otherwise). Never in a deployment.
            grace["PAYMENTS_WEBHOOKS_ALLOW_PRIVATE_TARGETS"] = "true"
        process = subprocess.Popen(  # noqa: S603 - fixed commands, no shell
            command,
            cwd=ROOT,
            env={**grace, **os.environ, **self.config.extra_env, **env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Our own session: Ctrl-C reaches only us, and we stop the parts in order.
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGTERM),  # noqa: PLW1509 - set before exec, no locks taken
        )
        self.children.append(_Child(name, process, log_path, log))

    def _spawn_service(self, name: str) -> None:
        prefix = name.upper()
        self._spawn(
            name,
            [sys.executable, "-m", name, "serve"],
            {
                f"{prefix}_DATABASE_URL": self.database_urls[name],
                f"{prefix}_MIGRATE_DATABASE_URL": self.migrate_urls[name],
                f"{prefix}_HOST": "127.0.0.1",
                f"{prefix}_PORT": str(self.config.ports[name]),
                f"{prefix}_SEED_DEMO": "true" if self.config.seeds_demo else "false",
                **self._nats_env(name),
                **self._traces_env(prefix, name),
                **self._auth_env(prefix),
            },
        )

    def _spawn_gateway(self) -> None:
        env = {
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(self.config.ports["gateway"]),
            "GATEWAY_METRICS_PORT": str(self.config.ports["gateway_metrics"]),
            # One line per request, with its trace id, as the services write.
            "GATEWAY_LOG_LEVEL": {**os.environ, **self.config.extra_env}.get(
                "GATEWAY_LOG_LEVEL", "info"
            ),
            **self._traces_env("GATEWAY", "gateway"),
            "GATEWAY_SUPERGRAPH": str(ROOT / "schema" / "supergraph.graphql"),
            **self._auth_env("GATEWAY"),
        }
        for name in SERVICES:
            env[f"GATEWAY_SUBGRAPH_URL_{name.upper()}"] = self.service_url(name)
        command = ["node", *self.config.gateway_node_args, str(ROOT / "gateway" / "server.mjs")]
        self._spawn("gateway", command, env)

    def _health_urls(self) -> dict[str, str]:
        urls = {name: f"http://127.0.0.1:{self.config.ports[name]}/readyz" for name in SERVICES}
        urls["gateway"] = f"http://127.0.0.1:{self.config.ports['gateway']}/readyz"
        return urls

    def stop_service(self, name: str) -> None:
        """Stop one service as an outage would (the others and the gateway keep running)."""
        for child in [c for c in self.children if c.name == name]:
            child.process.send_signal(signal.SIGTERM)
            try:
                child.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
            child.log.close()
            self.children.remove(child)

    def start_service(self, name: str, timeout: float = 60.0) -> None:
        """Start a stopped service again, on its port, and wait until it is ready."""
        self._spawn_service(name)
        self._wait_until_ready(timeout, only={name})

    def _wait_until_ready(self, timeout: float, *, only: set[str] | None = None) -> None:
        deadline = time.monotonic() + timeout
        pending = {n: u for n, u in self._health_urls().items() if only is None or n in only}
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for child in self.children:
                    if child.process.poll() is not None:
                        raise StackError(
                            f"{child.name} exited with {child.process.returncode}:\n"
                            + self.log_tail(child.name)
                        )
                for name, url in list(pending.items()):
                    try:
                        if client.get(url).status_code == httpx.codes.OK:
                            del pending[name]
                    except httpx.TransportError:
                        pass
                if time.monotonic() > deadline:
                    raise StackError(
                        "not ready in time: "
                        + ", ".join(pending)
                        + "\n"
                        + "\n".join(self.log_tail(name) for name in pending)
                    )
                if pending:
                    time.sleep(0.1)

    def log_tail(self, name: str, lines: int = LOG_TAIL_LINES) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return f"({name}: no log)"
        text = path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(f"  {name}| {line}" for line in text)

    def exited(self) -> list[str]:
        """Parts that have stopped on their own."""
        return [c.name for c in self.children if c.process.poll() is not None]

    def stop(self) -> None:
        """Gateway first, then the services, then NATS and PostgreSQL; each waited for.

        The parts stop together, within ``STOP_TIMEOUT_SECONDS`` or killed. Stop signals wait
        until this is done (a second Ctrl-C must not abandon the clean-up half way), then
        act as they would have.
        """
        previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            for child in reversed(self.children):
                if child.process.poll() is None:
                    child.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
            for child in reversed(self.children):
                try:
                    child.process.wait(max(deadline - time.monotonic(), 0.01))
                except subprocess.TimeoutExpired:
                    child.process.kill()
                    child.process.wait()
                child.log.close()
            self.children.clear()
            if self.nats is not None:
                self.nats.stop()
                self.nats = None
            if self.postgres is not None:
                self.postgres.stop()
                self.postgres = None
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
