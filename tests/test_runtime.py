"""The thread policy and OpenMP environment of trainings (moo_snn.training.runtime)."""

import os
import subprocess
import sys

import pytest
import torch

from moo_snn.training import runtime
from moo_snn.training.runtime import ThreadChoice, choose_threads, prepare_environment


def test_a_requested_count_is_used_as_given():
    assert choose_threads(1e12, requested=3, busy_cores=100.0) == ThreadChoice(3, "requested")


def test_small_networks_train_on_one_thread_whatever_is_free(monkeypatch):
    monkeypatch.setattr(runtime, "available_cores", lambda: 16)
    assert choose_threads(runtime.PARALLEL_MIN_MACS / 2, busy_cores=0.0).threads == 1


@pytest.mark.parametrize("busy, per_node, expected", [
    (0.0, 1, 8),    # an idle machine: every core
    (0.0, 2, 4),    # two trainings on the node share it
    (0.0, 3, 2),    # 8 // 3
    (5.0, 1, 3),    # five cores busy elsewhere: the three free ones
    (4.8, 1, 3),    # a core that is mostly idle counts as free
    (4.5, 1, 3),
    (4.6, 2, 3),    # free cores bound the share only where fewer
    (8.0, 1, 1),    # nothing free: still one thread
    (20.0, 4, 1),
])
def test_large_networks_use_the_free_cores_of_their_share(monkeypatch, busy, per_node, expected):
    monkeypatch.setattr(runtime, "available_cores", lambda: 8)
    choice = choose_threads(runtime.PARALLEL_MIN_MACS * 10, busy_cores=busy, trainings_per_node=per_node)
    assert choice.threads == expected, choice.reason


def test_busy_cores_of_others_subtracts_this_process(monkeypatch):
    """2 CPUs, 200 jiffies elapsed, 150 of them busy: 1.5 cores busy; this process used 0.5 of them."""
    snapshots = iter([(1000.0, 4000.0), (1150.0, 4200.0)])
    clock = iter([10.0, 10.5])  # process CPU seconds
    wall = iter([100.0, 101.0])
    monkeypatch.setattr(runtime, "_cpu_times", lambda cpus: next(snapshots))
    monkeypatch.setattr(runtime.os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(runtime.time, "process_time", lambda: next(clock))
    monkeypatch.setattr(runtime.time, "perf_counter", lambda: next(wall))
    monkeypatch.setattr(runtime.time, "sleep", lambda s: None)
    assert runtime.busy_cores_of_others() == pytest.approx(1.0)


def test_cpu_times_reads_the_allowed_cpus_of_proc_stat(tmp_path, monkeypatch):
    stat = ("cpu  100 0 100 700 100 0 0 0 0 0\n"
            "cpu0 10 0 10 70 10 0 0 0 0 0\n"
            "cpu1 40 5 5 40 0 0 10 0 0 0\n"
            "intr 1 2 3\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(tmp_path / "stat", *a, **k) if path == "/proc/stat"
                        else real_open(path, *a, **k))
    (tmp_path / "stat").write_text(stat)
    # cpu1 only: busy = user 40 + nice 5 + system 5 + irq 0 + softirq 10 = 60 of 100
    assert runtime._cpu_times({1}) == (60.0, 100.0)
    assert runtime._cpu_times(None) == (80.0, 200.0)


def test_the_real_measurement_stays_within_the_machine():
    busy = runtime.busy_cores_of_others(0.02)
    assert 0.0 <= busy <= os.cpu_count() + 1.0


def test_environment_is_set_where_unset_and_the_users_value_kept():
    env = {}
    assert prepare_environment(env) == {"OMP_WAIT_POLICY": "PASSIVE"} and env["OMP_WAIT_POLICY"] == "PASSIVE"
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert prepare_environment(env) == {} and env["OMP_WAIT_POLICY"] == "ACTIVE"


@pytest.mark.parametrize("given, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_importing_the_trainer_sets_the_environment_before_torch(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    code = "import sys, os; import moo_snn.training.trainer; print(os.environ['OMP_WAIT_POLICY'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout.split()
    assert out == [expected]


def test_torch_threads_block_restores_the_count():
    before = torch.get_num_threads()
    with runtime.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
