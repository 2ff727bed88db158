"""How long the gateway waits: a subgraph that stops answering, a request past its deadline,
and requests in flight when the gateway is told to stop.

A subgraph "stops answering" by being frozen with SIGSTOP: the real records service, whose
kernel still accepts connections but which answers nothing until SIGCONT. Each test runs a
gateway of its own with short limits, in front of the session's real services.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from pcse_kit.processes import die_with_parent

from stack import ROOT, SERVICES, TOKEN_AUDIENCE, TOKEN_ISSUER, Stack, free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

READY_TIMEOUT_SECONDS = 60
CLIENT_TIMEOUT_SECONDS = 20
QUERY = {
    "query": '{ practice(odsCode: "A81001") { name recordMovements(first: 1) '
    "{ nodes { status } } } }"
}


@contextmanager
def gateway(
    stack: Stack, log_path: Path, **settings: str
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A gateway of its own in front of the stack's services, with ``settings`` added."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
        "GATEWAY_PORT": str(port),
        # Not the default 9464, which a gateway already running here may hold.
        "GATEWAY_METRICS_PORT": str(free_port()),
        "GATEWAY_AUTH_PUBLIC_KEY_FILE": str(stack.config.keys_dir / "public.pem"),
        "GATEWAY_AUTH_ISSUER": TOKEN_ISSUER,
        "GATEWAY_AUTH_AUDIENCE": TOKEN_AUDIENCE,
        **{f"GATEWAY_SUBGRAPH_URL_{s.upper()}": stack.service_url(s) for s in SERVICES},
        **settings,
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["node", str(ROOT / "gateway" / "server.mjs")],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(signal.SIGTERM),  # noqa: PLW1509 - no locks taken
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while "gateway listening" not in log_path.read_text():
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        yield process, f"http://127.0.0.1:{port}/graphql"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def frozen(stack: Stack, name: str) -> Iterator[None]:
    """The service stops answering (SIGSTOP) until the block ends (SIGCONT)."""
    (child,) = [c for c in stack.children if c.name == name]
    child.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        child.process.send_signal(signal.SIGCONT)


def wait_for_a_call(process: subprocess.Popen[bytes], port: int) -> None:
    """Until the gateway holds a connection to ``port``: its request is then in flight.

    A frozen service's kernel still completes the handshake, so the connection shows in
    ``/proc/net/tcp`` (state 01, established) under one of the gateway's own sockets. A fixed
    sleep instead lets a loaded machine send the signal before the request has arrived.
    """
    deadline = time.monotonic() + CLIENT_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        sockets = set()
        for fd in Path(f"/proc/{process.pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                sockets.add(target[len("socket:[") : -1])
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] == "01" and fields[9] in sockets:
                return
        time.sleep(0.02)
    raise AssertionError(f"the gateway never called port {port}")


def post(stack: Stack, url: str, **headers: str) -> httpx.Response:
    return httpx.post(
        url,
        json=QUERY,
        headers={"authorization": f"Bearer {stack.token('admin')}", **headers},
        timeout=CLIENT_TIMEOUT_SECONDS,
    )


def test_a_subgraph_that_does_not_answer_costs_its_part_after_the_upstream_timeout(
    stack: Stack, tmp_path: Path
) -> None:
    settings = {"GATEWAY_UPSTREAM_TIMEOUT_SECONDS": "1", "GATEWAY_REQUEST_DEADLINE_SECONDS": "0"}
    with gateway(stack, tmp_path / "gateway.log", **settings) as (_process, url):
        with frozen(stack, "records"):
            response = post(stack, url)
        # Without the timeout this request would wait for records for as long as it is
        # frozen, and the client's own timeout would fail the test.
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        assert body["data"]["practice"]["name"]
        assert body["data"]["practice"]["recordMovements"] is None
        (error,) = body["errors"]
        assert error["extensions"] == {"code": "GATEWAY_TIMEOUT", "serviceName": "records"}
        assert "records service did not answer within 1 s" in error["message"]
        # Nothing of the request the gateway sent to the subgraph reaches the client.
        assert "127.0.0.1" not in response.text
        assert "request" not in error["extensions"]

        # Once records answers again, so does the whole query.
        after = post(stack, url).json()
        assert "errors" not in after
        assert after["data"]["practice"]["recordMovements"]["nodes"]


@pytest.mark.parametrize(
    "accept", ["application/json", "application/graphql-response+json"], ids=["json", "graphql"]
)
def test_a_request_past_its_deadline_gets_504(stack: Stack, tmp_path: Path, accept: str) -> None:
    settings = {"GATEWAY_UPSTREAM_TIMEOUT_SECONDS": "0", "GATEWAY_REQUEST_DEADLINE_SECONDS": "1.5"}
    with gateway(stack, tmp_path / "gateway.log", **settings) as (_process, url):
        with frozen(stack, "records"):
            response = post(stack, url, accept=accept)
        assert response.status_code == 504
        assert response.headers["content-type"] == f"{accept}; charset=utf-8"
        (error,) = response.json()["errors"]
        assert error["extensions"] == {"code": "GATEWAY_TIMEOUT"}
        assert "longer than 1.5 s" in error["message"]
        assert post(stack, url).status_code == 200


def test_a_request_in_flight_at_shutdown_finishes_within_the_grace(
    stack: Stack, tmp_path: Path
) -> None:
    settings = {"GATEWAY_SHUTDOWN_GRACE_SECONDS": "5", "GATEWAY_UPSTREAM_TIMEOUT_SECONDS": "0"}
    with gateway(stack, tmp_path / "gateway.log", **settings) as (process, url):
        answers: list[httpx.Response] = []
        with frozen(stack, "records"):
            client = threading.Thread(target=lambda: answers.append(post(stack, url)))
            client.start()
            wait_for_a_call(process, stack.config.ports["records"])
            process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert process.poll() is None, "the gateway left before its request finished"
        client.join(CLIENT_TIMEOUT_SECONDS)
        assert process.wait(10) == 0
    (response,) = answers
    assert response.status_code == 200
    assert "errors" not in response.json()
    assert response.json()["data"]["practice"]["recordMovements"]["nodes"]
