"""The `labkit` Jupyter kernel: a Python kernel forked from a warm parent, ready in about a
second instead of the several seconds a fresh one spends importing torch, scikit-learn and friends.

The kernelspec `labkit` (installed with the package into `share/jupyter/kernels/labkit`)
names the provisioner `ForkProvisioner`. On the first kernel launch in a process (a sweep,
pytest, papermill, the Jupyter server) it starts the warm parent, `labkit/zygote.py`, which
lives as long as this process; each kernel is then a fork of it, given this launch's
command line, working directory, environment and standard streams. Everything else is as
for `python3`: the same interpreter and packages, the connection file, interrupt, restart,
shutdown and kill. Child processes (sweep workers, and kernels that run sweeps
themselves) find the warm parent through LABKIT_KERNEL_ZYGOTE and share it rather than
warming up their own.

Where forking is not possible (not Linux, `LABKIT_KERNEL_FORK=0`, the warm parent refused
or died) kernels start the usual way, and the first such launch says why in a log line.
Notebooks keep `python3` in their metadata; tools pick `labkit` explicitly
(`papermill -k labkit`, `labkit sweep`, `--nbval-kernel-name labkit`).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

from labkit.zygote import THREAD_VARIABLES, alive

NAME = "labkit"  # the kernelspec's name
ZYGOTE = pathlib.Path(__file__).with_name("zygote.py")
SHARED = "LABKIT_KERNEL_ZYGOTE"  # the socket through which child processes share it
READY_SECONDS = 300  # the warm parent's imports take seconds, far longer on a loaded machine


class ZygoteError(RuntimeError):
    """The warm parent cannot fork this kernel; it is started the usual way instead."""


class ZygoteGone(ZygoteError):
    """The warm parent did not start, or has exited: no kernel of this process forks now."""


class Zygote:
    """A connection to a warm parent: the one this process started (`Zygote.start`), or one
    that a parent process started and shares through LABKIT_KERNEL_ZYGOTE (`connect`)."""

    def __init__(
        self, sock: socket.socket, path: str, process: subprocess.Popen | None = None
    ) -> None:
        self.socket = sock
        self.path = path  # where kernels and child processes connect (LABKIT_KERNEL_ZYGOTE)
        self.process = process  # None when another process owns it
        self.lock = threading.Lock()
        self._hello: dict[str, Any] | None = None  # its greeting, once ready

    @classmethod
    def start(cls, preload: str | None = None) -> Zygote:
        """Start a warm parent owned by this process, and share it with child processes.

        Returns at once: its imports go on while this process does other work, and the first
        request waits for them.
        """
        folder = tempfile.mkdtemp(prefix="labkit-kernel-")  # private (0700): the socket in it
        path = os.path.join(folder, "socket")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener.bind(path)
        listener.listen(64)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # with its libraries' default thread pools; each kernel sizes its own from its env
        env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
        if preload is not None:
            env["LABKIT_KERNEL_PRELOAD"] = preload
        fds = [theirs.fileno(), listener.fileno()]
        with theirs, listener:
            process = subprocess.Popen(
                [sys.executable, str(ZYGOTE), *map(str, fds)], pass_fds=fds, env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        os.environ[SHARED] = path  # child processes use it too
        zygote = cls(ours, path, process)
        atexit.register(zygote.close, folder)
        return zygote

    @classmethod
    def connect(cls, path: str) -> Zygote:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            sock.connect(path)
        except OSError as e:
            sock.close()
            raise ZygoteGone(f"no warm parent at {path}: {e}") from e
        return cls(sock, path)

    def _receive(self) -> dict[str, Any]:
        data = self.socket.recv(1 << 20)
        if not data:
            raise ZygoteGone("the warm parent has exited")
        return json.loads(data)

    def _greeted(self) -> dict[str, Any]:
        if self._hello is None:  # its imports may still be going on
            self.socket.settimeout(READY_SECONDS)
            try:
                self._hello = self._receive()
            except (OSError, ZygoteError) as e:
                raise ZygoteGone(f"the warm parent did not start: {e}") from e
            self.socket.settimeout(None)
        return self._hello

    @property
    def pid(self) -> int:
        """Its process id (waits until it is ready)."""
        with self.lock:
            return self._greeted()["pid"]

    @property
    def failed(self) -> dict[str, str]:
        """The modules it could not preload, with why (waits until it is ready)."""
        with self.lock:
            return self._greeted()["failed"]

    def request(self, message: dict[str, Any], fds: Sequence[int] = ()) -> dict[str, Any]:
        """Send one request (with file descriptors to pass) and return the reply."""
        with self.lock:
            try:
                self._greeted()
                socket.send_fds(self.socket, [json.dumps(message).encode()], list(fds))
                reply = self._receive()
            except OSError as e:
                raise ZygoteGone(f"the warm parent has exited ({e})") from e
        if "error" in reply:
            raise ZygoteError(reply["error"])
        return reply

    def fork(self, argv: list[str], cwd: str, env: dict[str, str], fds: list[int]) -> int:
        """Fork a kernel running `python -m ipykernel_launcher *argv`; return its pid."""
        message = {"op": "fork", "argv": argv, "cwd": cwd, "env": env}
        return self.request(message, fds)["pid"]

    def returncode(self, pid: int) -> int | None:
        """The kernel's exit code once it has exited (as Popen.poll), else None."""
        return self.request({"op": "status", "pid": pid})["returncode"]

    def info(self) -> dict[str, Any]:
        """Its thread count, whether CUDA is initialised, and the modules it has imported."""
        return self.request({"op": "info"})

    def close(self, folder: str | None = None) -> None:
        """Let go; the owner also stops it (its kernels notice and exit, as with a dead
        launcher) and removes its socket's folder."""
        self.socket.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


_zygote: Zygote | None = None
_broken: str | None = None  # why this process starts kernels the usual way, once known
_guard = threading.Lock()
_said: set[str] = set()  # the reasons already logged
# Not the provisioner's traitlets log, which a script that launches kernels may not show.
_log = logging.getLogger(__name__)


def zygote() -> Zygote:
    """This process's warm parent: shared by a parent process, or started on first use.

    Raises ZygoteError where forking is off (not Linux, LABKIT_KERNEL_FORK=0) or broken.
    """
    global _zygote, _broken
    with _guard:
        if _broken is None and _zygote is None:
            if not sys.platform.startswith("linux"):
                _broken = f"forking a kernel is supported on Linux only, not {sys.platform}"
            elif os.environ.get("LABKIT_KERNEL_FORK", "1").strip().lower() in ("0", "false"):
                _broken = "LABKIT_KERNEL_FORK=0"
            else:
                try:
                    _zygote = _connect_or_start()
                except OSError as e:  # no socket, no process: nothing to fork from
                    _broken = f"the warm parent did not start: {e}"
        if _broken is not None:
            raise ZygoteError(_broken)
        return _zygote


def _connect_or_start() -> Zygote:
    if os.environ.get(SHARED):
        try:
            return Zygote.connect(os.environ[SHARED])
        except ZygoteGone:
            pass  # its owner has gone: this process starts one of its own
    return Zygote.start()


def warm_up() -> None:
    """Start (or connect to) this process's warm parent now, without waiting for it, so
    that the worker processes started next share it. Errors surface at the first launch."""
    with contextlib.suppress(ZygoteError):
        zygote()


def _broke(reason: str) -> None:
    global _broken
    _broken = reason


def _forget_in_child() -> None:
    # A process forked from this one (multiprocessing's fork) opens its own connection.
    global _zygote, _broken
    _zygote, _broken = None, None


os.register_at_fork(after_in_child=_forget_in_child)


class ForkedKernel:
    """A kernel forked by the warm parent, handled like the `subprocess.Popen` of a kernel.

    It is the warm parent's child, not ours: the warm parent reaps it and reports its exit
    code; signals go straight to its process group (it leads its own session).
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int, parent: Zygote) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._parent = parent

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.returncode = self._parent.returncode(self.pid)
            except ZygoteError:  # the warm parent is gone; init reaps its orphans
                self.returncode = None if alive(self.pid) else -signal.SIGKILL
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _stream(value: Any, default: int, opened: list[int]) -> int:
    """The file descriptor Popen would give the kernel for stdin/stdout/stderr=`value`."""
    if value is None:
        return default
    if value == subprocess.DEVNULL:
        opened.append(os.open(os.devnull, os.O_RDWR))
        return opened[-1]
    if isinstance(value, int) and value >= 0:
        return value
    if hasattr(value, "fileno"):
        return value.fileno()
    raise ZygoteError(f"a kernel stream of {value!r} needs a fresh process")


def fork_kernel(cmd: list[str], **kwargs: Any) -> ForkedKernel:
    """Start the kernel `cmd` (`python -m ipykernel_launcher …`) as a fork of the warm parent,
    with Popen's keyword arguments as jupyter_client's `launch_kernel` gives them."""
    cmd = [os.path.expanduser(part) for part in cmd]
    python = os.path.realpath(cmd[0]) == os.path.realpath(sys.executable)
    if not python or cmd[1:3] != ["-m", "ipykernel_launcher"]:
        raise ZygoteError(f"only `{sys.executable} -m ipykernel_launcher …` forks, not {cmd}")
    env = dict(kwargs.get("env") or os.environ)
    if not kwargs.get("independent"):
        env["JPY_PARENT_PID"] = str(os.getpid())
    opened: list[int] = []  # ours to close once the kernel holds its own copies
    try:
        fds = [_stream(subprocess.DEVNULL, 0, opened), _stream(kwargs.get("stdout"), 1, opened),
               _stream(kwargs.get("stderr"), 2, opened)]  # fmt: skip
        parent = zygote()
        env[SHARED] = parent.path  # its sweeps share this warm parent (the first kernel too)
        pid = parent.fork(cmd[3:], str(kwargs.get("cwd") or os.getcwd()), env, fds)
    except ZygoteGone as e:
        _broke(str(e))  # for good: later kernels start the usual way at once
        raise
    finally:
        for fd in opened:
            os.close(fd)
    return ForkedKernel(pid, parent)


class ForkProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, launching kernels as forks of a warm parent."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        try:  # in a thread: the first launch waits for the warm parent's imports, and the
            # launcher's event loop (a Jupyter server's, serving everyone) must not wait with it
            process = await asyncio.to_thread(fork_kernel, cmd, **self._scrub_kwargs(kwargs))
        except ZygoteError as e:
            if str(e) not in _said:  # once per reason and process, not per kernel
                _said.add(str(e))
                _log.warning("labkit kernel: starting a kernel the usual way (%s)", e)
            return await super().launch_kernel(cmd, **kwargs)
        self.process, self.pid, self.pgid = process, process.pid, process.pid
        self.cwd = kwargs.get("cwd", pathlib.Path.cwd())
        return self.connection_info
