"""Stores: where blocks live, behind one small interface (:class:`BlockStore`).

``base`` is the interface, ``registry`` finds back-ends by name, ``pack`` is the embedded on-disk
store, ``sqlite`` the durable SQLite settings the store and the repository index share. Remote
back-ends (an IPFS node) live here too. Stores know formats (CIDs, blocks), never the repository.
"""

from .base import BlockStore, BlockWriter
from .registry import open_store, store_class

__all__ = ["BlockStore", "BlockWriter", "open_store", "store_class"]
