"""The `labkit` kernel: forked from a warm parent, indistinguishable from a fresh `python3`
kernel in what a notebook can see, much faster to start, and started the usual way
wherever forking is refused or broken."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import start_new_kernel

from labkit import kernel
from labkit.zygote import PRELOAD

import notebook_runs
from servers import alive

pytestmark = pytest.mark.slow  # kernels and warm parents
PIPELINE = Path(__file__).parent.parent / "notebooks" / "03_training_pipeline.ipynb"
# What a notebook's first cell costs in a fresh process: the imports and the first optimizer.
FIRST_CELL = """\
import torch, sklearn.metrics, matplotlib.pyplot
torch.optim.Adam([torch.zeros(1, requires_grad=True)])
print(torch.get_num_threads())"""
PROBE = """\
import json, os, random, sys, numpy, torch, threadpoolctl, matplotlib
blas = [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
print(json.dumps({"random": random.random(), "numpy": numpy.random.rand(),
    "torch": torch.rand(1).item(), "cwd": os.getcwd(), "value": os.environ.get("LABKIT_VALUE"),
    "threads": torch.get_num_threads(), "blas": blas, "backend": matplotlib.get_backend(),
    "labkit": any(m == "labkit" or m.startswith("labkit.") for m in sys.modules),
    "parent": os.getppid(), "pid": os.getpid()}))"""


# What a notebook could notice about its own process, beyond its random numbers.
FINGERPRINT = """\
import json, os, sys, comm, ipywidgets, matplotlib, pandas, torch
from tqdm.auto import tqdm
print(json.dumps({"tqdm": tqdm.__module__, "backend": matplotlib.get_backend(),
    "path": sys.path, "argv0": sys.argv[0], "threads": torch.get_num_threads(),
    "comm_targets": sorted(comm.get_comm_manager().targets), "env": sorted(os.environ),
    "main": repr(sys.modules["__main__"]), "flags": str(sys.flags), "cwd": os.getcwd(),
    "meta_path": len(sys.meta_path), "stdout": type(sys.stdout).__name__,
    "pandas_columns": pandas.get_option("display.max_columns")}))"""


def _reply_to(client, msg_id: str, timeout: float) -> dict:
    """The content of the shell reply to `msg_id`, skipping replies to earlier requests
    (`wait_for_ready` may leave a second kernel_info reply queued)."""
    while True:
        message = client.get_shell_msg(timeout=timeout)
        if message["parent_header"].get("msg_id") == msg_id:
            return message["content"]


def _execute(client, code: str, timeout: float = 120) -> tuple[str, dict]:
    """Run `code`; return what it printed and the execute reply's content."""
    printed: list[str] = []

    def hook(message):
        if message["msg_type"] == "stream":
            printed.append(message["content"]["text"])

    reply = client.execute_interactive(code, timeout=timeout, output_hook=hook)
    return "".join(printed), reply["content"]


def _probe(name: str, code: str = PROBE, **kwargs) -> dict:
    manager, client = start_new_kernel(kernel_name=name, startup_timeout=300, **kwargs)
    try:
        return json.loads(_execute(client, code)[0])
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _started_and_ready(name: str) -> tuple[float, str]:
    """Seconds from launch to a finished first cell, and what the cell printed."""
    start = time.perf_counter()
    manager, client = start_new_kernel(kernel_name=name, startup_timeout=300)
    try:
        printed, reply = _execute(client, FIRST_CELL)
        assert reply["status"] == "ok", reply
        return time.perf_counter() - start, printed
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_the_kernelspec_comes_with_the_package_and_names_the_provisioner():
    spec = KernelSpecManager().get_kernel_spec(kernel.NAME)
    assert spec.argv[:3] == ["python", "-m", "ipykernel_launcher"] and spec.language == "python"
    assert spec.metadata["kernel_provisioner"]["provisioner_name"] == "labkit-fork"
    from importlib.metadata import entry_points

    (found,) = entry_points(group="jupyter_client.kernel_provisioners", name="labkit-fork")
    assert found.load() is kernel.ForkProvisioner


def test_a_forked_kernel_is_ready_well_before_a_cold_one():
    kernel.zygote().info()  # warm: its one-off start-up is not what is compared
    cold, forked = [], []
    for _ in range(2):  # interleaved, so a busy moment hits both alike
        seconds, threads_cold = _started_and_ready("python3")
        cold.append(seconds)
        seconds, threads_forked = _started_and_ready(kernel.NAME)
        forked.append(seconds)
    ratio = statistics.median(forked) / statistics.median(cold)
    print(f"ready after a first cell: cold {cold}, forked {forked}, ratio {ratio:.2f}")
    assert ratio < 0.5, (cold, forked)
    assert threads_forked == threads_cold  # the same thread pool as a fresh process


def test_a_forked_kernel_looks_like_a_fresh_one(tmp_path):
    # ipywidgets registers its comm target only when imported in a running IPython, so the
    # warm parent must not import it (LABKIT_KERNEL_PRELOAD=ipywidgets breaks this).
    cold = _probe("python3", FINGERPRINT, cwd=str(tmp_path))
    forked = _probe(kernel.NAME, FINGERPRINT, cwd=str(tmp_path))
    assert forked == cold
    assert "jupyter.widget" in forked["comm_targets"]


def test_forked_kernels_are_reseeded_and_take_their_own_cwd_env_and_threads(tmp_path):
    env = {**os.environ, "LABKIT_VALUE": "mine", "OMP_NUM_THREADS": "1"}
    env.pop("MPLBACKEND", None)
    a = _probe(kernel.NAME, cwd=str(tmp_path), env=env)
    b = _probe(kernel.NAME, cwd=str(tmp_path), env=env)
    parent = kernel.zygote()
    assert a["parent"] == b["parent"] == parent.pid and a["pid"] != b["pid"]  # really forked
    for generator in ("random", "numpy", "torch"):  # reseeded from the OS, as at start-up
        assert a[generator] != b[generator], generator
    assert a["cwd"] == str(tmp_path) and a["value"] == "mine"
    assert a["threads"] == 1 and a["blas"] and set(a["blas"]) == {1}
    assert a["backend"] == "module://matplotlib_inline.backend_inline"
    assert a["labkit"] is False, "labkit is imported fresh in every kernel"


def test_interrupt_restart_and_kill_work_and_the_warm_parent_keeps_serving():
    manager, client = start_new_kernel(kernel_name=kernel.NAME, startup_timeout=300)
    try:
        pid = manager.provisioner.pid
        msg_id = client.execute("import time; time.sleep(120)")
        while not (
            (message := client.get_iopub_msg(timeout=30))["msg_type"] == "execute_input"
            and message["parent_header"].get("msg_id") == msg_id
        ):
            pass  # interrupt only once the cell runs
        time.sleep(1)
        start = time.monotonic()
        manager.interrupt_kernel()
        reply = _reply_to(client, msg_id, timeout=30)
        assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"
        assert time.monotonic() - start < 30

        manager.restart_kernel(now=True)
        assert manager.provisioner.pid != pid
        client.wait_for_ready(timeout=60)
        assert _execute(client, "print(6 * 7)")[0].strip() == "42"

        os.kill(manager.provisioner.pid, signal.SIGKILL)  # as the out-of-memory killer does
        deadline = time.monotonic() + 30
        while manager.is_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not manager.is_alive()
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert _probe(kernel.NAME)["parent"] == kernel.zygote().pid  # still forking


def test_papermill_with_the_labkit_kernel_writes_the_same_metrics_as_a_cold_kernel(tmp_path):
    found = {}
    for name in ("python3", kernel.NAME):
        out = tmp_path / name
        (tmp_path / name).mkdir()
        notebook_runs.run(PIPELINE, out, model="mlp", epochs=2, demos=False, out_dir=str(out),
                          kernel=name)  # fmt: skip
        metrics = notebook_runs.metrics(out)
        found[name] = {k: v for k, v in metrics.items() if "seconds" not in k}  # not timings
    assert found["python3"] == found[kernel.NAME]


def test_the_warm_parent_imports_no_labkit_and_starts_no_thread_pool():
    info = kernel.zygote().info()
    assert not [m for m in info["modules"] if m == "labkit" or m.startswith("labkit.")]
    assert info["cuda_initialized"] is False
    assert {"torch", "torch._dynamo", "sklearn.metrics"} <= set(info["modules"])
    # No more threads than a fresh process with the same imports (OpenBLAS's pool, which
    # stops for each fork, may be gone), while one torch operation on two threads would
    # start OpenMP's pool, which a fork must not inherit.
    fresh = textwrap.dedent(f"""
        import importlib, os
        for name in {PRELOAD!r}:
            importlib.import_module(name)
        import torch
        before = len(os.listdir("/proc/self/task"))
        torch.set_num_threads(2)
        torch.ones(512, 512) @ torch.ones(512, 512)
        print(before, len(os.listdir("/proc/self/task")))""")
    env = {k: v for k, v in os.environ.items() if k not in kernel.THREAD_VARIABLES}
    before, after = map(
        int, subprocess.check_output([sys.executable, "-c", fresh], env=env).split()
    )
    assert info["threads"] <= before < after


LAUNCH = """\
import os, signal, sys
from jupyter_client.manager import start_new_kernel
from labkit import kernel
if sys.argv[1] == "dead":
    parent = kernel.zygote()
    parent.info()
    os.kill(parent.process.pid, signal.SIGKILL)
    parent.process.wait()
manager, client = start_new_kernel(kernel_name="labkit", startup_timeout=300)
def hook(message):
    if message["msg_type"] == "stream":
        print("parent", message["content"]["text"].strip(), "launcher", os.getpid(), flush=True)
client.execute_interactive("import os; print(os.getppid())", timeout=120, output_hook=hook)
if sys.argv[1] == "exit":
    print("pids", kernel.zygote().process.pid, manager.provisioner.pid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no clean-up at all
client.stop_channels()
manager.shutdown_kernel(now=True)
"""


def _launch(tmp_path: Path, mode: str, **env: str) -> tuple[str, str]:
    """A fresh process that starts one `labkit` kernel; what it printed and logged."""
    environ = {k: v for k, v in os.environ.items() if k != kernel.SHARED}  # its own parent
    environ.update(env)
    done = subprocess.run([sys.executable, "-c", LAUNCH, mode], capture_output=True, text=True,
                          env=environ, cwd=tmp_path, timeout=600)  # fmt: skip
    return done.stdout, done.stderr


def _started_cold(printed: str) -> bool:
    """Whether the kernel's parent was the launcher itself (not a warm parent)."""
    parent, _, launcher = printed.split("parent ")[1].split()[:3]
    return parent == launcher


@pytest.mark.parametrize(
    ("mode", "env", "reason"),
    [
        ("plain", {"LABKIT_KERNEL_FORK": "0"}, "LABKIT_KERNEL_FORK=0"),
        ("dead", {}, "the warm parent has exited"),
        ("plain", {"LABKIT_KERNEL_PRELOAD": "cuda_was_used"}, "CUDA was initialised"),
        ("plain", {}, None),  # the control: the same launch forks
    ],
)
def test_a_kernel_starts_the_usual_way_where_forking_is_refused(tmp_path, mode, env, reason):
    (tmp_path / "cuda_was_used.py").write_text(
        "import torch\ntorch.cuda.is_initialized = lambda: True\n"
    )
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    printed, logged = _launch(tmp_path, mode, PYTHONPATH=path, **env)  # finds cuda_was_used
    assert "parent" in printed, logged
    if reason is None:
        assert not _started_cold(printed), logged
    else:
        assert _started_cold(printed), printed
        assert f"starting a kernel the usual way ({reason}" in logged, logged


def test_a_variable_read_at_import_that_differs_is_refused_by_name(tmp_path):
    # PYTHONHASHSEED, PYTHONPATH, torch's and matplotlib's settings are read once, when the
    # warm parent starts: a kernel launched with other values must start fresh.
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    with open(os.devnull, "rb+") as null, pytest.raises(kernel.ZygoteError, match="PYTHONHASHSE"):
        kernel.zygote().fork(["-f", str(tmp_path / "none.json")], str(tmp_path), env,
                             [null.fileno()] * 3)  # fmt: skip


def test_the_warm_parent_and_its_kernels_exit_with_the_launcher(tmp_path):
    printed, logged = _launch(tmp_path, "exit")
    zygote, child = map(int, printed.split("pids ")[1].split())
    deadline = time.monotonic() + 30  # each notices within about a second
    while (alive(zygote) or alive(child)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(zygote) and not alive(child), logged


FIRST_LAUNCH = """\
import asyncio, json, time
from jupyter_client.manager import AsyncKernelManager
from labkit import kernel

async def main():
    gaps, last, done = [], time.monotonic(), asyncio.Event()
    async def tick():
        nonlocal last
        while not done.is_set():
            await asyncio.sleep(0.05)
            gaps.append(time.monotonic() - last)
            last = time.monotonic()
    ticker = asyncio.create_task(tick())
    start = time.monotonic()
    manager = AsyncKernelManager(kernel_name="labkit")
    await manager.start_kernel()
    client = manager.client()
    client.start_channels()
    await client.wait_for_ready(timeout=300)
    launched = time.monotonic() - start
    done.set()
    await ticker
    reply = await client.execute_interactive(
        "import os; print(os.environ.get('LABKIT_KERNEL_ZYGOTE'))", timeout=120,
        output_hook=lambda m: m["msg_type"] == "stream" and seen.append(m["content"]["text"]))
    client.stop_channels()
    await manager.shutdown_kernel(now=True)
    print(json.dumps({"launched": launched, "stall": max(gaps), "seen": "".join(seen).strip(),
                      "zygote": kernel.zygote().path}))

seen = []
asyncio.run(main())
"""


def test_the_first_launch_waits_without_blocking_the_launcher_and_shares_its_warm_parent(tmp_path):
    # A Jupyter server launches kernels from its event loop: the first labkit kernel waits for
    # the warm parent's imports, and the server must go on answering everyone meanwhile.
    environ = {k: v for k, v in os.environ.items() if k != kernel.SHARED}  # a parent of its own
    done = subprocess.run([sys.executable, "-c", FIRST_LAUNCH], capture_output=True, text=True,
                          env=environ, cwd=tmp_path, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["launched"] > 1.0, found  # it did wait for the imports...
    assert found["stall"] < min(1.0, found["launched"] / 2), found  # ...in a thread
    # the first kernel knows the warm parent, so a sweep it runs shares it
    assert found["seen"] == found["zygote"], found
