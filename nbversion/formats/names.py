"""The rules for the names people give things: models, branches and tags.

A name must read the same in a shell, a URL and a ref (``MODEL~N``, ``MODEL/BRANCH``), so it is
letters, digits, ``_``, ``.`` and ``-``, and it cannot look like a ref of another kind (``HEAD``,
``vN``).
"""

from __future__ import annotations

import re

from ..errors import MetadataError

NAME = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.\-]*")
SEQ = re.compile(r"v(\d+)")


def check_name(name: str, what: str) -> str:
    """A model, branch or tag name, or :class:`MetadataError` saying what is wrong with it."""
    if not isinstance(name, str) or not NAME.fullmatch(name) or name == "HEAD" or SEQ.fullmatch(name):
        raise MetadataError(
            f"{what} name {name!r} is not allowed: use letters, digits, '_', '.', '-' "
            "(not 'HEAD', not 'v' followed by digits)."
        )
    return name
