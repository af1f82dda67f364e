"""Dataflow flex-template metadata of trailbeam's pipelines, generated from their options classes.

    python scripts/flex_template.py metadata            # (re)writes pipelines/templates/<pipeline>.json
    python scripts/flex_template.py metadata --check    # exit 1 when a committed file is out of date

``TEMPLATES`` says which flags each template exposes and which of them the pipeline refuses to run
without; labels and help texts come from the flags' argparse definitions, so a flag is documented once.
Generation fails (exit 2) when the table and the code disagree: a listed flag that the template's
options classes do not define or that takes no value, a flag of a ``covers`` class that is neither
listed nor ``WITHHELD``, or an options class the pipeline module imports that the table does not name.
``scripts/build_flex_template.sh`` turns these files into templates.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from apache_beam.options.pipeline_options import PipelineOptions, S3Options

from trailbeam import avrofile, readers, webidentity
from trailbeam.beam.history import HistoryOptions
from trailbeam.beam.options import AwsOptions, IngestOptions, VerifyOptions

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "pipelines" / "templates"

_SWITCH = ("a switch without a value: the template launcher passes every parameter as --name=value, "
           "which argparse refuses for a store_true flag")
_CREDENTIAL = ("a credential: a Dataflow job shows its options to anyone who can view it; workers get AWS "
               "access from --aws_role_arn (web identity) or boto3's standard chain")

# Flags no template exposes, with the reason.
WITHHELD: Mapping[str, str] = {
    "s3_access_key_id": _CREDENTIAL,
    "s3_secret_access_key": _CREDENTIAL,
    "s3_session_token": _CREDENTIAL,
    "s3_api_version": "botocore's default API version is the one trailbeam is tested with",
    "s3_verify": "a command line turns False into a CA-bundle path (BEAM_NOTES.md); AWS endpoints use public TLS",
    "s3_disable_ssl": _SWITCH,
    "selectors": "a file on the launcher's own disk (read with pathlib, not Beam's filesystems)",
    "progress_dir": "a local folder the command line watches on a terminal",
}

_URI = r"^(gs|s3)://[^\n\r]+$"
_S3_URI = r"^s3://[^\n\r]+$"
_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][^\n\r]+)?$"


def _choice(values: tuple[str, ...]) -> str:
    return f"^({'|'.join(re.escape(value) for value in values)})$"


# One regex per flag wherever a template takes it (a template may narrow it, see Template.regexes).
REGEXES: Mapping[str, str] = {
    "source": _URI,
    "store": _URI,
    "report": _URI,
    "public_keys": _URI,
    "run_id": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",     # pipelines.ingest.check_run_id (a test compares)
    "input_format": _choice(("auto", *readers.SHAPES)),
    "codec": _choice(avrofile.CODECS),
    "accounts": r"^[0-9]{12}( *, *[0-9]{12})*$",
    "regions": r"^[a-z0-9-]+( *, *[a-z0-9-]+)*$",
    "org_id": r"^o-[a-z0-9]{10,32}$",
    "start": _TIME,
    "end": _TIME,
    "history_shards": r"^[1-9][0-9]*$",
    "reads": r"^(true|false)$",
    "write_only": r"^(true|false)$",
    "s3_endpoint_url": r"^https?://[^\s]+$",
    "s3_region_name": r"^[a-z0-9-]+$",
    "aws_role_arn": f"^{webidentity.ROLE_ARN.pattern}$",
    "sts_endpoint_url": r"^https?://[^\s]+$",
}

_SECRET_WORDS = ("secret", "access_key", "session_token", "password", "credential")


@dataclass(frozen=True, kw_only=True)
class Template:
    """One flex template: ``pipelines/<pipeline>.py`` with the flags it exposes."""

    pipeline: str
    required: tuple[str, ...]                           # the pipeline refuses to run without them
    optional: tuple[str, ...]
    covers: tuple[type[PipelineOptions], ...]           # every flag is a parameter or WITHHELD
    borrows: tuple[type[PipelineOptions], ...] = ()     # only the listed flags are taken
    helps: Mapping[str, str] = field(default_factory=dict)     # where the template narrows a flag
    regexes: Mapping[str, str] = field(default_factory=dict)   # overrides of REGEXES


_RUN_ID_HELP = "Name of this run (letters, digits, . _ -); default: the UTC start time."
_AWS = ("aws_role_arn", "aws_web_identity_audience", "sts_endpoint_url")

TEMPLATES: tuple[Template, ...] = (
    Template(
        pipeline="ingest",
        required=("source", "store"),
        optional=("input_format", "run_id", "codec", "accounts", "regions", "org_id", "start", "end",
                  "event_source", "write_only", "s3_endpoint_url", "s3_region_name", *_AWS),
        covers=(IngestOptions, S3Options, AwsOptions),
        helps={"source": "CloudTrail logs to ingest: one gs:// or s3:// file, folder or glob (a template "
                         "parameter cannot be repeated; S3 sources are pruned with accounts, regions, "
                         "org_id, start and end)."},
    ),
    Template(
        pipeline="verify",
        required=("source", "report", "public_keys"),
        optional=("accounts", "regions", "org_id", "start", "end", "s3_endpoint_url", "s3_region_name", *_AWS),
        covers=(VerifyOptions, S3Options, AwsOptions),
        borrows=(IngestOptions,),
        helps={"source": "The trail in S3, s3://bucket[/prefix] (an evidence folder on disk is out of "
                         "the launcher's reach).",
               "public_keys": "gs:// or s3:// path of the aws cloudtrail list-public-keys output (JSON) "
                              "covering the verified range."},
        regexes={"source": _S3_URI},
    ),
    Template(
        pipeline="attribute",
        required=("store",),
        optional=("run_id",),
        covers=(),
        borrows=(IngestOptions,),
        helps={"store": "The event store to attribute (gs:// or s3://); the identity dataset is written "
                        "into it.",
               "run_id": _RUN_ID_HELP},
    ),
    Template(
        pipeline="history",
        required=("store",),
        optional=("run_id", "reads", "projections", "history_shards"),
        covers=(HistoryOptions,),
        borrows=(IngestOptions,),
        helps={"store": "The event store to replay (gs:// or s3://); the history dataset is written into it.",
               "run_id": _RUN_ID_HELP,
               "projections": "Extra resource projections, module:attribute (a Projection, a list of them or a "
                              "Registry) from a module installed in the image: the launcher imports it."},
    ),
)


def _flags(classes: tuple[type[PipelineOptions], ...]) -> dict[str, argparse.Action]:
    """The flags the classes define, by name (without the leading dashes)."""
    parser = argparse.ArgumentParser(add_help=False)
    for options_class in classes:
        options_class._add_argparse_args(parser)
    return {option[2:]: action for action in parser._actions for option in action.option_strings}


def _help(action: argparse.Action) -> str:
    text = action.help or ""
    return text % {**vars(action), "prog": "pipeline"} if "%" in text else text


_ACRONYMS = frozenset({"arn", "aws", "id", "s3", "sts", "url"})


def _label(name: str) -> str:
    words = [word.upper() if word in _ACRONYMS else word for word in name.split("_")]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def _problems(template: Template) -> list[str]:
    """Where the table and the code disagree, one line each."""
    flags = _flags(template.covers + template.borrows)
    listed = template.required + template.optional
    problems = [f"{name}: not a flag of {', '.join(c.__name__ for c in template.covers + template.borrows)}"
                for name in listed if name not in flags]
    problems += [f"{name}: takes no value, cannot be a template parameter"
                 for name in listed if name in flags and flags[name].nargs == 0]
    problems += [f"{name}: withheld ({WITHHELD[name]})" for name in listed if name in WITHHELD]
    problems += [f"{name}: looks like a secret" for name in listed
                 if any(word in name for word in _SECRET_WORDS)]
    problems += [f"{name}: listed twice" for name in set(listed) if listed.count(name) > 1]
    problems += [f"{name} (from {options_class.__name__}): neither a parameter nor WITHHELD"
                 for options_class in template.covers for name in _flags((options_class,))
                 if name not in listed and name not in WITHHELD and name != "help"]
    module = importlib.import_module(f"pipelines.{template.pipeline}")
    named = set(template.covers + template.borrows)
    problems += [f"pipelines/{template.pipeline}.py uses {value.__name__}: add it to covers or borrows"
                 for value in vars(module).values()
                 if isinstance(value, type) and issubclass(value, PipelineOptions)
                 and value is not PipelineOptions and value not in named]
    return [f"{template.pipeline}: {problem}" for problem in problems]


def metadata(template: Template) -> dict:
    """The template's metadata document (Dataflow's flex-template metadata format)."""
    flags = _flags(template.covers + template.borrows)
    module = importlib.import_module(f"pipelines.{template.pipeline}")
    parameters = []
    for name in template.required + template.optional:
        parameter = {"name": name, "label": _label(name),
                     "helpText": template.helps.get(name) or _help(flags[name]),
                     "isOptional": name not in template.required}
        regex = template.regexes.get(name) or REGEXES.get(name)
        if regex:
            parameter["regexes"] = [regex]
        parameters.append(parameter)
    return {
        "_comment": "Generated by scripts/flex_template.py from the pipeline's options classes; "
                    "regenerate with: python scripts/flex_template.py metadata",
        "name": f"trailbeam {template.pipeline}",
        "description": (module.__doc__ or "").strip().splitlines()[0],
        "parameters": parameters,
    }


def render(template: Template) -> str:
    return json.dumps(metadata(template), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("metadata", help="write (or check) pipelines/templates/<pipeline>.json")
    command.add_argument("--check", action="store_true", help="only compare; exit 1 when a file differs")
    command.add_argument("--dir", type=Path, default=TEMPLATES_DIR, help="where the files live")
    args = parser.parse_args(argv)

    problems = [problem for template in TEMPLATES for problem in _problems(template)]
    if problems:
        print("\n".join(["flex_template: the table and the code disagree:", *problems]), file=sys.stderr)
        return 2
    wanted = {args.dir / f"{template.pipeline}.json": render(template) for template in TEMPLATES}
    if args.check:
        stale = [path for path, text in wanted.items() if not path.is_file() or path.read_text() != text]
        extra = sorted(set(args.dir.glob("*.json")) - set(wanted))
        for path in stale:
            print(f"{path}: out of date (python scripts/flex_template.py metadata)", file=sys.stderr)
        for path in extra:
            print(f"{path}: no template in scripts/flex_template.py has this name", file=sys.stderr)
        return 1 if stale or extra else 0
    args.dir.mkdir(parents=True, exist_ok=True)
    for path, text in wanted.items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
