"""``tag`` and ``untag``: names for versions that do not move unless forced."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Union

from ..errors import MetadataError, UnknownRefError
from ..formats.cid import CID
from ..formats.names import check_name
from .refs import check_tag_name_free, resolve, tags

if TYPE_CHECKING:
    from . import Repo


def tag(repo: "Repo", name: str, ref: Union[str, CID] = "HEAD", model: Optional[str] = None, *, force: bool = False) -> CID:
    """Name a version (default: the model's current one). Tags do not move unless ``force``.

    The name follows :mod:`nbversion.formats.names` and is never a model's name."""
    check_name(name, "Tag")
    with repo.index.locked() as db:
        check_tag_name_free(repo, name)
        cid = resolve(repo, ref, model)
        old = repo.index.ref("tag", name)
        if old is not None and CID.parse(old) != cid and not force:
            raise MetadataError(
                f"Tag {name!r} already names {old}; to move it, pass force=True (--force on the command line)."
            )
        repo.index.set_ref(db, "tag", name, str(cid))
    return cid


def untag(repo: "Repo", name: str) -> None:
    """Remove a tag (the version stays)."""
    with repo.index.locked() as db:
        if repo.index.ref("tag", name) is None:
            raise UnknownRefError(f"No tag {name!r}. Known tags: {', '.join(tags(repo)) or 'none'}.")
        repo.index.delete_ref(db, "tag", name)
