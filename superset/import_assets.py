"""Import a rendered bundle (bundle.py) into Superset, overwriting every asset it names.

Usage: python import_assets.py BUNDLE.zip USERNAME

`superset import-dashboards` overwrites the dashboards only: a chart, dataset or database that
already exists keeps its old definition, so an edited chart under superset/assets would never
reach Superset. Superset's assets import (the command behind POST /api/v1/assets/import/) is the
one meant for assets kept under source control: it overwrites databases, datasets, charts and
dashboards alike, by UUID. Runs in Superset's own virtual environment.
"""

from __future__ import annotations

import sys
import zipfile


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    path, username = argv
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset.commands.exceptions import CommandInvalidError
        from superset.commands.importers.v1.assets import ImportAssetsCommand
        from superset.commands.importers.v1.utils import get_contents_from_bundle
        from superset.utils.core import override_user

        from superset import security_manager

        user = security_manager.find_user(username=username)
        if user is None:
            print(f"import_assets: no Superset user {username!r}", file=sys.stderr)
            return 1
        with zipfile.ZipFile(path) as bundle:
            contents = get_contents_from_bundle(bundle)
        try:
            with override_user(user):
                ImportAssetsCommand(contents).run()
        except CommandInvalidError as err:
            print(f"import_assets: {err.normalized_messages()}", file=sys.stderr)
            return 1
    print(f"import_assets: {len(contents) - 1} assets imported from {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
