"""The environment a version is made in: Python, platform, CPU, GPUs and installed distributions.

:func:`current_environment` describes this process's machine and software as a JSON-like map,
stored with a version as an environment record (:func:`nbversion.formats.records.encode_environment`).
It holds nothing volatile (no host name, time or process id), so the same environment gives the
same record, hence the same CID, and is stored once however many versions share it:

``python``, ``implementation``            e.g. ``3.11.7``, ``CPython``
``system``, ``release``, ``machine``      ``platform.system()``, ``.release()``, ``.machine()``
``cpu``, ``cpus``                         the CPU's model name and ``os.cpu_count()``
``gpus``                                  GPU names (``nvidia-smi``, else frameworks already imported)
``packages``                              installed distributions ``{normalized name: version}``, sorted
``nbversion``                             nbversion's own version

Describing the environment must not slow commits: the machine is read once per process (the GPUs
again only when a framework has been imported since), the distributions again only when
``sys.path`` or the modification time of a folder on it that holds distributions changes (what
``pip install`` does). No framework is imported here: GPUs are asked of frameworks that the
process has already imported.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
from typing import Any, Dict, List, Optional, Tuple

from .._version import __version__

#: How long ``nvidia-smi`` may take to list the GPUs (once per process).
GPU_QUERY_TIMEOUT = 3.0
_FRAMEWORKS = ("torch", "tensorflow", "jax")

_lock = threading.Lock()
_machine: Optional[Dict[str, Any]] = None
_gpus: Optional[Tuple[Tuple[str, ...], List[str]]] = None  # (frameworks imported when asked, names)
_packages: Optional[Tuple[Any, Dict[str, str], Tuple[str, ...]]] = None  # (key, packages, folders holding them)


def current_environment() -> Dict[str, Any]:
    """This process's environment (see the module docstring); a new dict each call."""
    with _lock:
        return {
            **_machine_fields(),
            "gpus": list(_gpu_names()),
            "packages": dict(_installed()),
            "nbversion": __version__,
        }


def normalize(name: str) -> str:
    """A distribution's name as PEP 503 compares them (``Foo_Bar.baz`` -> ``foo-bar-baz``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


# -- the machine (once per process) ------------------------------------------------------------


def _machine_fields() -> Dict[str, Any]:
    global _machine
    if _machine is None:
        _machine = {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
            "cpu": _cpu_model(),
            "cpus": os.cpu_count() or 0,
        }
    return _machine


def _cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, ``sysctl`` on macOS), else what
    ``platform`` knows."""
    try:
        if sys.platform.startswith("linux"):
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                for line in f:
                    key, sep, value = line.partition(":")
                    if sep and key.strip() in ("model name", "Model", "Hardware", "cpu model"):
                        return value.strip()
        elif sys.platform == "darwin":
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                 timeout=GPU_QUERY_TIMEOUT, check=False)  # fmt: skip
            if out.stdout.strip():
                return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine()


# -- GPUs --------------------------------------------------------------------------------------


def _gpu_names() -> List[str]:
    """GPU names from ``nvidia-smi`` (when on PATH), else from the frameworks already imported;
    asked again only when another framework has been imported since."""
    global _gpus
    imported = tuple(name for name in _FRAMEWORKS if name in sys.modules)
    if _gpus is None or _gpus[0] != imported and not _gpus[1]:
        _gpus = (imported, _nvidia_smi() or _from_frameworks())
    return _gpus[1]


def _nvidia_smi() -> List[str]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=GPU_QUERY_TIMEOUT, check=False)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def _from_frameworks() -> List[str]:
    """GPUs as frameworks the process has imported see them, without starting any that is not
    started (a CUDA context is never created here)."""
    names: List[str] = []
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_initialized():
            names += [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        elif (
            torch is not None and getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
        ):
            names.append("Apple MPS")
    except Exception:  # noqa: BLE001 - a framework's own failure must not stop a commit
        pass
    tf = sys.modules.get("tensorflow")
    try:
        if not names and tf is not None and hasattr(tf, "config"):
            for device in tf.config.list_physical_devices("GPU"):
                details = tf.config.experimental.get_device_details(device)
                names.append(str(details.get("device_name") or device.name))
    except Exception:  # noqa: BLE001
        pass
    return names


# -- installed distributions -------------------------------------------------------------------


def _installed() -> Dict[str, str]:
    """``{normalized name: version}`` of the distributions importable now, sorted by name; the first
    of a name on ``sys.path`` wins, as ``importlib.metadata.version`` finds it."""
    global _packages
    if _packages is not None and _packages[0] == _packages_key(_packages[2]):
        return _packages[1]
    found: Dict[str, str] = {}
    folders: List[str] = []
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata is not None else None
        if not name:
            continue
        found.setdefault(normalize(name), str(dist.version))
        folder = _folder_of(dist)
        if folder is not None and folder not in folders:
            folders.append(folder)
    packages = dict(sorted(found.items()))
    _packages = (_packages_key(tuple(folders)), packages, tuple(folders))
    return packages


def _folder_of(dist: importlib.metadata.Distribution) -> Optional[str]:
    """The ``sys.path`` folder a distribution's metadata lives in."""
    path = getattr(dist, "_path", None)  # PathDistribution: its .dist-info / .egg-info folder
    return os.fspath(path.parent) if path is not None else None


def _packages_key(folders: Tuple[str, ...]) -> Tuple[Any, ...]:
    """What the distributions depend on: ``sys.path``, and the modification time and link count
    of each folder that held distributions (installing or removing one changes both)."""
    stats = []
    for folder in folders:
        try:
            st = os.stat(folder)
            stats.append((st.st_mtime_ns, st.st_nlink))
        except OSError:
            stats.append(None)
    return (tuple(sys.path), tuple(stats))
