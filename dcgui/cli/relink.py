"""``dcgui relink SESSION NEWFOLDER``: point a session at its photos' new folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dcgui.cli.common import add_session_parser, say
from dcgui.core.errors import DcguiError


def register(sub: Any) -> None:
    p = add_session_parser(
        sub, "relink", help="point a session at the folder its photos moved to",
        description="After the photos moved (another disk, a renamed folder), point the session at "
        "their new folder. A sample of the session's files (names and byte sizes) is compared with "
        "the new folder first; any file missing or of another size refuses the relink, naming it, "
        "and nothing is changed.", run=run)
    p.add_argument("folder", type=Path, metavar="NEWFOLDER", help="the folder that now holds the photos")


def run(args: argparse.Namespace) -> int:
    from dcgui.services.folder import relink
    from dcgui.store import SessionStore

    path = Path(args.session).expanduser()
    if not path.is_file():
        raise DcguiError(f"the session file {path} does not exist: give the path of a NAME.dcgui file")
    with SessionStore.open(path) as store:
        before = store.folder
        checked = relink(store, args.folder)
        say(f"{store.path.name} now uses the photo folder {store.folder} (was {before}); "
            f"{checked} of {store.n_images} files checked: same names and sizes")
    return 0
