"""Content as files: a stored file's bytes (``cat``), and the CID a file or a tensor would get.

The CIDs are those ``ipfs add --cid-version=1 --raw-leaves`` gives the same bytes, so a file on
disk or a live tensor can be compared with a stored one without storing anything.
"""

from __future__ import annotations

import mmap
import os
from typing import TYPE_CHECKING, Iterator, Union

import numpy as np

from ..errors import InputFileError, NbversionError, OutputPathError
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


def input_file(path: Union[str, os.PathLike]) -> str:
    """``path`` when it names something to read (a file, a pipe, /dev/stdin), else
    :class:`InputFileError` saying, in a user's words, that there is no such file or that it is a folder."""
    name = os.fspath(path)
    if os.path.isdir(name):
        raise InputFileError(f"{name} is a folder, not a file.")
    if not os.path.exists(name):
        raise InputFileError(f"{name}: no such file.")
    return name


def output_file(path: Union[str, os.PathLike]) -> str:
    """``path`` when a file can be written there (its folder exists and it is not a folder), else
    :class:`OutputPathError` naming the path as the user gave it."""
    name = os.fspath(path)
    folder = os.path.dirname(name) or "."
    if os.path.isdir(name):
        raise OutputPathError(f"Cannot write {name}: it is a folder. Name a file inside it.")
    if not os.path.isdir(folder):
        raise OutputPathError(f"Cannot write {name}: the folder {folder} does not exist. Create it first.")
    return name


def file_cid(path: Union[str, os.PathLike]) -> CID:
    """The CID ``ipfs add --cid-version=1 --raw-leaves`` gives the file at ``path``."""
    if not os.path.isfile(input_file(path)):
        raise NbversionError(f"{os.fspath(path)} is not a regular file; only files on disk can be hashed.")
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
