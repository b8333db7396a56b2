"""``moo-snn plan`` prices what the run does: the bootstrap networks its archive holds are not trained
(checked against the run's own bootstrap), and the peak memory is the worst network's, not a typical one's."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from moo_snn.architecture import Architecture
from moo_snn.cli import app
from moo_snn.config.problem import load_problem, parse_problem
from moo_snn.search.bootstrap_plan import bootstrap_coverage
from moo_snn.search.loop import SearchRun
from moo_snn.space import SearchSpace
from moo_snn.surrogate import archive as arc
from moo_snn.surrogate.sampling import space_filling_sample
from moo_snn.training import plan as plan_module
from moo_snn.training import plan_memory
from small_search import TEXT

# 8 full epochs, bootstrap 6, 2 rounds of 4 survivors; the ladder of tests/test_fidelity.py
PLAIN = TEXT.replace("epochs = 2", "epochs = 8").replace("bootstrap = 16", "bootstrap = 6").replace("survivors = 2", "survivors = 4")
LADDER = "\n[fidelity]\nepochs = [1, 2]\ntrain_fraction = [0.25, 0.5]\neta = 2\npromote = 2\n"
SPEC = parse_problem(PLAIN, "plain.toml")
SPACE = SearchSpace(SPEC.space)
SAMPLE = [str(SPACE.decode(x)) for x in space_filling_sample(SPEC, SPACE, 6, seed=0)]  # the run's bootstrap (seed 0)


def write_archive(path, archs, *, epochs=8, spec=SPEC):
    archive = arc.empty_archive(spec)
    for k, a in enumerate(archs):
        archive = arc.append(archive, dict(arch=a, status="trained", val_accuracy=0.5 + 0.01 * k, test_accuracy=0.5,
                                           train_seconds=1.0, epochs=epochs, seed=0, params=1, spike_rates={"stem": 1.0}))
    arc.save_archive(archive, path)
    return path


def trained_by_the_run(spec, archive, tmp_path) -> list[str]:
    """What SearchRun's bootstrap really sends to training (the trainings are caught, not run)."""
    run = SearchRun(spec, tmp_path / "run.nc", archive_path=archive)
    sent = []
    run._train = lambda todo, r, source, level=None: sent.extend(c.arch for c in todo)
    run._bootstrap()
    return sent


@pytest.mark.slow  # six archives written and read, three runs set up: about 10 s
def test_the_bootstrap_counts_only_what_the_archive_lacks_as_the_run_does(tmp_path):
    assert len(SAMPLE) == 6
    part = write_archive(tmp_path / "part.nc", SAMPLE[:4])  # 4 of the 6 sampled networks measured
    cov = bootstrap_coverage(SPEC, part)
    assert (cov.archive_state, cov.archive_records, cov.from_archive, cov.to_train) == ("matches", 4, 4, 2)
    topped = trained_by_the_run(SPEC, part, tmp_path)  # two, none of the archive's, the maximin augmentation of them
    assert len(topped) == 2 and not set(topped) & set(SAMPLE[:4])
    assert topped == [str(SPACE.decode(x)) for x in space_filling_sample(SPEC, SPACE, 2, seed=0, measured=SAMPLE[:4])]

    others = [str(SPACE.decode(x)) for x in space_filling_sample(SPEC, SPACE, 40, seed=7)]
    others = [a for a in others if a not in SAMPLE][:6]
    enough = write_archive(tmp_path / "enough.nc", others)  # 6 other networks: as many as the bootstrap wants
    cov = bootstrap_coverage(SPEC, enough)
    assert (cov.archive_records, cov.from_archive, cov.to_train) == (6, 6, 0)
    assert trained_by_the_run(SPEC, enough, tmp_path) == []

    five = write_archive(tmp_path / "five.nc", others[:5])  # 5 < 6: topped up with one (the whole sample was
    assert bootstrap_coverage(SPEC, five).to_train == 1  # trained: 6)
    one = trained_by_the_run(SPEC, five, tmp_path)
    assert len(one) == 1 and one[0] not in others[:5]


@pytest.mark.slow  # about 2 s each
@pytest.mark.parametrize("why, state", [("missing", "missing"), ("epochs", "no full trainings"), ("recipe", "another recipe")])
def test_an_archive_the_run_ignores_covers_nothing(tmp_path, why, state):
    path = tmp_path / "a.nc"
    if why == "epochs":  # the same recipe, 3 epochs instead of 8
        write_archive(path, SAMPLE, epochs=3)
    elif why == "recipe":  # another batch size: another recipe
        write_archive(path, SAMPLE, spec=parse_problem(PLAIN.replace("batch_size = 64", "batch_size = 32"), "other.toml"))
    cov = bootstrap_coverage(SPEC, path)
    assert (cov.archive_state, cov.archive_records, cov.from_archive, cov.to_train) == (state, 0, 0, 6)
    assert len(trained_by_the_run(SPEC, path, tmp_path)) == 6


def fake_memory_bytes(arch) -> float:
    """A made-up memory law for the fake measurements: grows with the feature maps, 1 MB at rest."""
    return 1e6 + 1000.0 * plan_memory.activation_maps(arch, SPEC.network_input)


@pytest.fixture
def fake_steps(monkeypatch):
    """Training steps not run: a step takes 1 µs per MMAC of work, memory by :func:`fake_memory_bytes`;
    the saved bytes that rank the shortlist follow the same law."""
    seen = []

    def measure(problem, arch, batch, device="cpu", n_steps=2, threads=None):
        seen.append(str(arch))
        return plan_module.work_per_sample(arch, problem.network_input) * 1e-12 * batch, fake_memory_bytes(arch), threads or 1

    monkeypatch.setattr(plan_module, "measure", measure)
    monkeypatch.setattr(plan_module, "_steps", lambda *a, **k: 0.0)
    for module in (plan_memory, plan_module):
        monkeypatch.setattr(module, "saved_bytes", lambda problem, arch: (fake_memory_bytes(arch), 0.0, 0.0))
    return seen


def plan_json(tmp_path, text, *args):
    problem = tmp_path / "p.toml"
    problem.write_text(text)
    out = CliRunner().invoke(app, ["plan", str(problem), "--json", *args])
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def test_plan_prices_the_ladder_without_the_archived_bootstrap(tmp_path, fake_steps):
    part = write_archive(tmp_path / "part.nc", SAMPLE[:4])
    plan = plan_json(tmp_path, PLAIN + LADDER, "--archive", str(part))
    assert plan["bootstrap_from_archive"] == 4 and plan["bootstrap"]["to_train"] == 2
    # by hand, 2 bootstrap trainings instead of 6: L0 = 1 ep x 0.25 / 8 = 1/32 FTE, L1 = 2 x 0.5 / 8 = 1/8;
    # bootstrap 2 at L0; rounds 2 x 4 at L0; rungs: 2 rounds x ceil(4/2) + ceil(2/2) (round 0) = 5 at L1;
    # promotions: 2 x min(2, 2) + min(2, 1) = 5 full
    phases = plan["phases"]
    assert [phases[k]["trainings"] for k in ("bootstrap", "rounds", "rungs L1 (2 ep, 0.5 data)", "promotions")] == [2, 8, 5, 5]
    assert plan["full_training_equivalents"] == pytest.approx(2 / 32 + 8 / 32 + 5 / 8 + 5)
    assert plan["full_training_equivalents_without_ladder"] == 2 + 8
    nothing = plan_json(tmp_path, PLAIN + LADDER, "--archive", "none")
    assert nothing["bootstrap_from_archive"] == 0 and nothing["full_training_equivalents_without_ladder"] == 6 + 8
    assert nothing["phases"]["promotions"]["trainings"] == 2 * 2 + 2  # round 0 promotes min(2, ceil(6/2))


def test_the_plan_table_says_its_promotions_are_at_most(tmp_path, fake_steps, monkeypatch):
    """The ladder's promotions (and so its total) are an upper bound: a promotion whose expected improvement is 0
    is skipped (digits-long from its archive made none in 4 rounds against 8 priced); the table said neither."""
    monkeypatch.setenv("COLUMNS", "200")
    (tmp_path / "p.toml").write_text(PLAIN + LADDER)
    out = CliRunner().invoke(app, ["plan", str(tmp_path / "p.toml"), "--archive", "none"])
    assert out.exit_code == 0, out.output
    assert "promotions (at most)" in out.stdout and "total (at most)" in out.stdout
    assert "one whose expected hypervolume improvement is 0 is not made" in out.stdout
    (tmp_path / "q.toml").write_text(PLAIN)  # no ladder: every training is priced as made
    plain = CliRunner().invoke(app, ["plan", str(tmp_path / "q.toml"), "--archive", "none"])
    assert plain.exit_code == 0 and "at most" not in plain.stdout


def test_plan_options_change_the_run_it_prices(tmp_path, fake_steps):
    plan = plan_json(tmp_path, PLAIN, "--archive", "none", "--bootstrap", "3", "--rounds", "5",
                     "--survivors", "2")
    assert plan["phases"]["bootstrap"]["trainings"] == 3 and plan["phases"]["rounds"]["trainings"] == 10
    assert plan["full_training_equivalents"] == 13


def test_peak_memory_is_the_worst_network_of_those_the_search_trains(tmp_path, fake_steps):
    plan = plan_json(tmp_path, PLAIN, "--archive", "none")
    archs, feasible = plan_module.trainable_pool(SPEC, 2000, 0)
    assert feasible and plan["memory_of"].startswith(f"the largest of {len(archs)} ")
    data_GB = 2 * 4 * (1167 + 630) * 1 * 8 * 8 / 1e9  # images as float32, twice; digits 1797 = 1167 + 360 + 270
    worst = max(archs, key=fake_memory_bytes)  # the worst of the whole pool, by the fake law
    assert fake_memory_bytes(Architecture.parse(plan["peak_memory_arch"])) == fake_memory_bytes(worst)  # ties: any of them
    assert plan["peak_memory_arch"] in fake_steps
    assert plan["peak_memory_GB"] == pytest.approx(fake_memory_bytes(worst) / 1e9 + data_GB)
    median = next(t for t in plan["timed"] if "median work" in t["role"])
    assert plan["typical_peak_memory_GB"] == pytest.approx(fake_memory_bytes(Architecture.parse(median["arch"])) / 1e9 + data_GB)
    assert plan["peak_memory_GB"] > plan["typical_peak_memory_GB"]


def test_a_timed_network_that_needs_more_than_the_largest_sets_the_peak(tmp_path, monkeypatch, fake_steps):
    huge = {}

    def measure(problem, arch, batch, device="cpu", n_steps=2, threads=None):
        if not huge:  # the first network timed (the least work) needs 50 GB
            huge[str(arch)] = 50e9
        return 1e-3, huge.get(str(arch), 1e6), 1

    monkeypatch.setattr(plan_module, "measure", measure)
    plan = plan_json(tmp_path, PLAIN, "--archive", "none")
    (arch,) = huge
    assert plan["peak_memory_arch"] == arch and plan["peak_memory_GB"] == pytest.approx(50 + 2 * 4 * 1797 * 64 / 1e9)


def test_activation_maps_by_hand():
    # forward 0->3 conv3x3 only (nodes 0 and 3); C = 8, T = 2, on 8x8 digits (1 channel, cell side 8)
    arch = Architecture.parse("0003-0000-0000-0000_c8_t2_w4_p2_h0")
    stem = 1 * 64 + 2 * 8 * 64
    reduction = 3 * 8 * 64 + 4 * 8 * 64
    final = 6 * 8 * 16
    cells = (4 + 2) * 8 * 64 + (4 + 2) * 16 * 16
    assert plan_memory.activation_maps(arch, SPEC.network_input) == 2 * (stem + reduction + final + cells)


def test_saved_bytes_on_the_meta_device_equal_those_of_real_forward_passes():
    """The meta-device counts against a second count: the same hooks on real CPU forward passes at
    batches 1, 2 and 5 (what a sample adds is the same for each one more; the rest does not grow)."""
    import torch

    from moo_snn.training.network import SpikingNetwork

    for text in ("0003-0000-0000-0000_c8_t2_w4_p2_h0", "0302-0030-2002-0200_c4_t3_w8_p1_h16"):  # one with backward edges
        arch = Architecture.parse(text)
        per_sample, fixed, params = plan_memory.saved_bytes(SPEC, arch)
        torch.manual_seed(0)
        model = SpikingNetwork(arch.pruned(), SPEC.network_input, SPEC.training)
        counted = {}
        for batch in (1, 2, 5):
            sizes = []
            with torch.autograd.graph.saved_tensors_hooks(lambda t: sizes.append(t.numel() * t.element_size()) or t,
                                                          lambda t: t):
                model(torch.rand(batch, 1, 8, 8))
            counted[batch] = sum(sizes)
        assert per_sample == counted[2] - counted[1] > 0 and fixed == counted[1] - per_sample > 0
        assert counted[5] == 5 * per_sample + fixed  # linear in the batch
        assert params == 4 * sum(p.numel() for p in model.parameters())  # float32
        assert plan_memory.step_bytes(SPEC, arch) == 64 * per_sample + fixed + 4 * params


@pytest.mark.slow  # counts the saved bytes of every network of the digits pool (1-4 min)
def test_the_shortlist_finds_the_largest_network_of_the_digits_pool():
    archs, _ = plan_module.trainable_pool(SPEC, 2000, 0)
    step = [plan_memory.step_bytes(SPEC, a) for a in archs]
    best, best_bytes = plan_memory.largest_network(SPEC, archs)
    assert best_bytes == max(step) and step[best] == max(step)


def test_the_bootstrap_line_says_what_the_archive_covers_and_why():
    from moo_snn.cli.plan_cmd import bootstrap_text

    base = dict(archive="a.nc", archive_records=0, bootstrap=16, from_archive=0, to_train=16)
    assert bootstrap_text(dict(base, archive_state="missing")) == "bootstrap: 16 of 16 networks trained (no archive at a.nc to start from)"
    assert "a.nc is not used: it was measured with other data" in bootstrap_text(dict(base, archive_state="another recipe"))
    assert "holds no training of the problem's epochs" in bootstrap_text(dict(base, archive_state="no full trainings"))
    assert bootstrap_text(dict(base, archive_state="matches", archive_records=200, from_archive=16, to_train=0)) == (
        "bootstrap: none trained, a.nc holds 200 networks trained with this recipe (the run needs 16)")
    assert bootstrap_text(dict(base, archive_state="matches", archive_records=10, from_archive=10, to_train=6)) == (
        "bootstrap: 6 of 16 networks trained, 10 taken from a.nc")


def test_plan_warns_when_the_ladder_costs_more_than_full_trainings(tmp_path, fake_steps):
    """A user's ladder whose levels are dear or whose promotions outnumber a round's survivors: plan priced it
    (25.6 against 24 FTE, found trying the tool) without a word."""
    problem = tmp_path / "p.toml"
    dear = PLAIN + LADDER.replace("epochs = [1, 2]\ntrain_fraction = [0.25, 0.5]", "epochs = [6, 7]\ntrain_fraction = [1, 1]")
    for text, warned in ((dear, True), (PLAIN + LADDER, False), (PLAIN, False)):
        problem.write_text(text)
        out = CliRunner().invoke(app, ["plan", str(problem), "--archive", "none"])
        assert out.exit_code == 0, out.output
        assert ("warning: this ladder costs more than training every network fully" in out.stderr) == warned, out.stderr
        assert out.stderr.count("warning: this ladder costs more") <= 1  # said once
        as_json = CliRunner().invoke(app, ["plan", str(problem), "--archive", "none", "--json"])  # said there too (it was not)
        assert as_json.exit_code == 0, as_json.output
        assert ("warning: this ladder costs more than" in as_json.stderr) == warned
        assert [w.startswith("this ladder costs more than") for w in json.loads(as_json.stdout)["warnings"]] == ([True] if warned else [])


def test_plan_refuses_a_ladder_optimize_refuses(tmp_path, fake_steps):
    """``train_fraction = [0.001]`` keeps 2 of digits' 1167 training samples for 10 classes: optimize refuses it
    before anything is written, plan priced it (exit 0)."""
    problem = tmp_path / "p.toml"
    problem.write_text(PLAIN + "\n[fidelity]\nepochs = [1]\ntrain_fraction = [0.001]\n")
    out = CliRunner().invoke(app, ["plan", str(problem), "--archive", "none", "--json"])
    assert out.exit_code == 2 and out.stdout == ""
    assert "train_fraction[0] = 0.001 keeps 2 of the 1167 training samples, fewer than the 10 classes" in " ".join(out.stderr.split())


def test_timing_a_network_returns_after_torch_ran_parallel_work_in_this_process():
    """``moo-snn plan`` hung for good unless OMP_NUM_THREADS=1: each timing forked this process after torch's
    OpenMP pool had started here (a warm-up step), and the child's first parallel step waited on threads
    that do not exist after a fork. Timings now run in children of a fork server. Here the parent starts
    its pool with a 2-thread matrix product, then times a network with 2 threads (default environment)."""
    import os
    import subprocess
    import sys

    code = ("import torch; torch.set_num_threads(2); torch.randn(600, 600) @ torch.randn(600, 600)\n"
            "from moo_snn.config.problem import load_problem\n"
            "from moo_snn.training.plan import measure\n"
            "p = load_problem('digits'); s, m, t = measure(p, p.reference_arch, 8, n_steps=1); print(s > 0 and m >= 0 and t >= 1)")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=90, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("timing a network after parallel torch work in the parent did not return in 90 s (the fork hang)")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "True"


# 10 s each on 2 cores: the default (no --torch-threads) case stays in the default suite
@pytest.mark.parametrize("given", [None, pytest.param(1, marks=pytest.mark.slow)])
def test_plan_times_each_network_with_the_threads_its_training_would_use(given):
    """The timings ran in children of the fork server, which never saw the parent's thread count: `plan
    --torch-threads 1` timed with torch's default (2 here), and without it the plan timed with the default
    while trainings use the thread policy (1 for small networks: digits' tiny networks ran 2x slower per
    sample at 2 threads). Reference: the count each child reports, against the trainer's own choice."""
    from moo_snn.search.fidelity import phase_plan
    from moo_snn.training.runtime import choose_threads
    from moo_snn.training.trainer import macs_per_step

    problem = load_problem("digits")
    plan = plan_module.plan_run(problem, phase_plan(problem), "cpu", pool_size=200, torch_threads=given)
    for t in plan.timed:
        arch = Architecture.parse(t["arch"])
        own = choose_threads(macs_per_step(arch.pruned(), problem.network_input, problem.training.batch_size)).threads
        assert t["torch_threads"] == (given or own) == 1  # digits' networks are small: the policy gives 1
