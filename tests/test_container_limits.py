"""A runner's container limits: its CPU quota (`docker run --cpus`, a Kubernetes CPU limit), read from
cgroup v1 and v2, the libraries' default thread counts held to it and said at the session's start; its
memory limit, said when the out-of-memory killer ends a build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from encoder_gate import environment
from encoder_gate.backends import onnx_session, torch_backend
from encoder_gate.config import GateConfig, quota_note
from encoder_gate.environment import (
    CpuQuota,
    cpu_quota,
    killed_for_memory,
    memory_limit,
    oom_kills,
    quota_threads,
)
from encoder_gate.speed import machine
from test_plugin_gate import CHECKS, gate_options, gate_project

HOST_CORES = set(range(16))


@pytest.fixture
def cgroups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fake cgroup file system and /proc/self/cgroup, on a host of 16 cores: write(own, files) sets
    the process's cgroup line(s) and the files below the root; read() is cpu_quota over them."""
    root, proc = tmp_path / "cgroup", tmp_path / "proc-self-cgroup"
    monkeypatch.setattr(environment, "PROC_CGROUP", proc)
    monkeypatch.setattr(environment, "CGROUP_ROOT", root)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: HOST_CORES)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cpu_quota.cache_clear()

    class Fake:
        def write(self, own: str, files: dict[str, str]) -> None:
            proc.write_text(own)
            for rel, text in files.items():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_text(text + "\n")

        def read(self) -> CpuQuota | None:
            cpu_quota.cache_clear()
            return cpu_quota()

    yield Fake()
    cpu_quota.cache_clear()


def test_a_kubernetes_limit_on_cgroup_v2_is_read_at_the_tightest_of_the_process_and_its_parents(cgroups):
    """The container's cpu.max under an unlimited pod: 2 cores' time of the 16 seen; a parent's tighter
    limit wins over the process's own."""
    own = "0::/kubepods/pod1/ctr\n"
    cgroups.write(own, {"kubepods/pod1/ctr/cpu.max": "200000 100000", "kubepods/pod1/cpu.max": "max 100000",
                        "cpu.max": "max 100000"})
    quota = cgroups.read()
    assert quota is not None and (quota.cores, quota.seen, quota.threads) == (2.0, 16, 2)
    assert quota.source.endswith("kubepods/pod1/ctr/cpu.max: 200000 100000")
    cgroups.write(own, {"kubepods/pod1/cpu.max": "150000 100000"})  # the pod's: 1.5 cores' time
    quota = cgroups.read()
    assert quota is not None and quota.cores == 1.5 and quota.threads == 1  # whole cores, at least one
    assert "this runner's CPU quota allows 1.5 cores' time of the 16 this process sees" in quota.said()


def test_a_containers_own_root_is_read_where_its_path_is_the_hosts(cgroups):
    """Inside a container the cgroup path names the host's hierarchy ("/docker/abc") while the mount
    is the container's own: its root's files are read (v2's cpu.max; v1's cpu controller, alone or
    mounted with cpuacct)."""
    cgroups.write("0::/docker/abc\n", {"cpu.max": "400000 100000"})
    quota = cgroups.read()
    assert quota is not None and (quota.cores, quota.threads) == (4.0, 4)
    assert quota.source.endswith("cgroup/cpu.max: 400000 100000")
    cgroups.write("4:cpu,cpuacct:/docker/abc\n", {"cpu,cpuacct/cpu.cfs_quota_us": "300000",
                                                   "cpu,cpuacct/cpu.cfs_period_us": "100000"})
    quota = cgroups.read()
    assert quota is not None and quota.threads == 3 and "cpu.cfs_quota_us: 300000 of 100000" in quota.source


@pytest.mark.parametrize("own, files", [
    ("0::/\n", {"cpu.max": "max 100000"}),  # no limit
    ("0::/\n", {"cpu.max": "1600000 100000"}),  # as many cores as it sees: nothing to hold
    ("0::/\n", {"cpu.max": "3200000 100000"}),  # more
    ("2:cpu:/\n", {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}),  # v1's no limit
    ("0::/\n", {"cpu.max": "a lot"}),  # unreadable
    ("0::/\n", {}),  # no file
    ("", {}),  # no cgroup line (not in a cgroup file system)
])
def test_no_quota_is_read_where_none_binds(cgroups, own: str, files: dict[str, str]):
    cgroups.write(own, files)
    assert cgroups.read() is None


def test_a_memory_limit_and_the_out_of_memory_killers_count_are_read_on_v2_and_v1(cgroups):
    """The tightest limit of the process's cgroup and those above it; the killer's count summed over
    them; a SIGKILL after the count rose is memory, said with the limit, and one after no rise is not."""
    events = "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0"  # v2's memory.events
    cgroups.write("0::/kubepods/pod1/ctr\n", {"kubepods/pod1/ctr/memory.max": "max",
                                               "kubepods/pod1/memory.max": str(4 * 2**30),
                                               "kubepods/pod1/ctr/memory.events": events})
    limit = memory_limit()
    assert limit is not None and limit[0] == 4 * 2**30 and limit[1].endswith("kubepods/pod1/memory.max")
    before = oom_kills()
    assert before == 1
    assert killed_for_memory(before) is None  # no rise: not the killer's (another hand, a signal)
    (cgroups_root := Path(limit[1]).parents[1]).joinpath("pod1/ctr/memory.events").write_text("oom_kill 2\n")
    said = killed_for_memory(before)
    assert said == ("the kernel's out-of-memory killer ended it under this runner's memory limit of 4.0 GiB "
                    f"({cgroups_root / 'pod1' / 'memory.max'})")
    cgroups.write("9:memory:/docker/abc\n", {"memory/memory.limit_in_bytes": "9223372036854771712",
                                              "memory/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\n"
                                                                           "oom_kill 3"})
    assert memory_limit() is None and oom_kills() == 3  # v1: no limit (its largest count), a count
    cgroups.write("0::/\n", {})
    assert memory_limit() is None and oom_kills() is None and killed_for_memory(None) is None


def test_the_libraries_defaults_are_held_to_a_binding_quota_unless_omp_num_threads_says_a_count(
        monkeypatch: pytest.MonkeyPatch):
    """torch's and ONNX Runtime's thread counts for 0 (every --gate-threads and --gate-eval-threads
    left unset) are the quota's whole cores; an explicit count is kept, and OMP_NUM_THREADS, which torch
    reads itself, wins."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    held = CpuQuota(1.0, 16, "a test's")
    monkeypatch.setattr(environment, "cpu_quota", lambda: held)
    monkeypatch.setattr(machine, "cpu_quota", lambda: held)
    monkeypatch.setattr(torch_backend, "_LIBRARY_DEFAULT_THREADS", [])
    assert quota_threads() == 1
    assert torch_backend.default_threads() == 1
    assert onnx_session.session_options(0).intra_op_num_threads == 1
    assert onnx_session.session_options(3).intra_op_num_threads == 3
    assert machine.usable_cores() == 1  # what a speed document's fingerprint says, and oversubscribed reads
    crowded = machine.oversubscribed({"threads": 2, "usable_cores": machine.usable_cores()})
    assert crowded is not None and "at most 1" in crowded
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert quota_threads() == 0 and onnx_session.session_options(0).intra_op_num_threads == 2


def test_what_a_quota_does_to_a_sessions_thread_counts_is_said_in_one_line(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    quota = CpuQuota(2.0, 16, "/sys/fs/cgroup/cpu.max: 200000 100000")
    said = quota_note(GateConfig(), quota)
    assert said is not None and said.startswith("this runner's CPU quota allows 2 cores' time of the 16")
    assert "threads and eval-threads at the library default run at 2 threads" in said
    said = quota_note(GateConfig(threads=1, eval_threads=8), quota)
    assert said is not None and "eval-threads 8 is more" in said and "at most 2 (--gate-eval-threads)" in said
    assert quota_note(GateConfig(threads=1, eval_threads=2), quota) is None  # counts it allows: nothing said
    monkeypatch.setenv("OMP_NUM_THREADS", "4")  # it sets the libraries' count, not the quota: nothing held
    assert quota_note(GateConfig(), quota) is None


def test_a_gate_session_under_a_quota_says_it_before_its_tests(pytester: pytest.Pytester,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                cache_dir: Path):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # (xdist workers get their share: not held then)
    gate_dir = gate_project(pytester, monkeypatch)
    gate_dir.makepyfile(test_checks=CHECKS)
    from encoder_gate.plugin import core

    monkeypatch.setattr(core, "cpu_quota", lambda: CpuQuota(2.0, 16, "/sys/fs/cgroup/cpu.max: 200000 100000"))
    result = gate_dir.runpytest("--collect-only", "-q", *gate_options(cache_dir, gate_dir.path / "report"))
    result.stdout.fnmatch_lines(["encoder-gate: this runner's CPU quota allows 2 cores' time of the 16 this "
                                 "process sees (/sys/fs/cgroup/cpu.max: 200000 100000): eval-threads at the "
                                 "library default run at 2 threads, not one a core it sees"])


# A process in a real cgroup with a quota of half a core: what it reads and the counts it runs at.
IN_A_CGROUP = """
import json
from encoder_gate.environment import cpu_quota
from encoder_gate.backends.torch_backend import default_threads
from encoder_gate.backends.onnx_session import session_options
quota = cpu_quota()
print(json.dumps({"quota": None if quota is None else [quota.cores, quota.source],
                  "torch": default_threads(), "ort": session_options(0).intra_op_num_threads}))
"""


def _writable_cpu_cgroup() -> Path | None:
    """A cgroup directory of the cpu controller this user may make children in (v1, then v2), or None."""
    v1, v2 = Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup")
    if (v1 / "cpu.cfs_quota_us").exists() and os.access(v1, os.W_OK):
        return v1
    controls = v2 / "cgroup.subtree_control"
    if controls.exists() and "cpu" in controls.read_text().split() and os.access(v2, os.W_OK):
        return v2
    return None


@pytest.mark.skipif(sys.platform != "linux" or _writable_cpu_cgroup() is None
                    or len(os.sched_getaffinity(0)) < 2,
                    reason="needs a cgroup file system whose cpu controller this user may write (root on a "
                    "Linux machine or VM, not most containers) and at least 2 cores")
def test_a_process_in_a_real_cgroup_with_a_quota_reads_it_and_runs_its_defaults_at_it():
    parent = _writable_cpu_cgroup()
    assert parent is not None
    settings = ({"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "50000"}  # half a CPU: v1's, v2's
                if (parent / "cpu.cfs_quota_us").exists() else {"cpu.max": "50000 100000"})
    group, read = in_a_new_cgroup(parent, settings, IN_A_CGROUP)
    assert read["quota"][0] == 0.5 and str(group) in read["quota"][1]
    assert (read["torch"], read["ort"]) == (1, 1)


def in_a_new_cgroup(parent: Path, settings: dict[str, str], code: str) -> tuple[Path, dict]:
    """Python `code` run in a new cgroup below `parent` whose files are written `settings` (in order),
    OMP_NUM_THREADS unset: the cgroup, and the JSON of its last line. The cgroup is removed after."""
    group = parent / f"encoder-gate-test-{uuid.uuid4().hex[:8]}"
    group.mkdir()
    try:
        for name, value in settings.items():
            (group / name).write_text(value)
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        done = subprocess.run(["sh", "-c", f'echo $$ > {group}/cgroup.procs && exec "$0" -c "$1"',
                               sys.executable, code], capture_output=True, text=True, env=env,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return group, json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        group.rmdir()


# A process in a memory cgroup of 200 MB: a child of it takes 1 GB and is ended by the kernel's
# out-of-memory killer; what its parent then reads.
OOM_IN_A_CGROUP = """
import json, subprocess, sys
from encoder_gate.environment import killed_for_memory, memory_limit, oom_kills
before = oom_kills()
child = subprocess.run([sys.executable, "-c", "taken = b'x' * 10**9"], check=False)
said = killed_for_memory(before)
print(json.dumps({"returncode": child.returncode, "limit": memory_limit(), "said": said}))
"""


def _memory_cgroup_of_ours() -> Path | None:
    """This process's own v1 memory cgroup, where this user may make a child of it; None elsewhere."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            own = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            return own if (own / "memory.limit_in_bytes").exists() and os.access(own, os.W_OK) else None
    return None


@pytest.mark.skipif(sys.platform != "linux" or _memory_cgroup_of_ours() is None,
                    reason="needs a cgroup v1 memory controller this user may make cgroups in (root on a "
                    "Linux machine or VM with cgroup v1, not most containers)")
def test_a_process_the_out_of_memory_killer_ended_in_a_real_cgroup_is_said_with_its_limit():
    own = _memory_cgroup_of_ours()
    assert own is not None
    limit = str(200 * 2**20)
    settings = {"memory.limit_in_bytes": limit}
    if (own / "memory.memsw.limit_in_bytes").exists():  # with swap: the same limit for memory and swap
        settings["memory.memsw.limit_in_bytes"] = limit
    group, read = in_a_new_cgroup(own, settings, OOM_IN_A_CGROUP)
    where = group / "memory.limit_in_bytes"
    assert read["returncode"] == -9 and read["limit"] == [200 * 2**20, str(where)]
    assert read["said"] == ("the kernel's out-of-memory killer ended it under this runner's memory limit "
                            f"of 200 MiB ({where})")


def test_a_session_that_never_ended_after_the_out_of_memory_killer_rose_is_said_so_in_the_verdict(cgroups):
    """A session the kernel killed (its step in CI: "Killed", exit 137, no line of the gate's) leaves its
    running marker, with the killer's count when it began: the verdict read after it (`encoder-gate
    verdict`, the workflow's next step) says the killer has ended a process since, under the limit, and
    that a rerun ends the same; with no rise, or for a marker of another host, "run it again" as before."""
    import socket

    from encoder_gate.decision import decide_documents
    from test_findings import ACCURACY, PROVENANCE

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()  # a process of this host that has ended
    cgroups.write("0::/ci-job\n", {"ci-job/memory.max": str(4 * 2**30), "ci-job/memory.events": "oom_kill 0"})
    marker = {"command": "pytest accuracy", "started": "2026-11-29T10:00:00+0000", "pid": int(gone),
              "host": socket.gethostname(), "oom_kills": oom_kills()}

    def reason(run: dict) -> str:
        findings = {"provenance": PROVENANCE, "by_document": {}, "unwritten": [], "running": {gone: run}}
        verdict = decide_documents(ACCURACY, None, None, PROVENANCE, findings)
        assert not verdict.passed
        return verdict.findings[0].reason

    assert reason(marker).endswith("this verdict does not cover it; run it again")
    cgroups.write("0::/ci-job\n", {"ci-job/memory.events": "oom 1\noom_kill 1"})
    said = reason(marker)
    limit = environment.CGROUP_ROOT / "ci-job" / "memory.max"
    assert said.endswith("the kernel's out-of-memory killer has ended a process of this runner since it "
                         f"began under this runner's memory limit of 4.0 GiB ({limit}), most likely it, so a "
                         "rerun ends the same: give the runner more memory"), said
    assert reason({**marker, "host": "ci-runner-7"}).endswith("run it again")  # another host's count
    uncounted = {k: v for k, v in marker.items() if k != "oom_kills"}  # a marker that kept no count
    assert reason(uncounted).endswith("run it again")
