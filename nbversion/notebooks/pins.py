"""The versions a notebook starts from: ``metadata.nbversion.pins`` (model name -> version CID).

The panel's "Pin to notebook" writes this map into the open document; :func:`set_pins` writes it
into a notebook file (with nbformat, atomically: a temporary file in the same folder, then a
rename, everything else in the file kept). A kernel started by ``nbversion run`` or ``nbversion
reproduce`` gets the pins of that run as JSON in ``NBVERSION_PINS``, which overrides the file's
(:func:`effective_pins`), so ``%checkout --pinned`` loads what the run was asked to start from.

Pins hold full CIDs, never refs: a tag or a branch moves, a pin must not.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Union

from ..errors import NbversionError, PinError, RefError
from ..repo import Repo, Version

PathLike = Union[str, os.PathLike]
#: The kernel environment variable holding a run's pins, JSON ``{model: CID}``.
PINS_ENV = "NBVERSION_PINS"
#: The kernel environment variable naming the repository a run's pinned versions are copied from
#: when the kernel's own repository lacks them (``nbversion reproduce`` runs in a scratch one).
SOURCE_ENV = "NBVERSION_PINS_FROM"
#: nbformat's major version, the one notebooks are read and written as.
NBFORMAT = 4


def _read(path: PathLike) -> Any:
    import nbformat

    path = Path(path)
    if not path.is_file():
        raise PinError(f"No notebook at {path}.")
    try:
        return nbformat.read(str(path), as_version=NBFORMAT)
    except Exception as exc:  # nbformat raises JSON, validation and reader errors of many types
        raise PinError(f"{path} is not a notebook nbformat can read ({type(exc).__name__}: {exc}).") from None


def read_pins(path: PathLike) -> Dict[str, str]:
    """The pins recorded in the notebook at ``path`` (``{}`` when it has none)."""
    return pins_of(_read(path))


def pins_of(notebook: Any) -> Dict[str, str]:
    """The pins in a notebook node (``metadata.nbversion.pins``), as ``{model: CID text}``."""
    pins = notebook.get("metadata", {}).get("nbversion", {}).get("pins", {})
    if not isinstance(pins, Mapping):
        raise PinError("The notebook's metadata.nbversion.pins is not a map of model names to CIDs.")
    return {str(model): str(cid) for model, cid in pins.items()}


def set_pins(path: PathLike, pins: Mapping[str, str], *, remove: tuple = ()) -> Dict[str, str]:
    """Set (and, for the models in ``remove``, drop) pins in the notebook file at ``path``; every
    other part of the file is kept. The file is replaced atomically. Returns the pins it now holds."""
    path = Path(path)
    notebook = _read(path)
    meta = notebook.setdefault("metadata", {}).setdefault("nbversion", {})
    current = pins_of(notebook)
    current.update({model: str(cid) for model, cid in pins.items()})
    for model in remove:
        current.pop(model, None)
    meta["pins"] = dict(sorted(current.items()))
    write_notebook(notebook, path)
    return meta["pins"]


def write_notebook(notebook: Any, path: PathLike) -> None:
    """Write a notebook node to ``path`` atomically (a temporary file in the same folder, fsynced,
    then renamed over it): a reader sees the old file or the new one, never half of one."""
    import nbformat

    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            nbformat.write(notebook, out, version=NBFORMAT)
            out.flush()
            os.fsync(out.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def env_pins(environ: Optional[Mapping[str, str]] = None) -> Optional[Dict[str, str]]:
    """The pins a run gave this kernel (``NBVERSION_PINS``), or None when it was not started by one."""
    text = (os.environ if environ is None else environ).get(PINS_ENV)
    if text is None:
        return None
    try:
        pins = json.loads(text)
    except ValueError:
        raise PinError(f"{PINS_ENV} is not JSON: {text[:80]!r}.") from None
    if not isinstance(pins, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in pins.items()):
        raise PinError(f"{PINS_ENV} must be a JSON object of model names to CIDs, got {text[:80]!r}.")
    return pins


def effective_pins(notebook: Optional[PathLike], environ: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The pins that apply in a kernel: the notebook file's, overridden by ``NBVERSION_PINS``
    (a run's). A run's pins already include the file's, so the file is only read outside runs."""
    from_env = env_pins(environ)
    if from_env is not None:
        return from_env
    if notebook is None:
        raise PinError(
            "This kernel does not know its notebook file, so it cannot read the notebook's pins. "
            f"Run it with `nbversion run` (or set {PINS_ENV}), or check out a ref instead."
        )
    return read_pins(notebook)


def pin_for(model: str, notebook: Optional[PathLike], environ: Optional[Mapping[str, str]] = None) -> str:
    """The CID ``model`` is pinned to, or :class:`PinError` saying there is no pin for it."""
    pins = effective_pins(notebook, environ)
    if model not in pins:
        where = f"this run's {PINS_ENV}" if env_pins(environ) is not None else f"{notebook}"
        known = ", ".join(f"{m}={c[:16]}" for m, c in sorted(pins.items())) or "none"
        raise PinError(
            f"No pin for {model!r} in {where} (pins: {known}). Pin one with `%nbversion pin REF {model}` "
            f"or `nbversion pin NOTEBOOK {model}=REF`, or pass `--pin {model}=REF` to `nbversion run`."
        )
    return pins[model]


def ensure_version(repo: Repo, cid: str, model: str, environ: Optional[Mapping[str, str]] = None) -> Version:
    """The pinned version ``cid`` of ``model`` in ``repo``: copied there first from the repository
    ``NBVERSION_PINS_FROM`` names when ``repo`` lacks it (a reproduction's scratch repository),
    else :class:`PinError` saying how to get it."""
    try:
        version = repo.show(cid)
    except RefError:
        source = (os.environ if environ is None else environ).get(SOURCE_ENV)
        if not source:
            raise PinError(
                f"{model} is pinned to {cid}, which is not in the repository at {repo.path}. Pull it "
                f"(`nbversion pull {cid} --from REMOTE`), or pin a version this repository has."
            ) from None
        with Repo(source) as origin:
            copy_version(origin, repo, cid)
        version = repo.show(cid)
    if version.model != model:
        raise PinError(f"The pin for {model!r} names {cid}, a version of {version.model!r}.")
    return version


def copy_version(source: Repo, target: Repo, ref: str) -> List[Version]:
    """Copy version ``ref`` of ``source`` and everything it reaches into ``target`` (as a CAR
    export and a verified import: ``source`` is only read). A model ``target`` did not have gets
    its ``main`` branch at the copied version; existing models do not move. The versions added."""
    with tempfile.TemporaryDirectory(prefix="nbversion-copy-") as scratch:
        car = Path(scratch) / "version.car"
        source.export_car(ref, car)
        return target.import_car(car)
