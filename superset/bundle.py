"""Render superset/assets into the ZIP bundle `superset import-dashboards` takes; print its digest.

Usage: python bundle.py ASSETS_DIR OUT.zip

Every ``${NAME}`` in a YAML file is replaced by the environment variable NAME (the databases'
read-only URIs); a missing variable is an error naming it. The digest covers the rendered files,
so a changed asset or connection setting is imported again. Standard library only: it runs in
Superset's own virtual environment.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import zipfile
from pathlib import Path

ROOT = "tillflow_assets"  # Superset strips the bundle's top folder
#: Only ``${NAME}`` in capitals: d3 formats such as ``$,.2f`` stay as they are.
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def _fill(path: Path) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise SystemExit(f"bundle: {path}: environment variable {name} is not set")
        return os.environ[name]

    return PLACEHOLDER.sub(value, path.read_text())


def render(assets: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for path in sorted(assets.rglob("*.yaml")):
        files[f"{ROOT}/{path.relative_to(assets).as_posix()}"] = _fill(path).encode()
    if f"{ROOT}/metadata.yaml" not in files:
        raise SystemExit(f"bundle: {assets}/metadata.yaml is missing")
    return files


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    assets, out = Path(argv[0]), Path(argv[1])
    files = render(assets)
    digest = hashlib.sha256()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in files.items():
            digest.update(name.encode() + b"\0" + data + b"\0")
            # A fixed timestamp: the same assets give the same bytes.
            bundle.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)
    print(digest.hexdigest()[:16])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
