"""Framework adapters: read and write a live model's weights as named NumPy tensors.

Every adapter has the same verbs (as safetensors has ``safetensors.torch``, ``.numpy``, ...):
``handles(obj)``, ``read(obj)``, ``write(obj, tensors)``, ``architecture(obj)``, ``versions()``,
and optionally ``write_donated`` (a write that may adopt the arrays' memory), ``read_optimizer`` /
``write_optimizer``. Adapters know frameworks and tensors,
never stores or repositories. They are found by duck typing through :func:`adapter_for`, from the
built-in ones and any registered under the ``nbversion.adapters`` entry-point group.

``write`` is only ever called after :func:`check_compatible` has accepted every tensor, and it
updates the model in place (same variable objects), so optimizers and callbacks holding the model
stay valid.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Dict, List, Mapping, Optional, Set, Tuple

import numpy as np

from ..errors import NbversionError

_BUILTIN = ["nbversion.adapters.keras:KerasAdapter", "nbversion.adapters.torch:TorchAdapter",
            "nbversion.adapters.numpy:NumpyAdapter"]  # fmt: skip


class ArchitectureMismatchError(NbversionError, ValueError):
    """A version's tensors do not fit the live model; nothing was changed."""


class Adapter:
    """Base class: the verbs every framework adapter implements."""

    name = "abstract"
    #: whether objects it handles count as "models" when a magic has to guess which one to use
    model_like = True
    #: whether ``read`` returns snapshots that later writes leave alone (else: views of live memory)
    reads_are_snapshots = False

    def handles(self, obj: Any) -> bool:
        raise NotImplementedError

    def read(self, obj: Any) -> Dict[str, np.ndarray]:
        """The model's tensors by name (views of the live memory where the framework allows)."""
        raise NotImplementedError

    def write(self, obj: Any, tensors: Mapping[str, np.ndarray]) -> None:
        """Assign ``tensors`` (already checked to fit) to the live model, in place."""
        raise NotImplementedError

    def write_donated(self, obj: Any, tensors: Mapping[str, np.ndarray]) -> None:
        """As :meth:`write`, for arrays the caller gives away (it only reads them afterwards, and
        only until this returns): an adapter may make the model hold their memory instead of
        copying it, keeping the same variable objects. By default: ``write``."""
        self.write(obj, tensors)

    def reads_kept(self, obj: Any, tensors: Mapping[str, np.ndarray]) -> Set[str]:
        """Which of the tensors that :meth:`write_donated` is about to be given keep, in the arrays
        an earlier :meth:`read` returned, their values from before (so the caller needs no copy
        to put them back)."""
        return set(tensors) if self.reads_are_snapshots else set()

    def architecture(self, obj: Any) -> Any:
        """A description of the model as JSON-like data (never code), or None."""
        return None

    def versions(self) -> Dict[str, str]:
        """Installed versions of the framework packages that matter."""
        return {}

    def rebuild(self, architecture: Any) -> Any:
        """A new, untrained model built from a version's recorded architecture (without the code)."""
        raise NbversionError(
            f"A {self.name} model cannot be rebuilt from its version alone: build it in code, then check the version out into it."
        )

    def read_optimizer(self, obj: Any, optimizer: Any = None) -> Dict[str, np.ndarray]:
        raise NbversionError(f"The {self.name} adapter cannot save optimizer state.")

    def write_optimizer(self, obj: Any, tensors: Mapping[str, np.ndarray], optimizer: Any = None) -> None:
        raise NbversionError(f"The {self.name} adapter cannot restore optimizer state.")


@functools.lru_cache(maxsize=None)
def adapters() -> Tuple[Adapter, ...]:
    """Every adapter: third-party ones (entry points) first, so they can claim objects, then built-ins.
    Looked up once per process (scanning entry points is slow, and magics ask for every variable)."""
    found: List[Adapter] = []
    for ep in entry_points(group="nbversion.adapters"):
        found.append(ep.load()())
    for target in _BUILTIN:
        module, _, cls = target.partition(":")
        found.append(getattr(importlib.import_module(module), cls)())
    return tuple(found)


def adapter_named(name: str) -> Adapter:
    """The adapter registered as ``name`` (a version's ``framework``)."""
    for adapter in adapters():
        if adapter.name == name:
            return adapter
    raise NbversionError(f"No adapter for framework {name!r} is installed.")


def adapter_for(obj: Any) -> Optional[Adapter]:
    """The adapter that handles ``obj``, or None."""
    for adapter in adapters():
        if adapter.handles(obj):
            return adapter
    return None


@dataclass(frozen=True)
class Plan:
    """How a version's tensors map onto a live model's: ``pairs`` maps live name -> stored name."""

    pairs: Dict[str, str]
    by_position: bool


def check_compatible(live: Mapping[str, Tuple[Tuple[int, ...], str]], stored: Mapping[str, Tuple[Tuple[int, ...], str]]) -> Plan:
    """Match stored tensors to live ones by name (or, when only the names differ, by position).

    ``live`` and ``stored`` map names to (shape, dtype name), in model order. Raises
    :class:`ArchitectureMismatchError` listing every difference when they do not fit.
    """
    problems: List[str] = []
    if set(live) == set(stored):
        for name, (shape, dtype) in live.items():
            s_shape, s_dtype = stored[name]
            if tuple(shape) != tuple(s_shape) or dtype != s_dtype:
                problems.append(f"{name}: model has {dtype}{list(shape)}, version has {s_dtype}{list(s_shape)}")
        if not problems:
            return Plan({n: n for n in live}, by_position=False)
    else:
        live_items, stored_items = list(live.items()), list(stored.items())
        if len(live_items) == len(stored_items):
            # Names differ (e.g. Keras numbers layers per session): match by position.
            for i, ((ln, (ls, ld)), (sn, (ss, sd))) in enumerate(zip(live_items, stored_items), 1):
                if tuple(ls) != tuple(ss) or ld != sd:
                    problems.append(f"#{i} {ln}: model has {ld}{list(ls)}; version's #{i} {sn} has {sd}{list(ss)}")
            if not problems:
                return Plan({a[0]: b[0] for a, b in zip(live_items, stored_items)}, by_position=True)
        else:
            problems.append(f"the model has {len(live_items)} tensors, the version {len(stored_items)}")
            problems += [f"{n}: in the model, not in the version" for n in live if n not in stored]
            problems += [f"{n}: in the version, not in the model" for n in stored if n not in live]
    shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
    raise ArchitectureMismatchError(
        "The version does not fit the live model, so nothing was changed:\n  " + "\n  ".join(shown)
    )


def signature(tensors: Mapping[str, np.ndarray]) -> Dict[str, Tuple[Tuple[int, ...], str]]:
    """``{name: (shape, dtype name)}`` of NumPy tensors."""
    return {name: (tuple(a.shape), a.dtype.name) for name, a in tensors.items()}
