"""nbversion: notebook-native version control of model weights, content-addressed like IPFS.

>>> import nbversion
>>> repo = nbversion.Repo()                # ./.nbversion, created on first commit
>>> v1 = repo.commit({"dense/kernel": w}, model="clf", message="first", metrics={"acc": 0.96})
>>> repo.load("clf~1")                     # {"dense/kernel": ndarray}

The package reads as its architecture: ``formats/`` (bytes <-> records), ``stores/`` (where
blocks live), ``repo/`` (versions, refs and one verb per module), ``adapters/`` (frameworks <->
named tensors), ``live`` (live models), ``present`` (text, HTML, JSON), and the surfaces:
``jupyter/`` (magics, panel bridge, REST routes, widgets) and ``cli``.
"""

from ._version import __version__
from .errors import NbversionError
from .formats.cid import CID
from .formats.records import Version
from .repo import Repo

__all__ = ["CID", "NbversionError", "Repo", "Version", "__version__", "load_ipython_extension"]


def _jupyter_server_extension_points():  # type: ignore[no-untyped-def]
    """The Jupyter server extension (read-only history routes for the panel)."""
    return [{"module": "nbversion.jupyter.routes"}]


def _jupyter_labextension_paths():  # type: ignore[no-untyped-def]
    return [{"src": "labextension", "dest": "nbversion"}]


def load_ipython_extension(ipython):  # type: ignore[no-untyped-def]
    """``%load_ext nbversion`` (IPython is imported only here, never by the core)."""
    from .jupyter.magics import load_ipython_extension as load

    load(ipython)
