from pcse_kit.migrations import run_env
from records.models import Base
from records.settings import RecordsSettings


def _default_url() -> str:
    return RecordsSettings().migration_url


run_env(Base.metadata, lock_name="records", default_url_factory=_default_url)
