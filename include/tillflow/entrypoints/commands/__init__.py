"""The sub-commands each area adds to `tillflow`: every module here has ``register(tree)``.

``CommandTree`` hands out the named groups (``tillflow generate ...``, ``tillflow bench ...``)
so that several modules can add to one group without reaching into argparse's internals.
"""

from __future__ import annotations

import argparse
from typing import Any


class CommandTree:
    """The `tillflow` parser's sub-commands, with the groups created so far."""

    def __init__(self, root: Any) -> None:
        #: ``root.add_parser(...)`` adds a top-level command (`tillflow ingest`).
        self.root = root
        self._groups: dict[str, Any] = {}

    def group(self, name: str, help_text: str, description: str | None = None) -> Any:
        """The sub-commands of ``tillflow NAME``, created by the first module that asks."""
        if name not in self._groups:
            parser: argparse.ArgumentParser = self.root.add_parser(
                name, help=help_text, description=description or help_text
            )
            self._groups[name] = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
        return self._groups[name]
