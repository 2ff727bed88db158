"""Exports each subgraph's SDL and composes the supergraph that the gateway serves.

The files under ``schema/`` are checked in, so a change to the API is reviewed as SDL; a test
fails when the code and the files disagree, and another when the supergraph breaks clients
compared with the previous commit's without an entry in ``schema/intended-changes.txt``.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
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


# Schema governance: a breaking change to the supergraph must be intended.

INTENDED_CHANGES = SCHEMA_DIR / "intended-changes.txt"
BASE_VARIABLE = "PCSE_SCHEMA_BASE"
"""A commit to compare with instead of ``HEAD~1`` (CI for a push of several commits)."""
_ENTRY = re.compile(r"(?P<type>[A-Z][A-Z_]+)\s+(?P<path>\S+)\s+(?P<reason>\S.*)")


@dataclass(frozen=True)
class SchemaChange:
    """One change between two public schemas, as GraphQL Inspector reports it."""

    type: str
    path: str | None
    criticality: str
    message: str


@dataclass(frozen=True)
class IntendedChange:
    """A line of ``schema/intended-changes.txt``: ``TYPE path reason``."""

    type: str
    path: str
    reason: str


def parse_intended(text: str) -> list[IntendedChange]:
    """The entries of an intended-changes file; a malformed line is an error naming it."""
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _ENTRY.fullmatch(stripped)
        if match is None:
            raise ValueError(
                f"{INTENDED_CHANGES.name}:{number}: expected 'CHANGE_TYPE Type.field reason', "
                f"got {stripped!r}"
            )
        entries.append(IntendedChange(match["type"], match["path"], match["reason"]))
    return entries


def changes_between(old_sdl: str, new_sdl: str) -> list[SchemaChange]:
    """Every change from one supergraph to another, in what clients see."""
    with tempfile.TemporaryDirectory() as tmp:
        old_path, new_path = Path(tmp) / "old.graphql", Path(tmp) / "new.graphql"
        old_path.write_text(old_sdl)
        new_path.write_text(new_sdl)
        result = subprocess.run(  # noqa: S603 - fixed command, no shell
            ["node", str(ROOT / "gateway" / "schema-diff.mjs"), str(old_path), str(new_path)],  # noqa: S607 - node from PATH, like make
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"schema diff failed:\n{result.stderr}")
    return [SchemaChange(**row) for row in json.loads(result.stdout)]


def unintended_breaking_changes(
    *, old_sdl: str, new_sdl: str, intended_before: str, intended_now: str
) -> list[SchemaChange]:
    """The breaking changes that no entry added since the base excuses.

    An entry counts only in the change that adds it, so the file is a log that never needs
    pruning and an old entry cannot excuse the same break made again later.
    """
    before = parse_intended(intended_before)
    new_entries = list(parse_intended(intended_now))
    for entry in before:
        if entry in new_entries:
            new_entries.remove(entry)
    excused = {(entry.type, entry.path) for entry in new_entries}
    return [
        change
        for change in changes_between(old_sdl, new_sdl)
        if change.criticality == "BREAKING" and (change.type, change.path) not in excused
    ]


def _git(root: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed command, no shell
        ["git", "-C", str(root), *arguments],  # noqa: S607 - git from PATH
        capture_output=True,
        text=True,
        check=False,
    )


@dataclass(frozen=True)
class Baseline:
    """What the schema is compared with: a commit's files, or why there is none."""

    commit: str | None
    supergraph: str | None = None
    intended: str = ""
    reason: str = ""


def baseline(root: Path = ROOT) -> Baseline:
    """The previous commit's supergraph and intended changes (``PCSE_SCHEMA_BASE`` or
    ``HEAD~1``), or the reason there is nothing to compare with."""
    base = os.environ.get(BASE_VARIABLE) or "HEAD~1"
    if _git(root, "rev-parse", "--is-inside-work-tree").returncode != 0:
        return Baseline(None, reason="not a git checkout")
    resolved = _git(root, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    if resolved.returncode != 0:
        if _git(root, "rev-parse", "--is-shallow-repository").stdout.strip() == "true":
            return Baseline(
                None, reason=f"{base} is not in this shallow clone (git fetch --deepen=1)"
            )
        return Baseline(None, reason=f"there is no {base}: the first commit")
    commit = resolved.stdout.strip()
    relative = SCHEMA_DIR.relative_to(ROOT).as_posix()
    supergraph = _git(root, "show", f"{commit}:{relative}/supergraph.graphql")
    if supergraph.returncode != 0:
        return Baseline(commit, reason=f"{commit[:12]} has no {relative}/supergraph.graphql")
    intended = _git(root, "show", f"{commit}:{relative}/{INTENDED_CHANGES.name}")
    return Baseline(
        commit,
        supergraph=supergraph.stdout,
        intended=intended.stdout if intended.returncode == 0 else "",
    )
