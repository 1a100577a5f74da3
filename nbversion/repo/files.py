"""Content as files: a stored file's bytes (``cat``), and the CID a file or a tensor would get.

The CIDs are those ``ipfs add --cid-version=1 --raw-leaves`` gives the same bytes, so a file on
disk or a live tensor can be compared with a stored one without storing anything.
"""

from __future__ import annotations

import mmap
import os
from typing import TYPE_CHECKING, Iterator, Union

import numpy as np

from ..errors import NbversionError
from ..formats.cid import CID, DAG_CBOR
from ..formats.tensors import as_tensor, tensor_bytes
from ..formats.unixfs import build_file, file_leaves

if TYPE_CHECKING:
    from . import Repo


def cat(repo: "Repo", cid: Union[str, CID]) -> Iterator[bytes]:
    """The content of a UnixFS file (or the bytes of any other block), verified, in pieces."""
    cid = CID.parse(cid)
    if cid.codec == DAG_CBOR:
        yield repo.store.get(cid)
        return
    for leaf, _ in file_leaves(cid, repo.store.get, repo.store.size):
        yield repo.store.get(leaf)


def file_cid(path: Union[str, os.PathLike]) -> CID:
    """The CID ``ipfs add --cid-version=1 --raw-leaves`` gives the file at ``path``."""
    if not os.path.isfile(path):
        raise NbversionError(f"{os.fspath(path)} is not a file.")
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return build_file(b"").cid
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                return build_file(view).cid
            finally:
                view.release()


def tensor_cid(name: str, value: np.ndarray) -> CID:
    """The CID a commit would give the tensor ``value`` (its canonical bytes as a UnixFS file)."""
    return build_file(tensor_bytes(as_tensor(name, value))).cid
