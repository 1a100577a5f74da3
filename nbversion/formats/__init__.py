"""Formats: bytes <-> records, with no I/O.

CIDs (``cid``), UnixFS files as Kubo builds them (``unixfs``), dag-cbor (``dagcbor``), CAR v1
(``car``), version and manifest records (``records``), manifests as blocks, sharded when large
(``manifests``), named tensors (``tensors``) and the rules for
names (``names``). Everything here is pinned by tests against independent implementations, since
the CIDs users hold depend on it. Nothing here reads or writes files: callers hand in bytes and a
function to fetch blocks.
"""
