"""Full spiking training of one architecture: the expensive measurement the search relies on.

Optimiser, schedule and augmentation come from the problem's ``[training]`` table; the loss is
cross-entropy on the time-averaged output (SNASNet's recipe). A non-finite loss stops the run and
marks the candidate ``diverged`` (a result, not an error). After training, accuracy is measured on
the validation split (used for selection) and the test split (only reported), and the input spike
rate of every crossbar layer is measured on the validation split.

Randomness: one ``seed`` drives weight initialisation, shuffling, augmentation and dropout through
explicit generators and a forked global RNG; nothing outside is changed.
"""

from __future__ import annotations

import math
import pickle
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from moo_snn.architecture import Architecture
from moo_snn.config.problem import ProblemSpec, TrainingSpec
from moo_snn.errors import TrainingError
from moo_snn.training.network import RateRecorder, SpikeRecorder, SpikingNetwork


@dataclass
class TrainResult:
    """What one training measured. Accuracies are fractions; NaN where not measured."""

    arch: str
    status: str  # "trained" or "diverged"
    val_accuracy: float
    test_accuracy: float
    spike_rates: dict[str, float]
    train_seconds: float
    epochs: int
    seed: int
    device: str
    samples_per_second: float
    params: int
    epoch_losses: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The result as a plain dict (what executors send back and archives append)."""
        return asdict(self)


def resolve_device(device: str) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N``; a clear error where CUDA is not available."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError(f"device {device!r} requested but torch sees no CUDA GPU (torch {torch.__version__}); use --device cpu")
    try:
        return torch.device(device)
    except RuntimeError:
        raise TrainingError(f"unknown device {device!r}; valid: cpu, cuda, cuda:N") from None


def augment_crop_flip(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Random crop after zero padding and random horizontal flip, per sample (vectorised)."""
    b, c, h, w = x.shape
    padded = F.pad(x, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    out = padded[torch.arange(b, device=x.device)[:, None, None, None], torch.arange(c, device=x.device)[None, :, None, None], rows, cols]
    flip = (torch.rand(b, generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], out.flip(-1), out)


def normalised(data, images) -> torch.Tensor:
    """``images`` standardised per channel with the training split's mean and std (what every network sees)."""
    mean = torch.as_tensor(data.mean).view(1, -1, 1, 1)
    std = torch.as_tensor(data.std).clamp_min(1e-6).view(1, -1, 1, 1)
    return (torch.as_tensor(images) - mean) / std


def make_optimizer(model: torch.nn.Module, spec: TrainingSpec, total_steps: int):
    """Optimiser and per-step learning-rate schedule of the ``[training]`` table."""
    params = model.parameters()
    if spec.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum, nesterov=spec.nesterov and spec.momentum > 0, weight_decay=spec.weight_decay)
    elif spec.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=spec.lr, weight_decay=spec.weight_decay)
    else:
        opt = torch.optim.AdamW(params, lr=spec.lr, weight_decay=spec.weight_decay)
    if spec.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(total_steps, 1), eta_min=spec.lr * spec.min_lr_factor)
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    return opt, sched


@torch.no_grad()
def evaluate(model: SpikingNetwork, x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device,
             recorder: SpikeRecorder | None = None) -> float:
    """Accuracy of ``model`` on ``(x, y)``; every layer's input goes to ``recorder``."""
    model.eval()
    correct = 0
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size].to(device)
        yb = y[start:start + batch_size].to(device)
        correct += int((model(xb, recorder).argmax(1) == yb).sum())
    return correct / max(len(x), 1)


def train_architecture(problem: ProblemSpec, arch: Architecture | str, data=None, *, epochs: int | None = None,
                       seed: int = 0, device: str = "cpu", weights_path: str | Path | None = None,
                       on_epoch=None) -> TrainResult:
    """Train ``arch`` on the problem's data with the problem's recipe and measure it.

    Parameters
    ----------
    problem : the problem (data, training recipe, input shape).
    arch : an :class:`Architecture` or its string.
    data : the :class:`~moo_snn.data.DataSplits` (loaded from the problem when None).
    epochs : overrides ``[training] epochs``.
    seed : seed of initialisation, shuffling, augmentation and dropout.
    device : ``cpu`` or ``cuda[:N]``.
    weights_path : where to save the trained weights (``torch.save`` of the state dict,
        readable with ``torch.load(..., weights_only=True)``).
    on_epoch : called as ``on_epoch(epoch, n_epochs, mean_loss)`` after each epoch.
    """
    if isinstance(arch, str):
        arch = Architecture.parse(arch)
    if not arch.is_valid:
        raise TrainingError(f"architecture {arch} has no forward path from node 0 to node 3; repair it first")
    spec = problem.training
    epochs = spec.epochs if epochs is None else epochs
    if epochs < 1:
        raise TrainingError(f"epochs must be >= 1, found {epochs}")
    dev = resolve_device(device)
    if data is None:
        from moo_snn.data import load_problem_data
        data = load_problem_data(problem)
    tensors = {k: normalised(data, getattr(data, f"x_{k}")) for k in ("train", "val", "test")}
    labels = {k: torch.as_tensor(getattr(data, f"y_{k}")) for k in ("train", "val", "test")}

    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        model = SpikingNetwork(arch.pruned(), problem.network_input, spec).to(dev)
        generator = torch.Generator().manual_seed(seed)
        n = len(tensors["train"])
        batch = min(spec.batch_size, n)
        steps_per_epoch = n // batch if n % batch < 2 else n // batch + 1  # no batch of one (BatchNorm)
        opt, sched = make_optimizer(model, spec, steps_per_epoch * epochs)
        status, losses, seen = "trained", [], 0
        start_time = time.perf_counter()
        for epoch in range(epochs):
            model.train()
            order = torch.randperm(n, generator=generator)
            total, count = 0.0, 0
            for step in range(steps_per_epoch):
                idx = order[step * batch:(step + 1) * batch]
                xb, yb = tensors["train"][idx], labels["train"][idx]
                if spec.augment == "crop_flip":
                    xb = augment_crop_flip(xb, spec.crop_padding, generator)
                xb, yb = xb.to(dev, non_blocking=True), yb.to(dev, non_blocking=True)
                loss = F.cross_entropy(model(xb), yb, label_smoothing=spec.label_smoothing)
                if not torch.isfinite(loss):
                    status = "diverged"
                    break
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if spec.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
                opt.step()
                sched.step()
                total += loss.detach().item() * len(idx)
                count += len(idx)
            seen += count
            if status == "diverged":
                break
            losses.append(total / max(count, 1))
            if on_epoch is not None:
                on_epoch(epoch + 1, epochs, losses[-1])
        train_seconds = time.perf_counter() - start_time
        params = sum(m.weight.numel() for m in model.modules() if hasattr(m, "bits"))
        if status == "diverged" or not all(math.isfinite(p.sum().item()) for p in model.parameters()):
            return TrainResult(str(arch), "diverged", float("nan"), float("nan"), {}, train_seconds, epochs, seed,
                               str(dev), seen / max(train_seconds, 1e-9), params, losses)
        rates = RateRecorder()
        val_acc = evaluate(model, tensors["val"], labels["val"], spec.eval_batch_size, dev, rates)
        test_acc = evaluate(model, tensors["test"], labels["test"], spec.eval_batch_size, dev)
    if weights_path is not None:
        save_weights(model, arch, weights_path)
    return TrainResult(
        arch=str(arch), status=status, val_accuracy=val_acc, test_accuracy=test_acc,
        spike_rates=rates.rates(),
        train_seconds=train_seconds, epochs=epochs, seed=seed, device=str(dev),
        samples_per_second=seen / max(train_seconds, 1e-9), params=params, epoch_losses=losses,
    )


def save_weights(model: torch.nn.Module, arch: Architecture, path: str | Path) -> None:
    """Save the state dict and the architecture string (tensors and strings only: safe to load)."""
    torch.save({"arch": str(arch), "state_dict": model.state_dict()}, Path(path))


def load_weights(problem: ProblemSpec, path: str | Path) -> SpikingNetwork:
    """Rebuild a saved network; loads with ``weights_only=True`` so a file cannot run code."""
    try:
        saved = torch.load(Path(path), map_location="cpu", weights_only=True)
        arch = Architecture.parse(saved["arch"])
        model = SpikingNetwork(arch.pruned(), problem.network_input, problem.training)
        model.load_state_dict(saved["state_dict"])
    except pickle.UnpicklingError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        named = [line for line in lines if "GLOBAL" in line]
        if named:  # torch's safe loader met a Python object: refused, nothing of it ran
            raise TrainingError(f"{path}: refused: the file holds Python objects other than tensors, which could run "
                                f"code when loaded ({named[0].rstrip('.')}); moo-snn weights files hold tensors and "
                                f"strings only") from None
        after = [lines[k + 1] for k, line in enumerate(lines[:-1]) if line.endswith("WeightsUnpickler error:")]
        raise TrainingError(f"{path}: not a moo-snn weights file ({(after or lines or ['unreadable'])[0]})") from None
    except Exception as exc:  # any unreadable or foreign file is the same user-facing problem
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise TrainingError(f"{path}: not a moo-snn weights file for this problem ({type(exc).__name__}: {first_line})") from None
    return model.eval()
