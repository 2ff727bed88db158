from pcse_kit.migrations import run_env
from performers.models import Base
from performers.settings import PerformersSettings


def _default_url() -> str:
    return PerformersSettings().migration_url


run_env(Base.metadata, lock_name="performers", default_url_factory=_default_url)
