"""What `make up` agrees to run: a development stack that trusts the development key, so never
in production, against an outside database only when told, and with demo data only in its own
embedded server unless told."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from stack import Stack, StackConfig, StackError

if TYPE_CHECKING:
    from pathlib import Path

OUTSIDE = "postgresql://someone@db.example.org:5432/postgres"


def _config(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> StackConfig:
    for name in (
        "DATABASE_URL",
        "PAYMENTS_DATABASE_URL",
        "RECORDS_DATABASE_URL",
        "PERFORMERS_DATABASE_URL",
        "PCSE_SEED_DEMO",
        "PCSE_TRUST_DEV_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return StackConfig.from_environment()


def test_the_embedded_server_gets_demo_data_and_trusts_the_development_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = _config(monkeypatch, {})
    assert config.seeds_demo
    assert config.refusal({}) is None


@pytest.mark.parametrize(
    "env",
    [{"DATABASE_URL": OUTSIDE}, {"PAYMENTS_DATABASE_URL": f"{OUTSIDE}/payments"}],
    ids=["DATABASE_URL", "PAYMENTS_DATABASE_URL"],
)
def test_an_outside_database_is_refused_unless_the_development_key_is_agreed_to(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    """The finding: make up against an outside server trusted the development key there and
    loaded the demo data into it."""
    config = _config(monkeypatch, env)
    refusal = config.refusal({})
    assert refusal is not None
    assert "PCSE_TRUST_DEV_KEY=1" in refusal
    assert not config.seeds_demo

    agreed = _config(monkeypatch, {**env, "PCSE_TRUST_DEV_KEY": "1"})
    assert agreed.refusal({}) is None
    assert not agreed.seeds_demo  # still no demo data there unless asked for
    assert _config(monkeypatch, {**env, "PCSE_SEED_DEMO": "1"}).seeds_demo


@pytest.mark.parametrize(
    "switch",
    [
        "GATEWAY_ENVIRONMENT",
        "PAYMENTS_ENVIRONMENT",
        "RECORDS_ENVIRONMENT",
        "PERFORMERS_ENVIRONMENT",
        "NODE_ENV",
    ],
)
def test_make_up_refuses_production(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, switch: str
) -> None:
    monkeypatch.setenv(switch, "production")
    config = StackConfig.free_ports(tmp_path)
    refusal = config.refusal({switch: "production"})
    assert refusal is not None
    assert switch in refusal
    with pytest.raises(StackError, match="never does"):
        Stack(config).start()
