"""Which repository to use: ``NBVERSION_DIR``, else the nearest ``.nbversion/`` upwards."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union


def find_repo_dir(start: Union[str, os.PathLike, None] = None) -> Path:
    """The repository directory to use: ``NBVERSION_DIR``, else the nearest ``.nbversion/`` in
    ``start`` (default: the working directory) or its parents, else ``start/.nbversion``."""
    env = os.environ.get("NBVERSION_DIR")
    if env:
        return Path(env).expanduser().resolve()
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ".nbversion").is_dir():
            return folder / ".nbversion"
    return here / ".nbversion"
