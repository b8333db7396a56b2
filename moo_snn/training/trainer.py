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

import contextlib
import math
import pickle
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from moo_snn.architecture import Architecture
from moo_snn.config.problem import ProblemSpec, TrainingSpec
from moo_snn.errors import DataError, TrainingError
from moo_snn.layers import crossbar_layers
from moo_snn.space import OutsideSpaceWarning, SearchSpace
from moo_snn.training import runtime
from moo_snn.training.network import RateRecorder, SpikeRecorder, SpikingNetwork


@dataclass
class TrainResult:
    """What one training measured. Accuracies are fractions; NaN where not measured.

    ``torch_threads``: torch's intra-op thread count the training ran with (chosen by
    :func:`~moo_snn.training.runtime.choose_threads` unless given); on CPU the same seed gives the
    same numbers only with the same count.
    """

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
    accuracy_nonideal: float = float("nan")  # on non-ideal crossbars ([nonideal]); NaN where no metric asks for it
    accuracy_nonideal_std: float = float("nan")
    torch_threads: int = 0

    def to_dict(self) -> dict:
        """The result as a plain dict (what executors send back and archives append)."""
        return asdict(self)


def resolve_device(device: str) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N`` as a torch device; any other device type, or a GPU torch does not
    see, is a :class:`TrainingError` (:func:`moo_snn.training.runtime.check_device`)."""
    return torch.device(runtime.check_device(device))


def augment_crop_flip(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Random crop after zero padding and random horizontal flip, per sample (vectorised).

    ``x`` ``(B, C, H, W)`` on any device; the random offsets and flips are drawn from the CPU
    ``generator`` (the same draws on every device) and sent to ``x``'s device in one copy.
    """
    b, c, h, w = x.shape
    padded = F.pad(x, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
    flip = torch.rand(b, generator=generator) < 0.5
    dy, dx, flip = torch.stack((dy, dx, flip.long())).to(x.device, non_blocking=True)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    out = padded[torch.arange(b, device=x.device)[:, None, None, None], torch.arange(c, device=x.device)[None, :, None, None], rows, cols]
    return torch.where(flip.bool()[:, None, None, None], out.flip(-1), out)


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


def _memory_format(spec: TrainingSpec) -> torch.memory_format:
    return torch.channels_last if spec.channels_last else torch.contiguous_format


def _autocast(spec: TrainingSpec, device: torch.device):
    """bf16 autocast of the ``[training] autocast`` key (a no-op context with ``none``)."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=spec.autocast == "bf16")


@torch.no_grad()
def evaluate(model: SpikingNetwork, x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device,
             recorder: SpikeRecorder | None = None, spec: TrainingSpec | None = None) -> float:
    """Accuracy of ``model`` on ``(x, y)`` (on any device; batches are moved to ``device``);
    every layer's input goes to ``recorder``. ``spec``: its autocast and memory format (default off).
    No images: :class:`DataError` (an accuracy of nothing is undefined, not 0)."""
    if len(x) == 0:
        raise DataError("no images to measure the accuracy on (an empty split); give every split images")
    model.eval()
    correct = 0
    layout = _memory_format(spec) if spec is not None else torch.contiguous_format
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size].to(device, non_blocking=True).contiguous(memory_format=layout)
        yb = y[start:start + batch_size].to(device, non_blocking=True)
        with _autocast(spec, device) if spec is not None else contextlib.nullcontext():
            logits = model(xb, recorder)
        correct += int((logits.argmax(1) == yb).sum())
    return correct / len(x)


def macs_per_step(arch: Architecture, net_input, batch_size: int) -> float:
    """Multiply-accumulates of one timestep of one batch over all crossbar layers (the thread policy's size)."""
    return float(batch_size) * sum(l.params * l.d_out * l.d_out for l in crossbar_layers(arch, net_input))


def _split_tensors(data, device: torch.device) -> tuple[dict, dict]:
    """Normalised images and labels of every split, moved to ``device`` once (no per-batch host copies)."""
    images = {k: normalised(data, getattr(data, f"x_{k}")).to(device) for k in ("train", "val", "test")}
    labels = {k: torch.as_tensor(getattr(data, f"y_{k}")).to(device) for k in ("train", "val", "test")}
    return images, labels


def _train_epoch(model, opt, sched, spec: TrainingSpec, images, labels, order, batch: int, steps: int, device,
                 generator, on_batch, epoch: int, epochs: int) -> tuple[float, int, bool]:
    """One epoch; ``(loss sum, samples seen, diverged)``. ``order``: the epoch's permutation on ``device``."""
    model.train()
    layout, total, count, started = _memory_format(spec), 0.0, 0, time.perf_counter()
    for step in range(steps):
        idx = order[step * batch:(step + 1) * batch]
        xb, yb = images[idx], labels[idx]
        if spec.augment == "crop_flip":
            xb = augment_crop_flip(xb, spec.crop_padding, generator)
        with _autocast(spec, device):
            loss = F.cross_entropy(model(xb.contiguous(memory_format=layout)), yb, label_smoothing=spec.label_smoothing)
        if not torch.isfinite(loss):
            return total, count, True
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if spec.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
        opt.step()
        sched.step()
        total += loss.detach().item() * len(idx)
        count += len(idx)
        if on_batch is not None:
            on_batch(epoch, epochs, step + 1, steps, count / max(time.perf_counter() - started, 1e-9))
    return total, count, False


def train_architecture(problem: ProblemSpec, arch: Architecture | str, data=None, *, epochs: int | None = None,
                       seed: int = 0, device: str = "cpu", weights_path: str | Path | None = None,
                       on_epoch=None, on_batch=None, torch_threads: int | None = None,
                       trainings_per_node: int = 1) -> TrainResult:
    """Train ``arch`` on the problem's data with the problem's recipe and measure it.

    Parameters
    ----------
    problem : the problem (data, training recipe, input shape): a :class:`ProblemSpec`, a shipped
        problem's name or a problem file's path.
    arch : an :class:`Architecture` or its string.
    data : the :class:`~moo_snn.data.DataSplits` (loaded from the problem when None).
    epochs : overrides ``[training] epochs``.
    seed : seed of initialisation, shuffling, augmentation and dropout.
    device : ``cpu`` or ``cuda[:N]``. On CUDA, cuDNN runs its deterministic algorithms during the
        training; results repeat per seed where torch's CUDA kernels do (not checked on a GPU here).
    weights_path : where to save the trained weights (``torch.save`` of the state dict,
        readable with ``torch.load(..., weights_only=True)``); its missing folders are created, and a
        folder or an unwritable place is an :class:`~moo_snn.outputs.OutputError` before the training.
    on_epoch : called as ``on_epoch(epoch, n_epochs, mean_loss)`` after each epoch.
    on_batch : called as ``on_batch(epoch, n_epochs, batch, n_batches, samples_per_second)`` after
        each batch (epoch and batch from 1; samples/s over the epoch so far).
    torch_threads : torch's intra-op threads (None: chosen by
        :func:`~moo_snn.training.runtime.choose_threads`); recorded in the result.
    trainings_per_node : trainings running at once on this machine (the thread policy's share).

    Warns
    -----
    OutsideSpaceWarning
        ``arch`` is outside the problem's ``[space]`` (trained anyway; the message names each value outside it).
    """
    problem = as_problem(problem)
    if isinstance(arch, str):
        arch = Architecture.parse(arch)
    if not arch.is_valid:
        raise TrainingError(f"architecture {arch} has no forward path from node 0 to node 3; repair it first "
                              f"(moo-snn train/cost --arch ... --repair shows the repaired architecture; in Python: SearchSpace.repair)")
    note = SearchSpace(problem.space).outside_note(arch, problem.name, "training")
    if note:  # a designer's what-if: trained anyway, as moo-snn train does, and said (moo_snn.network_costs warns alike)
        warnings.warn(note, OutsideSpaceWarning, stacklevel=2)
    spec = problem.training
    epochs = spec.epochs if epochs is None else epochs
    if epochs < 1:
        raise TrainingError(f"epochs must be >= 1, found {epochs}")
    dev = resolve_device(device)
    if weights_path is not None:  # checked before the training, not after it
        from moo_snn.outputs import check_output_file

        check_output_file(weights_path, "weights_path")
    if data is None:
        from moo_snn.data import load_problem_data
        data = load_problem_data(problem)
    from moo_snn.data.splits import check_not_empty
    check_not_empty(data)
    work = macs_per_step(arch.pruned(), problem.network_input, min(spec.batch_size, len(data.y_train)))
    threads = 1 if dev.type == "cuda" and not torch_threads else \
        runtime.choose_threads(work, requested=torch_threads, trainings_per_node=trainings_per_node).threads
    with runtime.torch_threads(threads), _deterministic_cuda(dev):
        result, model = _train(problem, arch, data, epochs, seed, dev, on_epoch, on_batch)
    result.torch_threads = threads
    if weights_path is not None and result.status == "trained":
        save_weights(model, arch, weights_path)
    return result


@contextlib.contextmanager
def _deterministic_cuda(device: torch.device):
    """cuDNN's deterministic algorithms (no autotuning) during a CUDA training; nothing on CPU."""
    if device.type != "cuda":
        yield
        return
    before = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before


def _train(problem: ProblemSpec, arch: Architecture, data, epochs: int, seed: int, dev: torch.device, on_epoch,
           on_batch) -> tuple[TrainResult, SpikingNetwork]:
    """Set-up, epochs, measurement: the result and the trained model."""
    spec = problem.training
    images, labels = _split_tensors(data, dev)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        model = SpikingNetwork(arch.pruned(), problem.network_input, spec).to(dev, memory_format=_memory_format(spec))
        generator = torch.Generator().manual_seed(seed)
        n = len(images["train"])
        batch = min(spec.batch_size, n)
        steps_per_epoch = n // batch if n % batch < 2 else n // batch + 1  # no batch of one (BatchNorm)
        opt, sched = make_optimizer(model, spec, steps_per_epoch * epochs)
        status, losses, seen = "trained", [], 0
        start_time = time.perf_counter()
        from moo_snn.training.nonideal import inject_weight_noise
        noise_off = inject_weight_noise(model, spec.weight_noise, seed)  # [training] weight_noise (0: nothing)
        for epoch in range(1, epochs + 1):
            order = torch.randperm(n, generator=generator).to(dev)
            total, count, diverged = _train_epoch(model, opt, sched, spec, images["train"], labels["train"], order, batch,
                                                  steps_per_epoch, dev, generator, on_batch, epoch, epochs)
            seen += count
            if diverged:
                status = "diverged"
                break
            losses.append(total / max(count, 1))
            if on_epoch is not None:
                on_epoch(epoch, epochs, losses[-1])
        noise_off()
        train_seconds = time.perf_counter() - start_time
        params = sum(m.weight.numel() for m in model.modules() if hasattr(m, "bits"))
        if status == "diverged" or not all(math.isfinite(p.sum().item()) for p in model.parameters()):
            result = TrainResult(str(arch), "diverged", float("nan"), float("nan"), {}, train_seconds, epochs, seed,
                                 str(dev), seen / max(train_seconds, 1e-9), params, losses)
            return result, model
        rates = RateRecorder()
        val_acc = evaluate(model, images["val"], labels["val"], spec.eval_batch_size, dev, rates, spec)
        test_acc = evaluate(model, images["test"], labels["test"], spec.eval_batch_size, dev, spec=spec)
        from moo_snn.training.nonideal import measure_trained
        nonideal = measure_trained(problem, arch, model, images, labels, dev)  # {} unless a metric asks for it
    result = TrainResult(
        arch=str(arch), status=status, val_accuracy=val_acc, test_accuracy=test_acc,
        spike_rates=rates.rates(),
        train_seconds=train_seconds, epochs=epochs, seed=seed, device=str(dev),
        samples_per_second=seen / max(train_seconds, 1e-9), params=params, epoch_losses=losses, **nonideal,
    )
    return result, model


def save_weights(model: torch.nn.Module, arch: Architecture, path: str | Path) -> None:
    """Save the state dict and the architecture string (tensors and strings only: safe to load); the
    missing folders of ``path`` are created."""
    from moo_snn.outputs import OutputError, make_parent

    path = make_parent(path)
    try:
        torch.save({"arch": str(arch), "state_dict": model.state_dict()}, path)
    except (OSError, RuntimeError) as exc:  # torch raises RuntimeError for an unwritable file
        raise OutputError(f"{path}: cannot write the weights ({exc})") from None


def as_problem(problem) -> ProblemSpec:
    """A :class:`ProblemSpec` as given, or loaded from a shipped problem's name or a problem file's path
    (:func:`~moo_snn.config.problem.load_problem`; raises its :class:`~moo_snn.errors.ProblemError`)."""
    from moo_snn.config.problem import load_problem

    return problem if isinstance(problem, ProblemSpec) else load_problem(problem)


def load_weights(problem: ProblemSpec | str | Path, path: str | Path) -> SpikingNetwork:
    """Rebuild a network saved by ``moo-snn train --save`` (or ``weights_path``) for ``problem``.

    Loads with ``weights_only=True``, so a file cannot run code.

    Parameters
    ----------
    problem : ProblemSpec, or a shipped problem's name or a problem file's path
        The problem the weights were trained for (input shape and training recipe).
    path : str or path-like
        The weights file.

    Returns
    -------
    SpikingNetwork
        In eval mode, on the CPU.

    Raises
    ------
    ProblemError
        ``problem`` is a name or path that does not load.
    TrainingError
        One line naming ``path``: it cannot be read, holds Python objects other than tensors, is not a
        moo-snn weights file, or holds a network of another problem (its tensors do not fit).
    """
    from moo_snn.errors import ArchitectureError

    problem = as_problem(problem)  # a caller's error (a bad name) is the caller's, not the file's
    try:
        saved = torch.load(Path(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        named = [line for line in lines if "GLOBAL" in line]
        if named:  # torch's safe loader met a Python object: refused, nothing of it ran
            raise TrainingError(f"{path}: refused: the file holds Python objects other than tensors, which could run "
                                f"code when loaded ({named[0].rstrip('.')}); moo-snn weights files hold tensors and "
                                f"strings only") from None
        after = [lines[k + 1] for k, line in enumerate(lines[:-1]) if line.endswith("WeightsUnpickler error:")]
        raise TrainingError(f"{path}: not a moo-snn weights file ({(after or lines or ['unreadable'])[0]})") from None
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise TrainingError(f"{path}: cannot read the weights file ({exc.strerror or type(exc).__name__})") from None
    except EOFError:
        raise TrainingError(f"{path}: not a moo-snn weights file (it is empty or cut short)") from None
    except (OSError, RuntimeError, ValueError) as exc:  # torch's reader on a truncated or foreign file
        raise TrainingError(f"{path}: not a moo-snn weights file, or one cut short ({type(exc).__name__}: "
                            f"{_first_line(exc)})") from None
    if not (isinstance(saved, dict) and isinstance(saved.get("arch"), str) and isinstance(saved.get("state_dict"), dict)):
        raise TrainingError(f"{path}: not a moo-snn weights file (it holds no architecture string 'arch' and tensors "
                            f"'state_dict')")
    try:
        arch = Architecture.parse(saved["arch"])
    except ArchitectureError as exc:
        raise TrainingError(f"{path}: not a moo-snn weights file (its 'arch': {_first_line(exc)})") from None
    model = SpikingNetwork(arch.pruned(), problem.network_input, problem.training)
    try:
        model.load_state_dict(saved["state_dict"])
    except RuntimeError as exc:  # missing, unexpected or mis-shaped tensors: trained for another problem
        raise TrainingError(f"{path}: not a moo-snn weights file for this problem (its tensors do not fit "
                            f"{arch} on {problem.name}: {_first_line(exc, skip='Error(s) in loading')})") from None
    return model.eval()


def _first_line(exc: BaseException, skip: str = "") -> str:
    """The first line of ``exc``'s message (past a heading that starts with ``skip``)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if skip and len(lines) > 1 and lines[0].startswith(skip):
        lines = lines[1:]
    return lines[0].rstrip(".") if lines else type(exc).__name__
