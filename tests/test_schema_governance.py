"""Schema governance: a breaking change to the composed supergraph, compared with the previous
commit's, fails unless ``schema/intended-changes.txt`` gains a line for it in the same change.

CI runs this on a clean clone of main, where the previous commit is the main before the
merge; ``PCSE_SCHEMA_BASE`` names another commit (the one before a push of several). With no
previous commit (the first commit, or a shallow clone) there is nothing to compare with, and
the test says so rather than pass in silence.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest

from stack import ROOT
from stack import schema as schema_files

if TYPE_CHECKING:
    from pathlib import Path

SUPERGRAPH = (ROOT / "schema" / "supergraph.graphql").read_text()


def test_the_supergraph_breaks_no_client_unless_intended() -> None:
    base = schema_files.baseline()
    if base.supergraph is None:
        pytest.skip(f"nothing to compare the supergraph with: {base.reason}")
    unintended = schema_files.unintended_breaking_changes(
        old_sdl=base.supergraph,
        new_sdl=SUPERGRAPH,
        intended_before=base.intended,
        intended_now=schema_files.INTENDED_CHANGES.read_text(),
    )
    lines = "\n".join(f"  {c.type} {c.path}  ({c.message})" for c in unintended)
    assert not unintended, (
        f"breaking changes since {base.commit}:\n{lines}\nIf they are meant, add a line for "
        "each to schema/intended-changes.txt: CHANGE_TYPE path reason."
    )


def renamed(sdl: str, old: str, new: str) -> str:
    assert old in sdl
    return sdl.replace(old, new, 1)


# The client contract's root field, as the supergraph spells it.
PRACTICE_FIELD = '  practice("""'


def test_a_removed_field_is_breaking_and_an_added_one_is_not() -> None:
    changed = renamed(SUPERGRAPH, PRACTICE_FIELD, '  practiceByCode("""')
    unintended = schema_files.unintended_breaking_changes(
        old_sdl=SUPERGRAPH, new_sdl=changed, intended_before="", intended_now=""
    )
    assert [(c.type, c.path) for c in unintended] == [("FIELD_REMOVED", "Query.practice")]


def test_a_field_moved_between_subgraphs_is_no_change_to_clients() -> None:
    moved = renamed(
        SUPERGRAPH,
        "odsCode: String!): PracticePayments! @join__field(graph: PAYMENTS)",
        "odsCode: String!): PracticePayments! @join__field(graph: RECORDS)",
    )
    assert schema_files.changes_between(SUPERGRAPH, moved) == []


def test_an_entry_excuses_its_change_only_when_it_is_new() -> None:
    changed = renamed(SUPERGRAPH, PRACTICE_FIELD, '  practiceByCode("""')
    entry = "FIELD_REMOVED Query.practice renamed practiceByCode; the apps send both since 3.2\n"
    header = schema_files.INTENDED_CHANGES.read_text()
    added = schema_files.unintended_breaking_changes(
        old_sdl=SUPERGRAPH, new_sdl=changed, intended_before=header, intended_now=header + entry
    )
    assert added == []
    # The same line already there before: it was for an earlier change, not this one.
    stale = schema_files.unintended_breaking_changes(
        old_sdl=SUPERGRAPH,
        new_sdl=changed,
        intended_before=header + entry,
        intended_now=header + entry,
    )
    assert [(c.type, c.path) for c in stale] == [("FIELD_REMOVED", "Query.practice")]
    # Another branch's entry for another change excuses nothing here.
    other = "FIELD_REMOVED Query.lmc gone\n"
    unrelated = schema_files.unintended_breaking_changes(
        old_sdl=SUPERGRAPH, new_sdl=changed, intended_before=header, intended_now=header + other
    )
    assert [c.path for c in unrelated] == ["Query.practice"]


def test_a_malformed_entry_is_refused_with_its_line() -> None:
    with pytest.raises(ValueError, match=r"intended-changes.txt:2: expected"):
        schema_files.parse_intended("# a comment\nQuery.practice removed\n")


def git(repository: Path, *arguments: str) -> None:
    subprocess.run(
        ["git", "-C", str(repository), *arguments],
        check=True,
        capture_output=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.org",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.org",
            "HOME": str(repository),
            "PATH": "/usr/bin:/bin",
        },
    )


def test_the_baseline_is_the_previous_commit_and_a_first_commit_has_none(tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    (repository / "schema").mkdir(parents=True)
    git(repository, "init", "-q")
    (repository / "schema" / "supergraph.graphql").write_text("first")
    git(repository, "add", "-A")
    git(repository, "commit", "-q", "-m", "first")
    first = schema_files.baseline(repository)
    assert first.supergraph is None
    assert "first commit" in first.reason

    (repository / "schema" / "supergraph.graphql").write_text("second")
    (repository / "schema" / "intended-changes.txt").write_text("X Query.y z\n")
    git(repository, "add", "-A")
    git(repository, "commit", "-q", "-m", "second")
    (repository / "schema" / "supergraph.graphql").write_text("third")
    git(repository, "add", "-A")
    git(repository, "commit", "-q", "-m", "third")
    previous = schema_files.baseline(repository)
    assert previous.supergraph == "second"
    assert previous.intended == "X Query.y z\n"

    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth=1", f"file://{repository}", str(shallow)],
        check=True,
        capture_output=True,
    )
    cut = schema_files.baseline(shallow)
    assert cut.supergraph is None
    assert "shallow clone" in cut.reason
