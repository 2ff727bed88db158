"""Exports each subgraph's SDL and composes the supergraph that the gateway serves.

The files under ``schema/`` are checked in, so a change to the API is reviewed as SDL; a test
fails when the code and the files disagree.
"""

from __future__ import annotations

import importlib
import subprocess
import tempfile
from pathlib import Path

from stack import ROOT, SERVICES

SCHEMA_DIR = ROOT / "schema"


def subgraph_sdl(name: str) -> str:
    definition = importlib.import_module(f"{name}.definition")
    sdl: str = definition.SERVICE.schema.as_str()
    return sdl + "\n"


def compose(sdl_dir: Path, out: Path) -> None:
    arguments = [f"{name}={sdl_dir / f'{name}.graphql'}" for name in SERVICES]
    result = subprocess.run(  # noqa: S603 - fixed command, no shell
        ["node", str(ROOT / "gateway" / "compose.mjs"), "--out", str(out), *arguments],  # noqa: S607 - node from PATH, like make
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"composition failed:\n{result.stderr}")


def render() -> dict[str, str]:
    """Every file ``schema/`` should hold, by name, as the code says it now."""
    files = {f"{name}.graphql": subgraph_sdl(name) for name in SERVICES}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        for file_name, text in files.items():
            (tmp_dir / file_name).write_text(text)
        compose(tmp_dir, tmp_dir / "supergraph.graphql")
        files["supergraph.graphql"] = (tmp_dir / "supergraph.graphql").read_text()
    return files


def drift() -> list[str]:
    """Names of the checked-in files that differ from what the code renders."""
    return [
        name
        for name, text in render().items()
        if not (SCHEMA_DIR / name).exists() or (SCHEMA_DIR / name).read_text() != text
    ]


def write() -> list[str]:
    SCHEMA_DIR.mkdir(exist_ok=True)
    written = []
    for name, text in render().items():
        path = SCHEMA_DIR / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(name)
    return written
