"""ASGI entry point for process managers: ``uvicorn --factory records.app:create_app``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pcse_kit.service import create_app as _create_app

from records.definition import SERVICE

if TYPE_CHECKING:
    from fastapi import FastAPI


def create_app() -> FastAPI:
    return _create_app(SERVICE, SERVICE.settings_factory())
