"""`--help` renders for every command and sub-command of `tillflow`, the bench group included
(argparse formats help strings with %, so a stray percent sign breaks a whole group's help)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from tillflow.entrypoints.cli import build_parser

pytestmark = pytest.mark.unit


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    yield path
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _commands(child, (*path, name))


def _all_commands() -> list[tuple[str, ...]]:
    return sorted(set(_commands(build_parser(["bench"]))) | set(_commands(build_parser([]))))


@pytest.mark.parametrize("path", _all_commands(), ids=lambda p: " ".join(p) or "tillflow")
def test_help_renders(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*path, "--help"]
    with pytest.raises(SystemExit) as exit_info:
        build_parser(argv).parse_args(argv)
    assert exit_info.value.code == 0
    assert "usage: tillflow" in capsys.readouterr().out


def test_the_bench_group_is_listed() -> None:
    assert ("bench", "idle") in _all_commands()
    assert ("bench", "astro-parity") in _all_commands()
