"""``python -m stack up`` (the whole stack, foreground) and ``python -m stack schema``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from pcse_kit.auth import Role, SigningKey
from pcse_kit.processes import set_parent_death_signal

from stack import ROOT, STOP_SIGNALS, Stack, StackConfig, StackError, sign_token

EXAMPLE_QUERY = ROOT / "demo" / "practice-status.graphql"
WATCH_SECONDS = 1.0


def example(gateway_url: str, token: str) -> str:
    query = " ".join(
        line.strip()
        for line in EXAMPLE_QUERY.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    body = json.dumps({"query": query, "variables": {"ods": "A81001"}})
    return (
        f"curl -s {gateway_url} \\\n"
        "  -H 'content-type: application/json' \\\n"
        f"  -H 'authorization: Bearer {token}' \\\n"
        f"  --data '{body}'"
    )


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def up() -> int:
    # `make up` killed outright must not leave us running: the kernel then sends SIGTERM.
    set_parent_death_signal(signal.SIGTERM, expected_parent=os.getppid())
    # Ctrl-C must work from the first moment, whatever we inherited: a shell running us in
    # the background without job control starts us with SIGINT ignored, and Python then
    # installs no handler of its own, so start-up would carry on regardless. A mask is
    # inherited too. During start-up each signal unwinds through Stack.start's clean-up.
    for signum in STOP_SIGNALS:
        signal.signal(signum, _exit_on_signal)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    stack = Stack(StackConfig.from_environment())
    print("Starting PostgreSQL, NATS, payments, records, performers and the gateway...", flush=True)
    try:
        stack.start()
    except StackError as error:
        print(f"Could not start the stack: {error}", file=sys.stderr)
        return 1
    try:
        practice_token = stack.token("practice", ["A81001"], ttl_seconds=12 * 3600)
        print(
            f"\nPCSE status is up. The gateway answers at {stack.gateway_url}\n"
            f"Logs: {stack.log_dir}\n\n"
            "Try the practice status query as the practice manager of A81001 (the token is "
            "valid for 12 hours;\n`make token ROLE=practice SCOPE=A81001` makes another):\n\n"
            f"{example(stack.gateway_url, practice_token)}\n\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
        # Blocked so that sigtimedwait receives them; children were spawned before this.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        while signal.sigtimedwait(STOP_SIGNALS, WATCH_SECONDS) is None:
            if exited := stack.exited():
                print(f"Stopped on its own: {', '.join(exited)}", file=sys.stderr)
                for name in exited:
                    print(stack.log_tail(name), file=sys.stderr)
                return 1
        print("\nStopping...", flush=True)
        return 0
    finally:
        stack.stop()


def schema(*, check: bool) -> int:
    from stack import schema as schema_files  # noqa: PLC0415 - imports all three services

    if check:
        stale = schema_files.drift()
        if stale:
            print(f"schema/ is out of date: {', '.join(stale)}; run `make schema`.")
            return 1
        print("schema/ matches the code.")
        return 0
    written = schema_files.write()
    print(f"wrote {', '.join(written)}" if written else "schema/ was already up to date.")
    return 0


def token(*, role: str, scope: str, subject: str | None, hours: float) -> int:
    """Print a development token that `make up` trusts."""
    if role not in {r.value for r in Role}:
        print(f"ROLE must be one of: {', '.join(r.value for r in Role)}", file=sys.stderr)
        return 2
    key = SigningKey.load_or_create(StackConfig.from_environment().keys_dir)
    scopes = [part.strip() for part in scope.split(",") if part.strip()]
    print(sign_token(key, role=role, scope=scopes, subject=subject, ttl_seconds=int(hours * 3600)))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m stack")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="run the whole stack in the foreground")
    schema_parser = commands.add_parser("schema", help="export the SDL and compose the supergraph")
    schema_parser.add_argument("--check", action="store_true", help="fail if schema/ is stale")
    token_parser = commands.add_parser("token", help="print a development token")
    token_parser.add_argument("--role", required=True, help="practice, lmc, accountant, ...")
    token_parser.add_argument("--scope", default="", help="comma-separated: ODS codes, LMC, ...")
    token_parser.add_argument("--subject", default=None, help="who the token speaks for")
    token_parser.add_argument("--hours", type=float, default=12.0, help="validity (12)")
    args = parser.parse_args()
    if args.command == "up":
        return up()
    if args.command == "token":
        return token(role=args.role, scope=args.scope, subject=args.subject, hours=args.hours)
    return schema(check=args.check)


if __name__ == "__main__":
    sys.exit(main())
