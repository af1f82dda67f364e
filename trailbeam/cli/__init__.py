"""The ``trailbeam`` command: thin subcommands over the library and the pipelines.

Conventions shared by every subcommand: commands that read a store take ``--store``, commands that
write take ``--out``, query commands take ``--format table|json|csv``, times are ISO 8601 UTC.
Exit codes: 0 success, 1 a check found problems (e.g. conflicting copies of an event), 2 usage or
input errors, with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from trailbeam import __version__, errors
from trailbeam.cli import case, evidence, history, identity, store, timeline
from trailbeam.cli.common import UsageError

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own exit code is 2 as well; keep one line
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="trailbeam", description="AWS CloudTrail forensics: ingest, inspect and "
                     "investigate CloudTrail logs with Apache Beam.")
    parser.add_argument("--version", action="version", version=f"trailbeam {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log Beam's progress messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    store.add_commands(commands)
    evidence.add_commands(commands)
    store.add_demo(commands)
    identity.add_commands(commands)
    history.add_commands(commands)
    timeline.add_commands(commands)
    case.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        if extra and args.command not in ("ingest", "demo", "attribute", "histories", "investigate"):
            raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
        logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                            format="%(levelname)s %(name)s: %(message)s")
        code: int = args.handler(args, extra)
        return code
    except errors.TrailbeamError as err:
        print(f"trailbeam: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `trailbeam cat ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
