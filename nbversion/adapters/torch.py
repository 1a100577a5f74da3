"""The PyTorch adapter: an ``nn.Module``'s ``state_dict`` (parameters and buffers).

Reading is zero-copy for CPU tensors. Checkout copies into the existing parameters and buffers
under ``torch.no_grad()``, so optimizers holding them stay valid. The architecture recorded is the
module's ``repr`` and parameter count (data, never code). A checkout's donated write lets a CPU
parameter or buffer adopt the checked-out array's memory (``tensor.data = ...``: the same
``Parameter`` object, so optimizers stay valid) instead of copying into it; the old memory, still
held by the arrays read before, is the backup. Optimizer state (``--with-optimizer VAR``)
stores each per-parameter state tensor; hyper-parameters go into the architecture record.
"""

from __future__ import annotations

import sys
from typing import Any, Dict, Mapping, Set

import numpy as np

from . import Adapter, NbversionError


def _to_numpy(tensor: Any) -> np.ndarray:
    import torch

    tensor = tensor.detach()
    if tensor.device.type != "cpu":
        tensor = tensor.cpu()
    if tensor.dtype == torch.bfloat16:
        import ml_dtypes

        return tensor.contiguous().view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return tensor.numpy()


def _from_numpy(array: np.ndarray) -> Any:
    import torch

    if not array.flags.c_contiguous:
        array = array.copy(order="C")  # (np.ascontiguousarray would turn 0-d into 1-d)
    if array.dtype.name == "bfloat16":
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)


def _adoptable(target: Any, value: np.ndarray) -> bool:
    """Whether ``target`` (a live tensor) may take over the memory of the donated array ``value``:
    a plain CPU tensor in C order, of a dtype NumPy shares as is, and ``value`` of that dtype,
    C-ordered and writable."""
    import torch

    if type(target) not in (torch.Tensor, torch.nn.Parameter) or target.device.type != "cpu":
        return False
    if target.dtype == torch.bfloat16 or not target.is_contiguous() or target.is_sparse or target.is_quantized:
        return False
    return value.flags.c_contiguous and value.flags.writeable and value.dtype == _to_numpy(target).dtype


class TorchAdapter(Adapter):
    name = "torch"

    def handles(self, obj: Any) -> bool:
        torch = sys.modules.get("torch")
        return torch is not None and isinstance(obj, torch.nn.Module)

    def read(self, module: Any) -> Dict[str, np.ndarray]:
        return {name: _to_numpy(t) for name, t in module.state_dict(keep_vars=True).items()}

    def write(self, module: Any, tensors: Mapping[str, np.ndarray]) -> None:
        import torch

        live = module.state_dict(keep_vars=True)
        with torch.no_grad():
            for name, value in tensors.items():
                live[name].copy_(_from_numpy(value))

    def write_donated(self, module: Any, tensors: Mapping[str, np.ndarray]) -> None:
        import torch

        live = module.state_dict(keep_vars=True)
        with torch.no_grad():
            for name, value in tensors.items():
                target = live[name]
                if _adoptable(target, value):
                    target.data = torch.from_numpy(value)
                else:
                    target.copy_(_from_numpy(value))

    def reads_kept(self, module: Any, tensors: Mapping[str, np.ndarray]) -> Set[str]:
        live = module.state_dict(keep_vars=True)
        return {name for name, value in tensors.items() if _adoptable(live[name], value)}

    def architecture(self, module: Any) -> Any:
        return {
            "class_name": type(module).__name__,
            "repr": repr(module),
            "parameters": int(sum(p.numel() for p in module.parameters())),
        }

    def versions(self) -> Dict[str, str]:
        import torch

        return {"torch": torch.__version__}

    def _optimizer_state(self, module: Any, optimizer: Any) -> Dict[str, Any]:
        if optimizer is None:
            raise NbversionError("PyTorch keeps the optimizer apart from the model: use --with-optimizer VAR.")
        index = {id(p): name for name, p in module.named_parameters()}
        named: Dict[str, Any] = {}
        for group in optimizer.param_groups:
            for param in group["params"]:
                for key, value in optimizer.state.get(param, {}).items():
                    if hasattr(value, "detach"):
                        named[f"optimizer/{index.get(id(param), id(param))}/{key}"] = value
        return named

    def read_optimizer(self, module: Any, optimizer: Any = None) -> Dict[str, np.ndarray]:
        return {n: _to_numpy(t).copy() for n, t in self._optimizer_state(module, optimizer).items()}

    def write_optimizer(self, module: Any, tensors: Mapping[str, np.ndarray], optimizer: Any = None) -> None:
        import torch

        live = self._optimizer_state(module, optimizer)
        with torch.no_grad():
            for name, value in tensors.items():
                live[name].copy_(_from_numpy(value))
