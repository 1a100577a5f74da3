"""``checkout``: make a version the model's current one (its HEAD), the parent of its next commit.

This moves a ref only; putting the weights into a live model is :func:`nbversion.live.checkout_model`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from ..formats.records import Version
from .refs import DEFAULT_BRANCH, Ref, branch_tips, head, resolve

if TYPE_CHECKING:
    from . import Repo


def checkout(repo: "Repo", ref: Ref, model: Optional[str] = None) -> Version:
    """Make ``ref`` the model's current version.

    HEAD follows a branch when ``ref`` names one or is the tip of one; otherwise it is detached,
    and the next commit starts a new branch (``from-vN``).
    """
    cid = resolve(repo, ref, model)
    version = repo.index.version(cid)
    model = version.model
    with repo.index.locked() as db:
        head_branch, _ = head(repo, model)
        tips = branch_tips(repo, model)
        named = ref.split("/", 1)[1] if isinstance(ref, str) and ref.startswith(model + "/") else ref
        if isinstance(named, str) and tips.get(named) == cid:
            target = f"branch:{named}"
        elif head_branch is not None and tips.get(head_branch) == cid:
            target = f"branch:{head_branch}"
        else:
            on = [n for n in sorted(tips, key=lambda n: (n != DEFAULT_BRANCH, n)) if tips[n] == cid]
            target = f"branch:{on[0]}" if on else str(cid)
        repo.index.set_ref(db, "head", model, target)
    return version
