"""``harness registry show|alias``: look at a model in the registry, or move its alias by hand."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import ExitCode
from ..text.normalize import one_line
from . import common

EXIT_CODES = common.exit_codes("  0  done", "  4  invalid input: unknown model or version, a blocked version"
                               " without --force", common.EXIT_ENVIRONMENT)


def register(commands: Any) -> None:
    parser = common.command(
        commands, "registry", help="look at the model registry, or move the serving alias by hand",
        description="The model registry the gate records into: versions, their tags, the serving alias and its"
                    " history. `alias` moves the alias by hand (recorded; never taken for a last-known-good).",
        exit_codes=EXIT_CODES)
    actions = common.actions(parser, "registry_command")
    show = actions.add_parser("show", help="versions, tags, the serving alias and the alias history of a model",
                              description="Versions (oldest first) with their tags, the serving alias marked *,"
                                          " and every recorded move of the alias.")
    alias = actions.add_parser("alias", help="point the serving alias at a version by hand (recorded)",
                               description="Point the serving alias at a version by hand. The move is recorded in"
                                           " the registry and the decision log, and a version put in service this"
                                           " way is never taken for a last-known-good.")
    alias.add_argument("--version", required=True, help="the version to serve")
    alias.add_argument("--reason", required=True, help="why (recorded in the alias history and the decision log)")
    alias.add_argument("--create", action="store_true",
                       help="register the version first if the registry does not know it yet")
    alias.add_argument("--force", action="store_true", help="serve a version tagged blocked anyway (recorded)")
    for sub in (show, alias):
        sub.add_argument("--model", required=True, help="registered model name")
        common.registry_options(sub)
        common.repository_options(sub, evals=False, today=False)
    common.recording_options(alias)
    parser.set_defaults(func=lambda args: run(args, parser))


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .. import api
    from ..project import read_playbook

    if args.registry_command is None:
        return common.missing_action(parser)
    settings = api.release_settings(read_playbook(args.policies), **common.overrides(args))
    if args.registry_command == "alias":
        moved = api.move_alias(args.model, args.version, reason=args.reason, settings=settings, create=args.create,
                               force=args.force, actor=args.by, policies_dir=args.policies,
                               clock=args.clock)
        before = moved.move.from_version or "(not set)"
        forced = " over its blocked tag" if moved.forced else ""
        common.say(f"{settings.alias!r}: {before} -> {args.version} (recorded as a manual move{forced})", err=False)
        return int(ExitCode.PROMOTE)
    view = api.registry_view(args.model, settings=settings, clock=args.clock)
    serving = view.serving or "(not set)"
    lines = [f"{view.model} ({view.uri}); {view.alias!r} -> {serving}"]
    if not view.versions:
        lines.append("   no versions")
    for v in view.versions:
        mark = "*" if v.version == view.serving else " "
        tags = ", ".join(f"{k}={val}" for k, val in sorted(v.tags.items()) if not k.endswith("sha256")) or "no tags"
        lines.append(f" {mark} {v.version:<12} {tags}")
    if view.history:
        lines.append(f" history of {view.alias!r}:")
    for move in view.history:
        lines.append(f"   {move.at} {move.from_version or '(not set)'} -> {move.to_version} by {move.actor}:"
                     f" {move.reason}")
    common.say(*(one_line(line) for line in lines), err=False)
    return int(ExitCode.PROMOTE)
