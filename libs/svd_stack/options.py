"""Options shared by every `svd` command module (stack commands, and others such as `demo`, `keys`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DEFAULT_HOME = Path(".svd")

HomeOption = Annotated[
    Path,
    typer.Option(
        "--home",
        envvar="SVD_HOME",
        help="Stack home: stack.json, logs/ and data/ live here.",
    ),
]
