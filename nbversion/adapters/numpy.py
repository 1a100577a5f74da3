"""The NumPy adapter: a dict of arrays (names are the keys) or a list/tuple of arrays ("0", "1", ...).

Checkout writes into the same array objects (``a[...] = stored``), so code holding them sees the
restored values.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping

import numpy as np

from . import Adapter


class NumpyAdapter(Adapter):
    name = "numpy"
    model_like = False  # a dict of arrays is too common to guess that it is "the model"

    def handles(self, obj: Any) -> bool:
        if isinstance(obj, dict):
            return bool(obj) and all(isinstance(k, str) and isinstance(v, np.ndarray) for k, v in obj.items())
        if isinstance(obj, (list, tuple)):
            return bool(obj) and all(isinstance(v, np.ndarray) for v in obj)
        return False

    def read(self, obj: Any) -> Dict[str, np.ndarray]:
        if isinstance(obj, dict):
            return dict(obj)
        return {str(i): a for i, a in enumerate(obj)}

    def write(self, obj: Any, tensors: Mapping[str, np.ndarray]) -> None:
        live = self.read(obj)
        for name, value in tensors.items():
            live[name][...] = value

    def versions(self) -> Dict[str, str]:
        return {"numpy": np.__version__}
