"""Credentials for remotes, kept outside every repository: the environment, or a private file.

A remote whose API wants a secret (a Kubo RPC API with ``API.Authorizations``, a pinning service's
access token) finds it, first match wins, in

1. ``NBVERSION_IPFS_AUTH_<NAME>`` (the remote's name upper-cased, ``.`` and ``-`` as ``_``);
2. the credentials file, in a section named after the remote (or after its URL, for an address
   given directly);
3. ``NBVERSION_IPFS_AUTH``, for every IPFS node (not for pinning services: a secret meant for
   one's own nodes is not sent to a third party's service unless named for it).

The credentials file is ``$NBVERSION_CREDENTIALS`` if set, else
``$XDG_CONFIG_HOME/nbversion/credentials`` (``~/.config/nbversion/credentials``), an INI file::

    [lab]
    auth = Bearer 0123abcd        ; or `Basic BASE64`, or `USER:PASSWORD`

    [pins]
    token = eyJhbGciOi...         ; a pinning service's access token (sent as `Bearer TOKEN`)

Like ssh with a private key, nbversion refuses a credentials file that its group or other users
may read or write, or that another user owns (``chmod 600`` fixes the first). Secrets are handed
out as :class:`Secret`, a string whose ``repr`` and ``str`` hide it, so a traceback, a log line or
an error message never shows one; they are never written to a repository or a version.
"""

from __future__ import annotations

import configparser
import os
import stat
from pathlib import Path
from typing import Optional

from ..errors import CredentialsError

AUTH_ENV = "NBVERSION_IPFS_AUTH"
FILE_ENV = "NBVERSION_CREDENTIALS"
KEYS = ("auth", "token")  # `auth`: an Authorization value; `token`: a bare bearer token


class Secret(str):
    """A secret string that does not show itself: ``repr`` and ``str`` give ``'***'``; the value
    is read with :meth:`reveal` (or used as the string it is)."""

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return format("***", spec)

    def reveal(self) -> str:
        """The secret itself, for the one place that sends it."""
        return str.__str__(self)


def env_name(remote: str) -> str:
    """The environment variable that holds the credentials of the remote named ``remote``."""
    return f"{AUTH_ENV}_{remote.upper().replace('.', '_').replace('-', '_')}"


def credentials_path() -> Path:
    """Where the credentials file is looked for (it need not exist)."""
    named = os.environ.get(FILE_ENV)
    if named:
        return Path(named).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "nbversion" / "credentials"


def _check_private(path: Path, info: os.stat_result) -> None:
    """Refuse a file others may read or change, as ssh refuses such a private key."""
    if os.name == "nt":  # pragma: no cover - POSIX permission bits mean little on Windows
        return
    if info.st_mode & 0o077:
        raise CredentialsError(
            f"The credentials file {path} is open to other users (mode {stat.filemode(info.st_mode)}); "
            f"nbversion will not read secrets from it. Make it private: `chmod 600 {path}`."
        )
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise CredentialsError(
            f"The credentials file {path} belongs to another user; nbversion reads only your own. "
            "Copy it, make the copy yours (`chmod 600`), and point NBVERSION_CREDENTIALS at it."
        )


def _read_file(path: Path) -> Optional[configparser.ConfigParser]:
    named = bool(os.environ.get(FILE_ENV))
    try:
        info = path.stat()
    except FileNotFoundError:
        if named:
            raise CredentialsError(f"{FILE_ENV} names {path}, which does not exist.") from None
        return None
    except OSError as exc:
        raise CredentialsError(f"The credentials file {path} cannot be read ({exc.strerror}).") from None
    if not stat.S_ISREG(info.st_mode):
        raise CredentialsError(f"The credentials file {path} is not a file.")
    _check_private(path, info)
    parser = configparser.ConfigParser(default_section="\0", interpolation=None, inline_comment_prefixes=(";", "#"))
    try:
        text = path.read_text(encoding="utf-8")
        parser.read_string(text, source=str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"The credentials file {path} cannot be read ({exc.__class__.__name__}).") from None
    except configparser.Error as exc:
        where = f" (line {exc.lineno})" if getattr(exc, "lineno", None) else ""
        # configparser quotes the offending line, which may hold a secret: say where, not what
        raise CredentialsError(
            f"The credentials file {path} is not an INI file{where}: sections like `[NAME]`, then `auth = ...` or "
            "`token = ...` lines."
        ) from None
    return parser


def _from_file(sections: tuple) -> Optional[Secret]:
    parser = _read_file(credentials_path())
    if parser is None:
        return None
    for section in sections:
        if section and parser.has_section(section):
            token = parser.get(section, "token", fallback="").strip()
            if token:
                return Secret(token if " " in token else f"Bearer {token}")
            auth = parser.get(section, "auth", fallback="").strip()
            if auth:
                return Secret(auth)
    return None


def secret_for(name: Optional[str], url: str, shared: bool = True) -> Optional[Secret]:
    """The secret for a remote named ``name`` (None for an address given directly) at ``url``, from
    the environment or the credentials file (see the module docstring); None when there is none.
    ``shared``: whether ``NBVERSION_IPFS_AUTH``, the secret for every node, may answer."""
    if name:
        value = os.environ.get(env_name(name), "").strip()
        if value:
            return Secret(value)
    found = _from_file((name or "", url.strip(), url.strip().rstrip("/")))
    if found is not None:
        return found
    value = os.environ.get(AUTH_ENV, "").strip() if shared else ""
    return Secret(value) if value else None
