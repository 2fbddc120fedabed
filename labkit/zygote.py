"""The warm parent of `labkit` kernels: it imports the slow third-party modules once, then
forks a Jupyter kernel per request, ready in about a second instead of several.

A fresh Python kernel spends seconds importing torch (and `torch._dynamo`, which the first
optimizer pulls in), scikit-learn and matplotlib before a notebook trains for a fraction
of that. This process pays those imports once; every kernel is a fork of it.

It is run as a script, never imported (`python …/labkit/zygote.py OWNER LISTENER`), and
it never imports labkit itself: each kernel imports the labkit that is on disk when it
starts. It answers the process that started it (`labkit.kernel`) on the SOCK_SEQPACKET
socket OWNER, and any other process of that user that connects to the Unix socket
LISTENER (in a private folder: sweep workers, kernels that run sweeps), one JSON message
each way per request, after greeting each with `{"ready": …}`:

    {"op": "fork", "argv": […], "cwd": …, "env": {…}}  + fds stdin, stdout, stderr
        -> {"pid": N} or {"error": "why this kernel must start the usual way"}
    {"op": "status", "pid": N}  -> {"returncode": int or null while it runs}
    {"op": "info"}              -> {"threads": …, "cuda_initialized": …, "modules": […]}

A forked kernel must be indistinguishable from a fresh one, so the child takes its own
session, working directory, environment and standard streams, reseeds every global random
generator from the OS, sizes its thread pools from its environment, and only then starts
`ipykernel`. The parent never runs a torch operation (no OpenMP pool) nor touches CUDA:
forking after either is unsafe, so a fork is refused when CUDA was initialised. It exits
when its owner hangs up or dies.
"""

import atexit
import importlib
import importlib.util
import json
import os
import select
import signal
import socket
import sys
import threading
import time
import traceback

# Imported once here, in this order; a module that is not installed is skipped. Extra ones
# come from LABKIT_KERNEL_PRELOAD (comma-separated). Not modules that look for a running
# IPython when imported, which must happen in the kernel: tqdm.auto (which bar to draw),
# ipywidgets (its comm target), matplotlib_inline's backend (its display hooks).
PRELOAD = (
    "numpy",
    "torch",
    "torch._dynamo",  # what the first optimizer imports: ~2 s
    "matplotlib",
    "matplotlib.pyplot",
    "sklearn.datasets",
    "sklearn.metrics",
    "sklearn.model_selection",
    "scipy.stats",
    "threadpoolctl",
    "ipykernel.kernelapp",
    "torch.export",  # the ONNX exporter's tracer (notebooks 08-13): ~1-2 s on first export
    "onnx",
    "onnxscript",
    "onnxruntime",
)
INLINE = "module://matplotlib_inline.backend_inline"  # ipykernel's default backend
# Variables read once, at start-up or when a module is imported (PYTHONPATH, PYTHONHASHSEED,
# torch's and matplotlib's settings…): a kernel whose value differs from this parent's
# starts fresh. Exempt: the thread counts and MPLBACKEND, which each child applies itself,
# and the few read whenever they are used.
IMPORT_TIME = ("PYTHON", "TORCH", "PYTORCH", "MPL", "CUDA", "KMP_", "MKL_", "LD_")
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "GOTO_NUM_THREADS",
)
EXEMPT = (*THREAD_VARIABLES, "MPLBACKEND", "PYTHONBREAKPOINT", "PYTHONASYNCIODEBUG")
MESSAGE_BYTES = 1 << 20
STARTED_WITH = dict(os.environ)  # before the imports, which may add to it


def preload(names):
    """Import `names`; return {name: error} for those that failed."""
    failed = {}
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as e:  # an optional module, or a broken install: kernels import it
            failed[name] = f"{type(e).__name__}: {e}"
    return failed


def info():
    torch = sys.modules.get("torch")
    return {
        "threads": len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 0,
        "cuda_initialized": bool(torch and torch.cuda.is_initialized()),
        "modules": sorted(sys.modules),
    }


def fork(request, fds, sockets):
    """Fork a kernel for `request`; in the parent return the reply, in the child never return.

    `sockets` are this parent's own (its listener and connections): the child closes them.
    """
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        return {"error": "CUDA was initialised in the warm parent; a fork could not use it"}
    for name in sorted(set(request["env"]) | set(os.environ)):
        # as this parent started, or as its imports left it (scikit-learn sets
        # KMP_DUPLICATE_LIB_OK, and so does a launcher that imported it)
        value, seen = request["env"].get(name), (STARTED_WITH.get(name), os.environ.get(name))
        if value not in seen and name.startswith(IMPORT_TIME) and name not in EXEMPT:
            return {"error": f"{name} differs from the warm parent's, and is read at import"}
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        for sock in sockets:
            sock.close()
        become_kernel(request, fds)  # exits
    return {"pid": pid}


def become_kernel(request, fds):
    """In the forked child: take the kernel's own process state, then run ipykernel."""
    code = 1
    try:
        os.setsid()  # its own process group: an interrupt reaches the kernel and its children
        for fd, target in zip(fds, (0, 1, 2), strict=True):
            os.dup2(fd, target)
            os.close(fd)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # this parent ignores it
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        fresh_process_state()
        # as `python -m ipykernel_launcher ARGS` would see them. ipykernel read JPY_PARENT_PID
        # (its launcher) when this parent imported it, and watches only its own parent: it
        # is told on the command line to watch this process, and a thread watches the
        # launcher, so the kernel exits when either does, as a kernel started fresh would.
        launcher = importlib.util.find_spec("ipykernel_launcher").origin
        sys.argv = [launcher, *request["argv"]]
        if os.environ.get("JPY_PARENT_PID", "").isdigit():  # not an independent kernel
            sys.argv.append(f"--IPKernelApp.parent_handle={os.getppid()}")
            exit_with(int(os.environ["JPY_PARENT_PID"]))
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        # What a normal interpreter exit does (history saved, files flushed), then leave
        # without unwinding into this parent's loop.
        try:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def exit_with(pid):
    """Exit as soon as process `pid` (this kernel's launcher) has exited."""
    try:
        handle = os.pidfd_open(pid)  # Linux 5.3: readable once the process has exited
    except OSError:
        handle = None

    def watch():
        if handle is not None:
            select.select([handle], [], [])
        else:  # no pidfd (or the launcher is gone already): poll
            while alive(pid):
                time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="labkit-launcher-watch", daemon=True).start()


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def fresh_process_state():
    """What a new Python process would have: unseeded generators, threads from its env."""
    import random

    random.seed()  # from os.urandom, as at start-up
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()  # the legacy global generator, from OS entropy
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.seed()  # a fresh process seeds torch non-deterministically too
    env = os.environ
    omp = env.get("OMP_NUM_THREADS", "")
    blas = env.get("OPENBLAS_NUM_THREADS") or env.get("GOTO_NUM_THREADS") or omp
    intra = omp or env.get("MKL_NUM_THREADS", "")
    if torch is not None and intra.isdigit() and int(intra) > 0:
        torch.set_num_threads(int(intra))  # torch read these when this parent imported it
    threadpoolctl = sys.modules.get("threadpoolctl")
    if threadpoolctl is not None:
        if blas.isdigit() and int(blas) > 0:
            threadpoolctl.threadpool_limits(int(blas), user_api="blas")
        if omp.isdigit() and int(omp) > 0:
            threadpoolctl.threadpool_limits(int(omp), user_api="openmp")
    pandas = sys.modules.get("pandas")  # imported here through scikit-learn
    if pandas is not None:  # its notebook default; imported outside IPython, it chose 0
        pandas.set_option("display.max_columns", 20)
    matplotlib = sys.modules.get("matplotlib")
    if matplotlib is not None:  # read from MPLBACKEND when matplotlib is imported
        matplotlib.rcParams["backend"] = env.get("MPLBACKEND") or INLINE


def reap(finished):
    """Collect every exited child's return code (as Popen reports it) into `finished`."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        finished[pid] = os.waitstatus_to_exitcode(status)


def status(pid, finished):
    reap(finished)
    if pid in finished:
        return finished.pop(pid)
    return None if alive(pid) else -1  # -1: not ours, or reaped long ago


def answer(request, fds, finished, sockets):
    try:
        if request["op"] == "fork":
            return fork(request, fds, sockets)
        if request["op"] == "status":
            return {"returncode": status(request["pid"], finished)}
        return info()
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}
    finally:
        for fd in fds:
            os.close(fd)  # the child holds its own copies


def serve(owner, listener, hello):
    """Answer requests from the owner and from every process that connects to `listener`,
    until the owner hangs up or this process's parent (the owner) is gone."""
    parent = os.getppid()
    finished = {}
    clients = [owner]
    while True:
        ready, _, _ = select.select([listener, *clients], [], [], 1.0)
        if os.getppid() != parent:
            return  # the owner died without closing its socket
        reap(finished)
        for sock in ready:
            if sock is listener:
                client, _ = listener.accept()
                client.send(hello)
                clients.append(client)
                continue
            try:
                data, fds, _, _ = socket.recv_fds(sock, MESSAGE_BYTES, 3)
            except OSError:
                data, fds = b"", []
            if not data:  # that process has exited or let go
                if sock is owner:
                    return
                clients.remove(sock)
                sock.close()
                continue
            reply = answer(json.loads(data), fds, finished, [listener, *clients])
            sock.send(json.dumps(reply).encode())


def main():
    owner = socket.socket(fileno=int(sys.argv[1]))
    listener = socket.socket(fileno=int(sys.argv[2]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is for the launcher
    del sys.path[0]  # this script's folder (labkit/) must not shadow top-level modules
    extra = [m.strip() for m in os.environ.get("LABKIT_KERNEL_PRELOAD", "").split(",")]
    failed = preload([*PRELOAD, *filter(None, extra)])
    hello = json.dumps({"ready": True, "pid": os.getpid(), "failed": failed}).encode()
    owner.send(hello)
    serve(owner, listener, hello)


if __name__ == "__main__":
    main()
