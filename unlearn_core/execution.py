"""Where a run computes: its device, and the processes of a data-parallel run (``accelerate launch``).

One process, one device is the ordinary case and costs nothing here: every helper below is the identity when
``torch.distributed`` is not initialised. Under ``accelerate launch -m unlearn_core run ...`` (any number of
processes; gloo on CPUs, NCCL on GPUs) the compute core runs data-parallel without any method knowing it:

- every process draws the same batches and the same random numbers (same seeds), so the *global* batch is the
  same everywhere; a task adapter computes its model's forward only on this process's rows of the batch
  (:meth:`Shard.part`) and gathers the per-sample losses of all rows (:meth:`Shard.gather`), whose backward
  hands each process the gradient of its own rows, scaled by the process count;
- :func:`average_gradients` all-reduces the gradients (mean) before every optimizer step and every saliency
  sum, so the rows' contributions add up to the full batch's gradient and whatever a method computes outside
  the task's losses (a weight penalty, ESD's teacher) counts once; every process then holds the same weights,
  the same saliency sums and so the same mask;
- evaluation forwards are sharded and gathered the same way (no gradient).

The result equals the one-process run's up to the order of float additions. Batch-norm statistics in training
mode are each process's own (as in DistributedDataParallel without SyncBatchNorm).
"""
from __future__ import annotations

import os
from typing import Any, Iterable

import torch
from torch import nn

from .errors import UnlearningInputError, shown

DEVICE_CHOICES = "cpu, cuda, cuda:N or auto"
_run_device: torch.device | None = None
_teacher_device: torch.device | None = None


# --- devices ------------------------------------------------------------------------------------------
def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def resolve_device(device: str | torch.device | None = None, option: str = "--device") -> torch.device:
    """``None``/"auto": cuda when available (this process's GPU under a multi-process launch), else cpu;
    "cuda" without a GPU is an input error (naming ``option``, the setting that asked for it)."""
    if device is None or str(device) == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise UnlearningInputError(f"device must be {DEVICE_CHOICES}; got {shown(device)}") from None
    if resolved.type not in ("cpu", "cuda"):
        raise UnlearningInputError(f"device must be {DEVICE_CHOICES}; got {shown(device)}")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise UnlearningInputError(f"device {shown(str(device))} was asked for but no CUDA GPU is visible "
                                       f"on this machine; use {option} cpu (or leave it out)")
        if resolved.index is None:
            resolved = torch.device("cuda", local_rank() % torch.cuda.device_count())
        elif resolved.index >= torch.cuda.device_count():
            raise UnlearningInputError(f"device {shown(str(device))} does not exist: this machine has "
                                       f"{torch.cuda.device_count()} GPU(s), cuda:0 to "
                                       f"cuda:{torch.cuda.device_count() - 1}")
    return resolved


def use_device(device: str | torch.device | None) -> torch.device:
    """Set the device runs on shipped models compute on (``--device`` / ``UNLEARN_DEVICE``; None: auto)."""
    global _run_device
    _run_device = resolve_device(device if device is not None else os.environ.get("UNLEARN_DEVICE") or None)
    return _run_device


def use_teacher_device(device: str | torch.device | None) -> torch.device | None:
    """Put the frozen teachers some methods keep (ESD's copy of the original) on ``device``, e.g. a second GPU
    (``--teacher-device``; None: beside the model)."""
    global _teacher_device
    _teacher_device = None if device is None else resolve_device(device, "--teacher-device")
    return _teacher_device


def teacher_device() -> torch.device | None:
    return _teacher_device


def run_device() -> torch.device:
    """The device runs compute on (set by :func:`use_device`; by default cuda when available, else cpu)."""
    return _run_device if _run_device is not None else use_device(None)


def device_label(device: torch.device | None = None) -> str:
    """How the app names the device: "cpu" or "cuda:0 (NVIDIA H100 80GB HBM3)"."""
    device = run_device() if device is None else device
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return "cpu"


# Moving a network's inputs and outputs: shared by the shipped models' placement (below) and Stable Diffusion's
# portable parts (models/sd.py), which also cast floating tensors to a part's half precision and back.
def first_tensor(args: tuple, kwargs: dict) -> torch.Tensor | None:
    """The first tensor among a call's arguments (where the caller's data lives)."""
    return next((v for v in list(args) + list(kwargs.values()) if torch.is_tensor(v)), None)


def inputs_to(value: Any, device: torch.device, dtype: torch.dtype | None = None) -> Any:
    """A call argument on ``device`` (a tensor, or the tensors of a list or tuple); floating tensors also cast
    to ``dtype`` when one is given."""
    if torch.is_tensor(value):
        return value.to(device=device, dtype=dtype) if dtype and value.is_floating_point() else value.to(device)
    if isinstance(value, (list, tuple)):
        return type(value)(inputs_to(v, device, dtype) for v in value)
    return value


def outputs_to(value: Any, device: torch.device, dtype: torch.dtype | None = None) -> Any:
    """Every tensor of a module's output on ``device`` (floating ones cast to ``dtype`` when given): a tensor, a
    tuple, a dataclass-like output, or a diffusers autoencoder output's distribution."""
    if torch.is_tensor(value):
        return value.to(device=device, dtype=dtype) if dtype and value.is_floating_point() else value.to(device)
    if hasattr(value, "latent_dist"):  # AutoencoderKLOutput: a distribution object
        dist = value.latent_dist
        for name in ("parameters", "mean", "logvar", "var", "std"):
            if torch.is_tensor(getattr(dist, name, None)):
                setattr(dist, name, outputs_to(getattr(dist, name), device, dtype))
        return value
    if hasattr(value, "keys") and hasattr(value, "__setitem__"):
        for key in list(value.keys()):
            value[key] = outputs_to(value[key], device, dtype)
        return value
    if isinstance(value, tuple):
        return tuple(outputs_to(v, device, dtype) for v in value)
    return value


def _parameter_device(module: nn.Module) -> torch.device | None:
    for tensor in module.parameters():
        return tensor.device
    return None


def _move_inputs(module: nn.Module, args: tuple, kwargs: dict):
    device = _parameter_device(module)
    first = first_tensor(args, kwargs)
    module._caller_device = first.device if first is not None else device  # noqa: SLF001 (the output's way back)
    if device is None or first is None or first.device == device:
        return None
    return inputs_to(args, device), {k: inputs_to(v, device) for k, v in kwargs.items()}


def _move_output(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
    caller = getattr(module, "_caller_device", None)
    return output if caller is None else outputs_to(output, caller)


def place(model: nn.Module, device: torch.device) -> nn.Module:
    """Move ``model`` to ``device`` and make it and its direct parts *portable*: their forward takes inputs
    from any device and hands outputs back on the caller's. A task adapter's data, noise and random draws
    stay on the CPU (drawn by CPU generators, so a seed gives the same numbers on every device) and only the
    networks' arithmetic moves; the frozen references a task keeps (the original, an oracle) may stay where
    they are. A no-op on the CPU."""
    if device.type == "cpu" and _parameter_device(model) in (None, torch.device("cpu")):
        return model
    model.to(device)
    for module in (model, *model.children()):
        if not getattr(module, "_portable", False):
            module.register_forward_pre_hook(_move_inputs, with_kwargs=True)
            module.register_forward_hook(_move_output, with_kwargs=True)
            module._portable = True  # noqa: SLF001
    return model


# --- processes ----------------------------------------------------------------------------------------
def processes() -> int:
    """How many processes share the run (1 unless launched by accelerate / torchrun)."""
    distributed = torch.distributed
    return distributed.get_world_size() if distributed.is_available() and distributed.is_initialized() else 1


def rank() -> int:
    distributed = torch.distributed
    return distributed.get_rank() if distributed.is_available() and distributed.is_initialized() else 0


def is_main() -> bool:
    """The process that writes reports and files, and prints."""
    return rank() == 0


def launched_processes() -> int:
    """The process count a launcher (``accelerate launch``, torchrun) announced in the environment."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def _communication_device() -> torch.device:
    """Where the process group's collectives take tensors: the GPU under NCCL, the CPU under gloo."""
    if torch.distributed.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def start_processes(device: torch.device) -> int:
    """Join the process group a launcher (``accelerate launch``, torchrun) set up in the environment: NCCL when
    the run computes on GPUs, gloo on CPUs. Returns the process count (1: nothing to join)."""
    count = launched_processes()
    if count <= 1 or torch.distributed.is_initialized():
        return processes()
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.distributed.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return processes()


class _GatherRows(torch.autograd.Function):
    """All processes' rows in order; the backward keeps this process's rows of the gradient, times the
    process count (:func:`average_gradients` divides by it again)."""

    @staticmethod
    def forward(ctx, local: torch.Tensor, sizes: tuple[int, ...], position: int) -> torch.Tensor:
        ctx.position, ctx.size = position, len(local)
        padded = torch.zeros((max(sizes), *local.shape[1:]), dtype=local.dtype, device=_communication_device())
        padded[:len(local)] = local
        pieces = [torch.empty_like(padded) for _ in sizes]
        torch.distributed.all_gather(pieces, padded)
        return torch.cat([piece[:size] for piece, size in zip(pieces, sizes)]).to(local.device)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad[ctx.position:ctx.position + ctx.size] * processes(), None, None


class Shard:
    """This process's share of a batch of ``rows`` (contiguous, sizes differing by at most one). With one
    process, or fewer rows than processes, every process computes every row and nothing is gathered."""

    def __init__(self, rows: int):
        self.rows, self.world = int(rows), processes()
        self.active = self.world > 1 and self.rows >= self.world
        if self.active:
            bounds = torch.arange(self.rows).tensor_split(self.world)
            self.sizes = tuple(len(b) for b in bounds)
            me = rank()
            self.start, self.stop = sum(self.sizes[:me]), sum(self.sizes[:me + 1])

    def part(self, tensor: torch.Tensor) -> torch.Tensor:
        """This process's rows of ``tensor`` (all of them when inactive)."""
        return tensor[self.start:self.stop] if self.active else tensor

    def gather(self, local: torch.Tensor) -> torch.Tensor:
        """Every process's rows of a per-row result, in the batch's order (differentiable)."""
        if not self.active:
            return local
        return _GatherRows.apply(local, self.sizes, self.start)


def sharded_rows(fn, *tensors: torch.Tensor) -> torch.Tensor:
    """``fn`` applied to this process's rows of ``tensors`` (the same rows of each), every process's results
    gathered in order: the one-process ``fn(*tensors)``, computed in parallel."""
    shard = Shard(len(tensors[0]))
    return shard.gather(fn(*(shard.part(t) for t in tensors)))


def reduce_per_sample(per_sample: torch.Tensor, reduction: str) -> torch.Tensor:
    """``"none"`` (one loss per sample, SFR-on's adaptive weights need them), ``"mean"`` or ``"sum"``."""
    if reduction == "none":
        return per_sample
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none'; got {reduction!r}")


def average_tensors(tensors: Iterable[torch.Tensor | None]) -> None:
    """Each tensor (in place) replaced by its mean over the processes (a no-op with one process); None entries
    are skipped: every process runs the same code on its own rows, so a gradient missing here is missing
    everywhere."""
    world = processes()
    if world == 1:
        return
    for tensor in tensors:
        if tensor is not None:
            torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.SUM)
            tensor.div_(world)


def average_gradients(params: Iterable[nn.Parameter]) -> None:
    """Mean of every parameter's gradient over the processes: with the task's gathered losses, the gradient of
    the whole batch (see the module's docstring)."""
    average_tensors(p.grad for p in params)


def broadcast_object(value: Any) -> Any:
    """The main process's ``value`` on every process."""
    if processes() == 1:
        return value
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def record(model: nn.Module) -> dict[str, Any]:
    """Where a run computed, as its report states it: ``device``, ``dtype`` (of the trained weights) and
    ``processes``."""
    parameter = next(iter(model.parameters()), None)
    device = parameter.device if parameter is not None else run_device()
    dtype = str(parameter.dtype).removeprefix("torch.") if parameter is not None else "float32"
    return {"device": str(device), "dtype": dtype, "processes": processes()}
