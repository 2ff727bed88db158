from payments.models import Base
from payments.settings import PaymentsSettings
from pcse_kit.migrations import run_env


def _default_url() -> str:
    return PaymentsSettings().migration_url


run_env(Base.metadata, lock_name="payments", default_url_factory=_default_url)
