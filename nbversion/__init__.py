"""nbversion: notebook-native version control of model weights, content-addressed like IPFS.

>>> import nbversion
>>> repo = nbversion.Repo()                # ./.nbversion, created on first commit
>>> v1 = repo.commit({"dense/kernel": w}, model="clf", message="first", metrics={"acc": 0.96})
>>> repo.load("clf~1")                     # {"dense/kernel": ndarray}
"""

__version__ = "0.1.0"

from .cid import CID  # noqa: E402
from .errors import NbversionError  # noqa: E402
from .repo import Repo  # noqa: E402
from .version import Version  # noqa: E402

__all__ = ["CID", "NbversionError", "Repo", "Version", "__version__", "load_ipython_extension"]


def _jupyter_server_extension_points():  # type: ignore[no-untyped-def]
    """The Jupyter server extension (read-only history routes for the panel)."""
    return [{"module": "nbversion.routes"}]


def _jupyter_labextension_paths():  # type: ignore[no-untyped-def]
    return [{"src": "labextension", "dest": "nbversion"}]


def load_ipython_extension(ipython):  # type: ignore[no-untyped-def]
    """``%load_ext nbversion`` (IPython is imported only here, never by the core)."""
    from .magics import load_ipython_extension as load

    load(ipython)
