"""The Keras adapter: Keras 3 (on TensorFlow, the design's framework) and tf.keras 2.

Tensor names are the variables' paths inside the model (``dense_1/kernel``), without the model's
own auto-generated name, so they survive rebuilding the model in a new session. The architecture
is ``model.get_config()`` (JSON data, never code). Optimizer state is the optimizer's variables.

On TensorFlow (Keras 3's TensorFlow backend, or tf.keras) reading costs no copy: each array is a
read-only view of the variable's current buffer, which TensorFlow never changes in place while
that view holds it (it copies on write), so the view is a snapshot. A donated write hands
TensorFlow the arrays' memory through DLPack instead of the two copies ``assign`` makes of a
NumPy array.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Dict, List, Mapping

import numpy as np

from ..errors import NbversionError
from . import Adapter

_ALIGNMENT = 64  # TensorFlow refuses (aborts on) memory it adopts that is less aligned


def _modules(value: Any) -> List[str]:
    """Every "module" named anywhere in a serialized Keras config."""
    found: List[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("module"), str):
                found.append(item["module"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _is_keras_model(obj: Any) -> bool:
    for module in ("keras", "tf_keras", "tensorflow"):
        if module in sys.modules:
            for cls in type(obj).__mro__:
                if cls.__module__.startswith(("keras.", "tf_keras.", "tensorflow.python.keras", "keras.src")) and cls.__name__ in (
                    "Model", "Sequential", "Functional", "Layer",
                ):  # fmt: skip
                    return True
    return False


def _variable_name(variable: Any, prefix: str) -> str:
    path = getattr(variable, "path", None) or variable.name.split(":")[0]
    return path[len(prefix) :] if prefix and path.startswith(prefix) else path


def _tf_variable(variable: Any) -> Any:
    """The ``tf.Variable`` holding a Keras variable's value on TensorFlow, else None."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return None
    if isinstance(variable, tf.Variable):  # tf.keras 2
        return variable
    inner = getattr(variable, "_value", None)  # Keras 3's TensorFlow backend
    return inner if isinstance(inner, tf.Variable) else None


def _snapshot(variable: Any) -> np.ndarray:
    """The variable's value as a read-only array, without a copy where TensorFlow holds it."""
    tf_variable = _tf_variable(variable)
    if tf_variable is None or tf_variable.device and "CPU" not in tf_variable.device.upper():
        return np.asarray(variable.numpy())
    array = np.asarray(tf_variable.value())  # a view of the buffer; TensorFlow copies on write
    array.flags.writeable = False
    return array


def _adoptable(variable: Any, value: np.ndarray) -> Any:
    """A TensorFlow tensor using ``value``'s memory (via DLPack), or None where that is not safe."""
    tf_variable = _tf_variable(variable)
    if (
        tf_variable is None or value.size == 0 or value.dtype != tf_variable.dtype.as_numpy_dtype
        or not value.flags.c_contiguous or not value.flags.writeable or value.ctypes.data % _ALIGNMENT
    ):  # fmt: skip
        return None
    import tensorflow as tf

    try:
        return tf.experimental.dlpack.from_dlpack(value.__dlpack__())
    except (AttributeError, BufferError, TypeError, ValueError, tf.errors.OpError):
        return None


class KerasAdapter(Adapter):
    name = "keras"
    reads_are_snapshots = True  # views TensorFlow copies on write, or copies; assign() never changes an earlier read

    def handles(self, obj: Any) -> bool:
        return hasattr(obj, "weights") and hasattr(obj, "get_config") and _is_keras_model(obj)

    def _variables(self, model: Any) -> Dict[str, Any]:
        prefix = f"{model.name}/"
        named: Dict[str, Any] = {}
        for variable in model.weights:
            name = _variable_name(variable, prefix)
            if name in named:  # two variables with one path (shared or nested models): number them
                n = 2
                while f"{name}#{n}" in named:
                    n += 1
                name = f"{name}#{n}"
            named[name] = variable
        return named

    def read(self, model: Any) -> Dict[str, np.ndarray]:
        return {name: _snapshot(v) for name, v in self._variables(model).items()}

    def write(self, model: Any, tensors: Mapping[str, np.ndarray]) -> None:
        variables = self._variables(model)
        for name, value in tensors.items():
            variables[name].assign(value)

    def write_donated(self, model: Any, tensors: Mapping[str, np.ndarray]) -> None:
        variables = self._variables(model)
        for name, value in tensors.items():
            variable = variables[name]
            adopted = _adoptable(variable, value)
            variable.assign(value if adopted is None else adopted)

    def architecture(self, model: Any) -> Any:
        """Keras's own serialized form of the model (class names and configs: data, not code)."""
        try:
            import keras

            serialized = keras.saving.serialize_keras_object(model)
        except (ImportError, AttributeError, NotImplementedError, TypeError):  # tf.keras 2, or no get_config
            try:
                serialized = {"class_name": type(model).__name__, "config": model.get_config()}
            except (NotImplementedError, TypeError):  # a subclassed model that does not describe itself
                serialized = {"class_name": type(model).__name__}
        return json.loads(json.dumps(serialized, default=str))

    def rebuild(self, architecture: Any) -> Any:
        """A new model built from a recorded architecture, with Keras's safe mode on and only
        Keras's own classes allowed (a stranger's config cannot import other modules)."""
        import keras

        if not isinstance(architecture, dict) or "config" not in architecture or "module" not in architecture:
            raise NbversionError("This version's architecture was not recorded in a form Keras can rebuild.")
        foreign = sorted({m for m in _modules(architecture) if m != "keras" and not m.startswith("keras.")})
        if foreign:
            raise NbversionError(f"Refusing to rebuild: the architecture names modules outside Keras: {', '.join(foreign)}.")
        return keras.saving.deserialize_keras_object(architecture, safe_mode=True)

    def versions(self) -> Dict[str, str]:
        out: Dict[str, str] = {}
        for module in ("keras", "tensorflow"):
            mod = sys.modules.get(module)
            if mod is not None and getattr(mod, "__version__", None):
                out[module] = mod.__version__
        return out

    def _optimizer_variables(self, model: Any, optimizer: Any = None) -> Dict[str, Any]:
        optimizer = optimizer or getattr(model, "optimizer", None)
        if optimizer is None:
            raise NbversionError("The model has no optimizer (compile it first) to save with --with-optimizer.")
        named: Dict[str, Any] = {}
        for variable in optimizer.variables:
            name = getattr(variable, "path", None) or variable.name.split(":")[0]
            named[f"optimizer/{name}"] = variable
        return named

    def read_optimizer(self, model: Any, optimizer: Any = None) -> Dict[str, np.ndarray]:
        return {n: np.asarray(v.numpy()) for n, v in self._optimizer_variables(model, optimizer).items()}

    def write_optimizer(self, model: Any, tensors: Mapping[str, np.ndarray], optimizer: Any = None) -> None:
        variables = self._optimizer_variables(model, optimizer)
        for name, value in tensors.items():
            variables[name].assign(value)
