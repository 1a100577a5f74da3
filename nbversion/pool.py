"""The worker threads nbversion shares: one per core, for hashing chunks and reading blocks.

hashlib and ``os.preadv`` release the GIL, so threads run them in parallel. One pool for the
process keeps the number of threads at the number of cores however many repositories are open.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

_pool: Optional[ThreadPoolExecutor] = None


def workers() -> ThreadPoolExecutor:
    """The shared thread pool (created on first use)."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="nbversion-worker")
    return _pool
