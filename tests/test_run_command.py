"""`python -m stack up` (what `make up` runs) stops everything it started, however it is stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from pcse_kit.auth import SigningKey
from pcse_kit.testing import server_directory

from stack import DEFAULT_PORTS, ROOT, free_port, sign_token

if TYPE_CHECKING:
    from collections.abc import Iterator

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
