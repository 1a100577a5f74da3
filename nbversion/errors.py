"""The exceptions nbversion raises, all rooted at :class:`NbversionError`.

Each specific error also inherits the standard exception it resembles, so ``except KeyError``
still catches an unknown ref and ``except OSError`` still catches a full disk. Messages name the
object at fault and, where there is one, the fix.
"""

from __future__ import annotations


class NbversionError(Exception):
    """Root of every error nbversion raises on purpose."""


class InvalidCIDError(NbversionError, ValueError):
    """A string or byte string is not a CID nbversion can use."""


class RefError(NbversionError, KeyError):
    """A ref (CID, tag, branch, ``MODEL~N``, ``vN``, ``HEAD``) names no version or several."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownRefError(RefError):
    """No version answers to the ref."""


class AmbiguousRefError(RefError):
    """More than one version answers to the ref."""


class UnchangedError(NbversionError, ValueError):
    """A commit would record the same content as its parent; nothing was committed."""


class TensorError(NbversionError, TypeError):
    """A value handed to ``commit`` is not a tensor nbversion can store."""


class MetadataError(NbversionError, ValueError):
    """A message, metric, author or context value cannot be stored as data."""


class BlockNotFoundError(NbversionError, KeyError):
    """A block a version needs is not in the store."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class CorruptBlockError(NbversionError, ValueError):
    """A block's bytes no longer hash to its CID (or its recorded checksum)."""


class CorruptIndexError(CorruptBlockError):
    """A copy kept in a repository's index no longer matches its CID (a version block cached in
    ``index.sqlite``), or an index database file itself is damaged."""


class FormatError(NbversionError, ValueError):
    """Stored or imported data is not in a format nbversion understands (never executed)."""


class CarError(FormatError):
    """A CAR file is malformed, truncated, or does not hold the DAG it claims."""


class StoreFullError(NbversionError, OSError):
    """The disk filled up while writing; nothing was committed."""


class InputFileError(NbversionError, FileNotFoundError):
    """A file to read does not exist, or is a folder."""


class OutputPathError(NbversionError, NotADirectoryError):
    """A file cannot be written where asked: its folder is missing, or the path is a folder."""


class RepoNotFoundError(NbversionError, FileNotFoundError):
    """No ``.nbversion`` repository exists where one was looked for."""


class OutsideRootError(NbversionError, PermissionError):
    """A path names something outside the directory a search was confined to (a server's root)."""


class NbversionWarning(UserWarning):
    """Root of the warnings nbversion gives: something is wrong, but the work could go on."""


class DamagedIndexWarning(NbversionWarning):
    """An index row is damaged: a listing left it out, or the version was read from the block store."""


class RemoteError(NbversionError, RuntimeError):
    """An IPFS node (a remote) refused a request or answered in a way nbversion cannot use."""


class RemoteAddressError(RemoteError, ValueError):
    """A remote's address is not an IPFS RPC API: malformed, or something else answers there."""


class RemoteUnreachableError(RemoteError, ConnectionError):
    """Nothing answers at a remote's address (the daemon is down, or the port is wrong)."""


class RemoteTimeoutError(RemoteError, TimeoutError):
    """A remote took longer than allowed to answer."""


class UnknownRemoteError(RemoteError, KeyError):
    """No remote of that name in this repository."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class PullError(RemoteError):
    """What a remote holds under a CID is not a complete, valid version; nothing was published."""


class BadArgumentError(NbversionError, ValueError):
    """A request to the server extension has an argument it cannot take (a page size that is not a number)."""


class PubsubUnavailableError(RemoteError):
    """An IPFS node serves no pubsub (turned off, or not built in), so nothing can be announced or watched."""


class CredentialsError(NbversionError, PermissionError):
    """The credentials file cannot be used: open to other users, not one's own, or malformed."""


class RemoteAuthError(RemoteError, PermissionError):
    """A remote refused the credentials given (or wanted some and got none)."""


class PinningError(RemoteError):
    """A pinning service could not pin a version (its status is ``failed``), or answered otherwise
    than the IPFS Pinning Service API says."""


class PinError(NbversionError, LookupError):
    """A notebook has no pin for a model, or its pins (in its metadata or ``NBVERSION_PINS``) cannot be read."""


class NotebookRunError(NbversionError, RuntimeError):
    """A notebook run (``nbversion run`` / ``reproduce``) could not start, or one of its cells failed."""


class NotReproducibleError(NbversionError, ValueError):
    """A version cannot be reproduced: it recorded no code, or its code lacks the committing cell."""


class WrongKindError(NbversionError, TypeError):
    """A version of one kind where another is expected: a data version given to a weights reader
    (``%checkout digits model``), or a model's weights where a data version is wanted."""


class FolderError(NbversionError, ValueError):
    """A file or folder on disk cannot be stored as it is: a symbolic link, a device, a name that
    cannot be stored (control characters, not UTF-8), or nesting too deep."""


class RestoreConflictError(NbversionError, FileExistsError):
    """Restoring a stored file or folder would overwrite files that differ (without ``force``),
    or put a file where a folder is (or the reverse); nothing was written."""
