"""Full spiking training: real norse training on real digits, divergence, weights, the train command."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from moo_snn.cli import app
from moo_snn.config.problem import load_problem, parse_problem
from moo_snn.data import load_problem_data
from moo_snn.errors import TrainingError
from moo_snn.layers import crossbar_layers
from moo_snn.training.trainer import augment_crop_flip, load_weights, train_architecture

ARCH = "0003-0000-0000-0000_c8_t2_w4_p2_h0"


@pytest.fixture(scope="module")
def digits():
    problem = load_problem("digits")
    return problem, load_problem_data(problem)


def test_short_training_learns_digits_and_measures_spike_rates(digits, tmp_path):
    problem, data = digits
    result = train_architecture(problem, ARCH, data, epochs=3, seed=0, weights_path=tmp_path / "w.pt")
    assert result.status == "trained"
    assert result.val_accuracy > 0.6 and result.test_accuracy > 0.6  # chance is 0.1
    assert result.epoch_losses[0] > result.epoch_losses[-1]
    names = [l.name for l in crossbar_layers(problem.reference_arch.__class__.parse(ARCH), problem.network_input)]
    assert list(result.spike_rates) == names
    assert result.spike_rates["stem"] == 1.0
    assert all(0 < r < 1 for n, r in result.spike_rates.items() if n != "stem")
    assert result.train_seconds > 0 and result.samples_per_second > 0
    # the saved weights rebuild the same network: same test accuracy
    model = load_weights(problem, tmp_path / "w.pt")
    mean, std = torch.as_tensor(data.mean).view(1, -1, 1, 1), torch.as_tensor(data.std).view(1, -1, 1, 1)
    with torch.no_grad():
        pred = model((torch.as_tensor(data.x_test) - mean) / std).argmax(1).numpy()
    assert np.mean(pred == data.y_test) == pytest.approx(result.test_accuracy)


def test_the_same_seed_gives_the_same_training(digits):
    problem, data = digits
    state = torch.random.get_rng_state()
    a = train_architecture(problem, ARCH, data, epochs=1, seed=7)
    b = train_architecture(problem, ARCH, data, epochs=1, seed=7)
    c = train_architecture(problem, ARCH, data, epochs=1, seed=8)
    assert a.epoch_losses == b.epoch_losses and a.val_accuracy == b.val_accuracy
    assert a.epoch_losses != c.epoch_losses
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG is untouched


def test_a_diverging_training_is_a_result_not_a_crash(digits):
    problem, data = digits
    poisoned = replace(data, x_train=np.where(np.arange(data.x_train.shape[0])[:, None, None, None] == 5, np.nan, data.x_train).astype(np.float32))
    result = train_architecture(problem, ARCH, poisoned, epochs=2, seed=0)
    assert result.status == "diverged"
    assert math.isnan(result.val_accuracy) and math.isnan(result.test_accuracy)


def test_weights_files_are_loaded_safely(digits, tmp_path):
    problem, _ = digits
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {marker}",))

    torch.save({"arch": ARCH, "state_dict": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(TrainingError, match="evil.pt: refused: the file holds Python objects other than tensors") as refused:
        load_weights(problem, tmp_path / "evil.pt")
    assert "\n" not in str(refused.value) and "weights_only` set to `False`" not in str(refused.value)
    assert not marker.exists()
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(TrainingError, match="junk.pt: not a moo-snn weights file"):
        load_weights(problem, tmp_path / "junk.pt")


def _untrained_weights(path, problem_name="digits", arch=ARCH):
    from moo_snn.architecture import Architecture
    from moo_snn.training.network import SpikingNetwork

    problem = load_problem(problem_name)
    model = SpikingNetwork(Architecture.parse(arch).pruned(), problem.network_input, problem.training)
    torch.save({"arch": arch, "state_dict": model.state_dict()}, path)  # as train_architecture saves them
    return model


def test_weights_load_for_a_problem_given_by_name_or_path(tmp_path):
    from moo_snn.resources import shipped_problems

    saved = _untrained_weights(tmp_path / "ref.pt")
    for problem in ("digits", shipped_problems()["digits"], str(shipped_problems()["digits"]), load_problem("digits")):
        model = load_weights(problem, tmp_path / "ref.pt")
        assert all(torch.equal(model.state_dict()[k], v) for k, v in saved.state_dict().items())


def test_a_callers_mistake_is_not_blamed_on_the_weights_file(tmp_path):
    from moo_snn.errors import ProblemError

    _untrained_weights(tmp_path / "ref.pt")
    with pytest.raises(ProblemError, match="problem file 'no-such-problem' not found"):
        load_weights("no-such-problem", tmp_path / "ref.pt")


@pytest.mark.parametrize("name, content, fragment", [
    ("missing", None, "missing.pt: cannot read the weights file (No such file or directory)"),
    ("empty", b"", "empty.pt: not a moo-snn weights file (it is empty or cut short)"),
    ("list", [1, 2], "list.pt: not a moo-snn weights file (it holds no architecture string 'arch' and tensors 'state_dict')"),
    ("badarch", {"arch": "zz", "state_dict": {}}, "badarch.pt: not a moo-snn weights file (its 'arch': architecture 'zz'"),
    ("cifar", "cifar10-hasnas", "cifar.pt: not a moo-snn weights file for this problem (its tensors do not fit "
                                f"{ARCH} on digits: size mismatch for stem.0.weight"),
], ids=["missing", "empty", "list", "badarch", "another problem"])
def test_a_bad_weights_file_is_one_line_naming_it(tmp_path, name, content, fragment):
    path = tmp_path / f"{name}.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        _untrained_weights(path, content)  # another problem's network: 3 input channels, not 1
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(TrainingError) as caught:
        load_weights("digits", path)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_crop_flip_keeps_the_shape_and_moves_content():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    out = augment_crop_flip(x, 0, g)  # no padding: identity or a horizontal flip
    for i in range(2):
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(-1))
    out = augment_crop_flip(x.repeat(64, 1, 1, 1), 2, g)
    assert out.shape == (128, 3, 8, 8)
    assert (out == 0).any()  # some crops reach into the zero padding


def test_crop_flip_training_on_a_cifar_shaped_npz(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 100)
    x = rng.random((300, 3, 16, 16), dtype=np.float32) * 0.2
    x[np.arange(300), y] += 0.8  # class k is bright in channel k
    np.savez(tmp_path / "toy.npz", x=x, y=y)
    text = (load_problem("digits").source
            .replace('dataset = "digits"', 'dataset = "npz"\npath = "toy.npz"\nchannels = 3\nside = 16\nclasses = 3')
            .replace('schedule = "cosine"', 'schedule = "cosine"\naugment = "crop_flip"\ncrop_padding = 2'))
    problem = parse_problem(text, "toy.toml", base_dir=tmp_path)
    result = train_architecture(problem, "0001-0000-0000-0000_c4_t2_w4_p2_h0", epochs=8, seed=0)
    assert result.status == "trained" and result.val_accuracy > 0.5


def test_train_command_json(tmp_path):
    result = CliRunner().invoke(app, ["train", "digits", "--arch", ARCH, "--epochs", "1", "--json", "--save", str(tmp_path / "w.pt")])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert {"arch", "val_accuracy", "test_accuracy", "spike_rates", "train_seconds"} <= set(out)
    assert out["arch"] == ARCH and 0 <= out["test_accuracy"] <= 1
    assert (tmp_path / "w.pt").exists()


@pytest.mark.parametrize("args, fragment", [
    (["--arch", "0303"], "4 rows of 4"),
    (["--device", "cuda"] if not torch.cuda.is_available() else ["--device", "tpu"], "device"),
    (["--arch", "0000-0000-0000-0000_c8_t2_w4_p2_h0"], "no forward path"),
])
def test_train_command_user_errors(args, fragment):
    result = CliRunner().invoke(app, ["train", "digits", "--epochs", "1", *args])
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr and "Traceback" not in result.output


def test_on_batch_reports_every_batch_and_the_thread_count_is_recorded(digits):
    problem, data = digits
    calls = []
    result = train_architecture(problem, ARCH, data, epochs=2, seed=0, on_batch=lambda *a: calls.append(a))
    n_batches = math.ceil(len(data.y_train) / problem.training.batch_size)
    assert [(e, n, b, nb) for e, n, b, nb, _ in calls] == [(e, 2, b, n_batches) for e in (1, 2) for b in range(1, n_batches + 1)]
    assert all(rate > 0 for *_, rate in calls)
    assert result.torch_threads == 1  # a digits network: one thread (the policy's small-network rule)
    before = torch.get_num_threads()
    again = train_architecture(problem, ARCH, data, epochs=2, seed=0, torch_threads=1)
    assert again.epoch_losses == result.epoch_losses and again.torch_threads == 1
    assert torch.get_num_threads() == before


def test_crop_flip_draws_match_a_per_sample_reference():
    """The vectorised augmentation against slicing sample by sample with the same random draws."""
    x = torch.randn(6, 3, 8, 8)
    out = augment_crop_flip(x, 2, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    dy, dx = torch.randint(0, 5, (6,), generator=g), torch.randint(0, 5, (6,), generator=g)
    flip = torch.rand(6, generator=g) < 0.5
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(6):
        crop = padded[i, :, dy[i]:dy[i] + 8, dx[i]:dx[i] + 8]
        assert torch.equal(out[i], crop.flip(-1) if flip[i] else crop)


def test_bf16_autocast_and_channels_last_keys_train(tmp_path):
    """The GPU options run on CPU too: bf16 changes the numbers, channels_last only the layout."""
    base = load_problem("digits").source
    problems = {name: parse_problem(base.replace('schedule = "cosine"', f'schedule = "cosine"\n{extra}'), f"{name}.toml")
                for name, extra in (("plain", ""), ("bf16", 'autocast = "bf16"'), ("cl", "channels_last = true"))}
    data = load_problem_data(problems["plain"])
    results = {k: train_architecture(p, ARCH, data, epochs=2, seed=0) for k, p in problems.items()}
    for name, result in results.items():
        assert result.status == "trained" and result.val_accuracy > 0.3, name
    assert results["bf16"].epoch_losses != results["plain"].epoch_losses
    assert results["cl"].epoch_losses == pytest.approx(results["plain"].epoch_losses, rel=1e-3)
