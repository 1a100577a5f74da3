"""Which repository to use: ``NBVERSION_DIR``, else the nearest ``.nbversion/`` upwards (never
above a ``stop`` folder, such as a Jupyter server's root)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from ..errors import OutsideRootError, RepoNotFoundError

PathLike = Union[str, os.PathLike]


def repo_dir(path: PathLike) -> Path:
    """The repository a person means by ``path``: the folder itself, or the ``.nbversion`` inside
    it when it is a project folder holding one (and is not a repository itself).
    :class:`RepoNotFoundError` when ``path`` is a file."""
    folder = Path(path).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise RepoNotFoundError(f"{folder} is a file, not a repository folder.")
    if not (folder / "index.sqlite").exists() and (folder / ".nbversion").is_dir():
        return folder / ".nbversion"
    return folder


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def find_repo_dir(start: PathLike | None = None, stop: PathLike | None = None) -> Path:
    """The repository directory to use: ``NBVERSION_DIR`` (see :func:`repo_dir`), else the nearest
    ``.nbversion/`` in ``start`` (default: the working directory) or its parents, else
    ``start/.nbversion``. With ``stop``, only ``start`` and its parents up to ``stop`` are searched;
    ``start`` must lie inside ``stop``, and so must the nearest ``.nbversion`` (a link may lead
    elsewhere), or :class:`OutsideRootError` says so."""
    env = os.environ.get("NBVERSION_DIR")
    if env:
        return repo_dir(env)
    here = Path(start or os.getcwd()).resolve()
    top = Path(stop).expanduser().resolve() if stop is not None else None
    if top is not None and not _within(here, top):
        raise OutsideRootError(f"{here} is outside {top}: repositories are only looked for inside it.")
    for folder in (here, *here.parents):
        candidate = folder / ".nbversion"
        if candidate.is_dir():
            if top is not None and not _within(candidate.resolve(), top):
                raise OutsideRootError(f"{candidate} links to a repository outside {top}, which is not served.")
            return candidate
        if folder == top:
            break
    return here / ".nbversion"
