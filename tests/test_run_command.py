"""`python -m stack up` (what `make up` runs) stops everything it started, however it is stopped."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest
from pcse_kit.auth import SigningKey
from pcse_kit.testing import server_directory

from stack import DEFAULT_PORTS, ROOT, free_port, sign_token

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from pcse_kit.postgres import EmbeddedPostgres

READY_LINE = "PCSE status is up"
START_TIMEOUT_SECONDS = 120
EXIT_TIMEOUT_SECONDS = 30


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses; fields resume after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            living.add(pid)
    return living


def wait_gone(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive(pids)


def start(data_dir: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """Start the run command and wait for the line saying it is up; return what it printed."""
    output_path = data_dir / f"run-{time.monotonic_ns()}.out"
    with output_path.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "stack", "up"],
            cwd=ROOT,
            env={**os.environ, **env, "PCSE_DATA_DIR": str(data_dir)},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while READY_LINE not in (printed := output_path.read_text()):
        assert process.poll() is None, f"exited early:\n{printed}"
        assert time.monotonic() < deadline, f"not up in time:\n{printed}"
        time.sleep(0.1)
    return process, printed


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # The run command starts PostgreSQL in here, so it must be outside pytest's 0700 tree.
    with server_directory() as path:
        yield path


def test_ctrl_c_and_sigkill_leave_no_process_behind(data_dir: Path) -> None:
    ports = {f"{name.upper()}_PORT": str(free_port()) for name in DEFAULT_PORTS}
    env = {**ports, "PCSE_POSTGRES_PORT": str(free_port()), "PCSE_NATS_PORT": str(free_port())}
    gateway = f"http://127.0.0.1:{ports['GATEWAY_PORT']}/graphql"
    query = {"query": '{ practice(odsCode: "A81001") { name payments { statements { nodes '
             "{ period } } } recordMovements { nodes { status } } } }"}  # fmt: skip

    # First run: up, answering, then Ctrl-C.
    process, output = start(data_dir, env)
    assert gateway in output
    # The example it prints works as pasted: its token, its query, A81001's status.
    example = output[output.index("curl -s") :].split("\n\n")[0]
    pasted = subprocess.run(
        ["bash", "-c", example], capture_output=True, text=True, check=True, timeout=30
    )
    answer = json.loads(pasted.stdout)
    assert "errors" not in answer, answer
    assert answer["data"]["practice"]["odsCode"] == "A81001"
    assert answer["data"]["practice"]["payments"]["statements"]["nodes"]
    # The key `make up` made for itself, as `make token` uses it.
    key = SigningKey.load_or_create(data_dir / "dev-keys")
    admin = {"authorization": f"Bearer {sign_token(key, role='admin')}"}
    body = httpx.post(gateway, json=query, headers=admin, timeout=10).json()
    assert body["data"]["practice"]["name"]
    started = descendants(process.pid)
    assert len(started) >= 6  # PostgreSQL (and its workers), NATS, three services, the gateway

    process.send_signal(signal.SIGINT)
    assert process.wait(EXIT_TIMEOUT_SECONDS) == 0
    assert wait_gone(started, 5) == set()

    # Second run on the same data: the demo data is kept, not loaded again; then SIGKILL.
    process, _ = start(data_dir, env)
    body = httpx.post(gateway, json=query, headers=admin, timeout=10).json()
    assert body["data"]["practice"]["name"]
    assert "demo data already present" in (data_dir / "logs" / "payments.log").read_text()
    started = descendants(process.pid)

    process.kill()
    process.wait()
    assert wait_gone(started, EXIT_TIMEOUT_SECONDS) == set()


def members(marker: str) -> set[int]:
    """Live processes whose environment holds ``marker``: every part of one run, orphans too."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and marker.encode() in environ.split(b"\0"):
            found.add(int(entry.name))
    return found


def ignore_sigint() -> None:
    # What a shell does for a command it runs in the background without job control: the
    # command starts with SIGINT ignored, and Python then installs no handler of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def launched(data_dir: Path, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """The run command, started with SIGINT ignored; killed if a test leaves it running."""
    output_path = data_dir.with_name(f"{data_dir.name}-run.out")
    with output_path.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "stack", "up"],
            cwd=ROOT,
            env={**os.environ, **env, "PCSE_DATA_DIR": str(data_dir)},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=ignore_sigint,  # noqa: PLW1509 - no locks taken
        )
    try:
        yield process, output_path
    finally:
        if process.poll() is None:
            process.kill()  # its children get SIGTERM from the kernel (parent-death signal)
            process.wait()


def wait_for(condition: Callable[[], bool], what: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not condition():
        assert process.poll() is None, f"exited before {what}"
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.02)


def free_ports_env() -> dict[str, str]:
    ports = {f"{name.upper()}_PORT": str(free_port()) for name in DEFAULT_PORTS}
    return {**ports, "PCSE_POSTGRES_PORT": str(free_port())}


def catches(pid: int, signum: int) -> bool:
    """Whether ``pid`` has a handler for ``signum`` (SigCgt in /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    (mask,) = [line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")]
    return bool(int(mask, 16) >> (signum - 1) & 1)


def test_ctrl_c_while_the_run_command_is_still_importing_stops_it(data_dir: Path) -> None:
    """The first moment a Ctrl-C can be caught: before the package has finished importing,
    which takes seconds on a busy machine, and although SIGINT was inherited as ignored."""
    run_dir = data_dir / "importing"
    marker = f"PCSE_DATA_DIR={run_dir}"
    with launched(run_dir, free_ports_env()) as (process, output):
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not catches(process.pid, signal.SIGINT):
            assert process.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.002)
        # Caught before the heavy imports: asyncpg's extension is not loaded yet.
        maps = Path(f"/proc/{process.pid}/maps").read_text()
        assert "/asyncpg/" not in maps
        process.send_signal(signal.SIGINT)
        assert process.wait(EXIT_TIMEOUT_SECONDS) == 128 + signal.SIGINT, output.read_text()
        assert wait_gone(members(marker), 5) == set()
        assert "PCSE status is up" not in output.read_text()


def test_ctrl_c_while_postgres_is_being_set_up_stops_everything(data_dir: Path) -> None:
    run_dir = data_dir / "fresh"
    marker = f"PCSE_DATA_DIR={run_dir}"

    def setting_up_postgres() -> bool:
        return any(
            b"initdb" in cmdline or b"pginstall/bin/postgres" in cmdline
            for cmdline in (_cmdline(pid) for pid in members(marker))
        )

    with launched(run_dir, free_ports_env()) as (process, output):
        wait_for(setting_up_postgres, "initdb or postgres", process)
        process.send_signal(signal.SIGINT)
        assert process.wait(EXIT_TIMEOUT_SECONDS) == 128 + signal.SIGINT, output.read_text()
        assert wait_gone(members(marker), 5) == set()
        assert "PCSE status is up" not in output.read_text()


async def test_ctrl_c_while_a_service_is_migrating_stops_everything_within_seconds(
    data_dir: Path, postgres: EmbeddedPostgres
) -> None:
    """Payments is held in its migration (another session holds its migration lock), the
    moment at which a service used to finish starting before it looked at the signal."""
    run_dir = data_dir / "held"
    marker = f"PCSE_DATA_DIR={run_dir}"
    database = f"held_payments_{os.getpid()}"
    await asyncio.to_thread(postgres.create_database, database)
    holder = await asyncpg.connect(postgres.dsn(database))
    try:
        # The key of the advisory lock the payments migrations take (pcse_kit.migrations).
        await holder.execute("SELECT pg_advisory_lock($1)", zlib.crc32(b"payments") & 0x7FFFFFFF)
        env = {
            **free_ports_env(),
            "PAYMENTS_DATABASE_URL": postgres.dsn(database),
            # A database make up did not make: it must be told to trust the development key.
            "PCSE_TRUST_DEV_KEY": "1",
        }
        payments_log = run_dir / "logs" / "payments.log"

        def payments_starting() -> bool:
            return payments_log.exists() and "Waiting for application startup" in (
                payments_log.read_text()
            )

        with launched(run_dir, env) as (process, output):
            await asyncio.to_thread(wait_for, payments_starting, "payments starting", process)
            await asyncio.sleep(0.5)  # into the migration, waiting for the lock
            started = members(marker)
            assert len(started) >= 4  # this run, PostgreSQL, payments and the other services
            process.send_signal(signal.SIGINT)
            returncode = await asyncio.to_thread(process.wait, EXIT_TIMEOUT_SECONDS)
            assert returncode == 128 + signal.SIGINT, output.read_text()
            assert await asyncio.to_thread(wait_gone, started | members(marker), 5) == set()
            assert "stopped by signal" in payments_log.read_text()
    finally:
        await holder.close()


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
