"""Run a student's kernel in a sandbox: no network, nothing of the host but its own files, bounded resources.

Mechanisms (all standard on Debian).  Started by root:

* bubblewrap: new network, PID, IPC and UTS namespaces; a read-only view of
  only the system libraries and the Python environment; ``/tmp`` is a small
  private tmpfs; the working directory is a scratch copy of the submission;
  nothing else of the host (course files, gradebook, other submissions,
  the reference package, the grader) is visible, and the installed packages
  in ``hidden_packages`` and ``unused_packages`` raise ImportError.
* a size-limited tmpfs, mounted by root on the host, holds the scratch and
  I/O directories, so a submission cannot fill the grading machine's disk.
* setpriv: the kernel runs as an unprivileged uid, one per concurrent slot,
  with every capability dropped, so RLIMIT_NPROC really caps its processes.
* prlimit: address-space (memory), process-count, file-size and open-file
  limits.
* seccomp (``grader.engine.seccomp``, loaded by bubblewrap): the kernel keyring,
  namespaces, mounts, ptrace and other kernel attack surface are refused
  with EPERM, so no sandbox leaves state in the uid's keyring for the next
  one that runs as that uid.

Started by an ordinary user (an instructor on a shared server or a hub), bubblewrap
also makes a new user namespace for each sandbox (unprivileged user namespaces),
which replaces what root's per-slot uid provides:

* RLIMIT_NPROC is counted per user namespace and uid, so the process limit caps
  each sandbox's own processes, not the grader's or another sandbox's;
* the sandbox's working directory is a size-limited tmpfs that bubblewrap mounts
  inside the sandbox, since only root can mount one on the host; the scratch
  directory is bound read-only beside it and copied in before the kernel starts;
* the sandbox's root directory and ``/dev/shm`` are read-only to it, as they are
  to a foreign uid under root;
* its processes are found through their parent chain (they share the grader's uid).

Only the I/O directory (the kernel's sockets, on the host) stays writable, bounded per
file by RLIMIT_FSIZE; when user namespaces are disabled, bubblewrap cannot start and
grading refuses with the sysctl to check.

The kernel talks to the grader over Unix sockets (ZeroMQ ``ipc`` transport)
in a directory shared with the sandbox, because a process in its own
network namespace cannot reach the host's loopback.

When bubblewrap is missing, ``SandboxPolicy.mode = "bwrap"`` fails loudly.
When the tmpfs cannot be mounted, grading goes on with a loud warning, and
every record of that sandbox says ``disk unbounded``.
``mode = "rlimits"`` (explicit opt-in, root only) keeps the uid switch and rlimits but
no namespaces; ``mode = "none"`` runs the kernel as a plain subprocess.  Each
degraded mode is logged as a warning and recorded with every result.
"""
from __future__ import annotations

import fcntl
import functools
import glob
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, CaselessStrEnum, Integer, List, Unicode

from . import seccomp as seccomp_filter
from .library_policy import LibraryPolicy

log = logging.getLogger(__name__)

__all__ = ["SandboxPolicy", "SandboxUnavailable", "Sandbox", "SandboxedKernelManager"]


class SandboxUnavailable(RuntimeError):
    """The configured isolation cannot be provided on this machine."""


class SandboxPolicy(LibraryPolicy):
    """Limits and isolation for one submission's kernel (configure as ``c.SandboxPolicy.*``).

    It is a :class:`~grader.engine.library_policy.LibraryPolicy` too (``c.LibraryPolicy.*``: the modules an
    assignment forbids), so those settings reach every execution job and its cache key with the rest.
    """

    mode = CaselessStrEnum(["bwrap", "rlimits", "none"], default_value="bwrap",
                           help="bwrap: namespaces + uid + rlimits (default); rlimits: uid + rlimits only; "
                                "none: no isolation (trusted code only)").tag(config=True)
    cell_timeout = Integer(30, help="Wall-clock seconds for one student cell").tag(config=True)
    check_timeout = Integer(20, help="Wall-clock seconds for one call into student code from a check").tag(config=True)
    submission_timeout = Integer(180, help="Wall-clock seconds for a whole notebook").tag(config=True)
    memory_bytes = Integer(3 * 1024 ** 3, help="Address-space limit of each sandboxed process").tag(config=True)
    max_processes = Integer(64, help="Processes/threads the sandbox uid may have").tag(config=True)
    max_file_bytes = Integer(64 * 1024 ** 2, help="Largest file the kernel may write").tag(config=True)
    output_bytes = Integer(1024 ** 2, help="Output one notebook may produce before it is cut off").tag(config=True)
    tmp_bytes = Integer(128 * 1024 ** 2, help="Size of the sandbox's private /tmp").tag(config=True)
    disk_bytes = Integer(256 * 1024 ** 2, help="Size of the tmpfs holding the sandbox's working and I/O "
                                             "directories (0: plain directories, disk use unbounded)").tag(config=True)
    first_uid = Integer(61000, help="Sandbox uids are first_uid + slot").tag(config=True)
    slots = Integer(64, help="How many sandboxes may run at once on this machine").tag(config=True)
    slot_dir = Unicode("/tmp/grader-sandbox-slots", help="Lock files that hand out uid slots").tag(config=True)
    hidden_packages = List(["grader", "gradekit", "assignments"],
                           help="Installed packages made invisible inside the sandbox (the grader's own by "
                                "default; a course adds its reference and oracle packages)").tag(config=True)
    unused_packages = List(["debugpy"],
                           help="Installed packages absent from the sandbox, as hidden_packages are, because grading "
                                "never uses them and the kernel would import them at every start: debugpy, "
                                "ipykernel's debugger (about 0.07 CPU-s per kernel start); ipykernel runs "
                                "without its debugger when it is missing").tag(config=True)
    seccomp = Bool(True, help="Load grader.engine.seccomp's filter into the kernel (bwrap mode): keyring, namespace, "
                              "mount, ptrace and other system calls fail with EPERM").tag(config=True)

    def describe(self) -> str:
        return (f"{self.mode}: cell {self.cell_timeout}s, submission {self.submission_timeout}s, "
                f"memory {self.memory_bytes // 2 ** 20} MiB, processes {self.max_processes}, "
                f"output {self.output_bytes // 1024} KiB, {self.describe_seccomp()}, "
                f"disk {self.disk_bytes // 2 ** 20} MiB")

    def describe_seccomp(self) -> str:
        if self.seccomp and self.mode == "bwrap":
            return f"seccomp denies {len(seccomp_filter.DENIED)} syscalls"
        return "no seccomp" + (" (bwrap mode only)" if self.seccomp and self.mode == "rlimits" else "")


def _python_roots() -> list[str]:
    """Directories the kernel's Python needs: the interpreter's prefix and the environment."""
    roots = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    return sorted(roots)


def _site_packages() -> str:
    return sysconfig.get_paths()["purelib"]


def _install_paths() -> list[str]:
    """Files in site-packages that name where editable installs live (the course's directory).

    They serve only the course's editable packages (``grader``, ``assignments``, ...), which are not mounted
    in the sandbox; an empty file is bound over each.
    """
    site = _site_packages()
    return sorted(glob.glob(os.path.join(site, "__editable__*")) +
                  glob.glob(os.path.join(site, "*.dist-info", "direct_url.json")))


@functools.lru_cache(maxsize=1)
def matplotlib_font_cache() -> dict[str, bytes]:
    """matplotlib's font list, built once per grading process and copied into every sandbox.

    Without it each kernel rebuilds the list on its first plot (~0.5 s per submission).
    """
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, MPLCONFIGDIR=tmp, MPLBACKEND="agg")
        try:
            subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env,
                           timeout=120, check=True, capture_output=True)
        except (OSError, subprocess.SubprocessError):
            return {}
        return {name: open(os.path.join(tmp, name), "rb").read()
                for name in os.listdir(tmp) if name.startswith("fontlist")}


def _ancestors(path: str) -> list[str]:
    parts = path.strip("/").split("/")
    return ["/" + "/".join(parts[:i]) for i in range(1, len(parts))]


class _UidSlot:
    """A uid reserved for one sandbox through an flock'ed file (released on close)."""

    def __init__(self, policy: SandboxPolicy):
        os.makedirs(policy.slot_dir, exist_ok=True)
        for slot in range(policy.slots):
            fh = open(os.path.join(policy.slot_dir, f"slot-{slot}"), "w")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.close()
                continue
            self._fh, self.uid = fh, policy.first_uid + slot
            return
        raise SandboxUnavailable(f"all {policy.slots} sandbox slots are busy")

    def release(self) -> None:
        self._fh.close()


class Sandbox:
    """A scratch directory (the kernel's cwd, filled with ``files``), an I/O directory and a uid.

    Use as a context manager; everything is removed on exit.
    """

    hidden_modules: tuple[str, ...] = ()  # dotted names hidden like policy.hidden_packages (set per assignment)

    def __init__(self, policy: SandboxPolicy, files: dict[str, bytes] | None = None):
        self.policy = policy
        self.rootless = policy.mode != "none" and os.geteuid() != 0
        if self.rootless and policy.mode == "rlimits":
            raise SandboxUnavailable(
                "sandbox mode 'rlimits' needs root to switch to an unprivileged uid; run grading as root, "
                "use mode 'bwrap' (user namespaces) or set c.SandboxPolicy.mode = 'none' (no isolation)")
        if policy.mode == "bwrap" and shutil.which("bwrap") is None:
            raise SandboxUnavailable(
                "bubblewrap (bwrap) is not installed: install it (apt-get install bubblewrap) or "
                "explicitly choose c.SandboxPolicy.mode = 'rlimits' (no namespaces) or 'none'")
        if self.rootless:
            problem = user_namespace_problem()
            if problem:
                raise SandboxUnavailable(
                    "grading as an ordinary user needs unprivileged user namespaces, and bubblewrap could not "
                    f"make one ({problem}); check `sysctl user.max_user_namespaces` (must be > 0), "
                    "`sysctl kernel.unprivileged_userns_clone` (Debian: must be 1) and "
                    "`sysctl kernel.apparmor_restrict_unprivileged_userns` (Ubuntu: must be 0), run grading as "
                    "root, or explicitly choose c.SandboxPolicy.mode = 'none' (no isolation)")
        if policy.mode != "bwrap":
            log.warning("SANDBOX DEGRADED: grading with mode=%r; student code is %s", policy.mode,
                        "not isolated at all" if policy.mode == "none" else "limited but not namespaced")
        # nobody else on the machine (a student on the same server) reads the submission being graded: the
        # root directory lets only the grader in (root: anyone may pass through to the slot uid's own 0700
        # directories, which the uid-switching mode needs without namespaces)
        self.root = tempfile.mkdtemp(prefix="grader-sandbox-")
        os.chmod(self.root, 0o700 if self.rootless else 0o711)
        self.slot, self.disk_bounded = None, False
        self.leader_pid: int | None = None   # the sandbox's outermost process (bwrap), set when a kernel starts
        self.inherit_fds: list[int] = []   # descriptors the next wrapped command reads (the seccomp filter)
        try:
            self._populate(files)
        except BaseException:
            self.close()
            raise

    def _populate(self, files: dict[str, bytes] | None) -> None:
        """The tmpfs, the scratch directory with ``files`` in it, the I/O directory and a uid, all owned by it."""
        self.disk_bounded = self._bound_disk() if self.policy.mode != "none" else False
        self.work = os.path.join(self.root, "work")
        self.io = os.path.join(self.root, "io")
        os.makedirs(self.work, mode=0o700)
        os.makedirs(self.io, mode=0o700)
        self.staged_files = os.path.join(self.root, "files")   # the scratch directory, inside a rootless sandbox
        self.mpl_dir = os.path.join(self.work, ".config", "matplotlib")
        files = dict(files or {})
        for name, data in matplotlib_font_cache().items():
            files[os.path.join(".config", "matplotlib", name)] = data
        for rel, data in files.items():
            dest = os.path.normpath(os.path.join(self.work, rel))
            if not dest.startswith(self.work + os.sep):
                continue  # a path that would escape the scratch directory is dropped
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "wb") as fh:
                fh.write(data)
        self.slot = _UidSlot(self.policy) if self.policy.mode != "none" and not self.rootless else None
        self.uid = self.slot.uid if self.slot else os.getuid()
        if self.slot:
            for path in (self.work, self.io):
                for dirpath, _, filenames in os.walk(path):
                    os.chown(dirpath, self.uid, self.uid)
                    for name in filenames:
                        os.chown(os.path.join(dirpath, name), self.uid, self.uid)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _bound_disk(self) -> bool:
        """Whether the sandbox's disk use is bounded by a tmpfs of ``disk_bytes`` (a warning when it is not).

        Root mounts it on the host under the sandbox's directories; without root, bubblewrap mounts the
        working directory's inside the sandbox (:meth:`wrap`)."""
        size = self.policy.disk_bytes
        if size <= 0:
            log.warning("SANDBOX DEGRADED: c.SandboxPolicy.disk_bytes = %d: a submission's disk use is unbounded", size)
            return False
        if self.rootless:
            return True
        try:
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0711,nosuid,nodev", "tmpfs", self.root],
                           check=True, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            log.warning("SANDBOX DEGRADED: could not mount a %d MiB tmpfs for the sandbox (%s); a submission's "
                        "disk use is unbounded", size // 2 ** 20, detail.strip())
            return False
        return True

    def describe(self) -> str:
        """The policy, and what this machine could not provide of it."""
        text = self.policy.describe()
        if self.policy.mode != "none" and not self.disk_bounded:
            text += " (disk unbounded: no tmpfs)"
        if self.rootless:
            text += ", rootless (user namespace)"
        return text

    def release_fds(self) -> None:
        """Close the descriptors handed to commands from :meth:`wrap` (call once the command has started)."""
        while self.inherit_fds:
            os.close(self.inherit_fds.pop())

    def close(self) -> None:
        self.release_fds()
        if self.disk_bounded:
            subprocess.run(["umount", "--lazy", self.root], capture_output=True, timeout=30)
            self.disk_bounded = False
        shutil.rmtree(self.root, ignore_errors=True)
        if self.slot:
            self.slot.release()
            self.slot = None

    def process_count(self) -> int:
        """Processes currently running in this sandbox: as its uid, or (rootless) below its outermost process."""
        if self.rootless:
            # less one: bubblewrap's init (pid 1 inside), which root's count by uid does not see either
            return max(0, len(descendants(self.leader_pid)) - 1) if self.leader_pid else 0
        if not self.slot:
            return 0
        count = 0
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.stat(f"/proc/{entry}").st_uid == self.uid:
                        count += 1
                except OSError:
                    continue
        return count

    def kernel_manager(self, **kwargs) -> SandboxedKernelManager:
        km = SandboxedKernelManager(
            transport="ipc", ip=os.path.join(self.io, "kernel"),
            connection_file=os.path.join(self.io, "kernel.json"), **kwargs)
        km.sandbox = self
        km.kernel_spec.interrupt_mode = "message"  # signals cannot cross the PID namespace
        return km

    # ------------------------------------------------------------ commands
    def _import_blocker(self) -> str:
        """A module (outside the sandbox's view) that refuses to be imported; bound over hidden packages."""
        path = os.path.join(self.root, "hidden_package.py")
        if not os.path.exists(path):
            with open(path, "w", encoding="utf-8") as fh:
                fh.write("raise ModuleNotFoundError(f'{__name__} is not available while grading')\n")
        return path

    def _empty_file(self) -> str:
        """An empty file (outside the sandbox's view), bound over files whose content the sandbox must not read."""
        path = os.path.join(self.root, "empty")
        if not os.path.exists(path):
            open(path, "wb").close()
        return path

    def _seccomp_fd(self) -> int:
        """A descriptor holding the compiled seccomp filter, for bwrap's ``--seccomp``; closed by
        :meth:`release_fds`."""
        fd = os.memfd_create("grader-seccomp")  # close-on-exec: only a command given it in pass_fds inherits it
        self.inherit_fds.append(fd)
        os.write(fd, seccomp_filter.program())
        os.lseek(fd, 0, os.SEEK_SET)
        return fd

    def environment(self) -> dict[str, str]:
        return {
            "HOME": self.work, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0", "MPLBACKEND": "agg", "MPLCONFIGDIR": self.mpl_dir,
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "IPYTHONDIR": "/tmp/ipython", "JUPYTER_RUNTIME_DIR": "/tmp/jupyter",
        }

    def wrap(self, command: list[str]) -> list[str]:
        """The command line that runs ``command`` inside this sandbox.

        With the seccomp filter on, start it with ``pass_fds=self.inherit_fds``, then call
        :meth:`release_fds`.
        """
        p = self.policy
        limits = ["prlimit", f"--as={p.memory_bytes}", f"--nproc={p.max_processes}",
                  f"--fsize={p.max_file_bytes}", "--nofile=256", "--core=0", "--"]
        if p.mode == "none":
            return command
        # rootless, bubblewrap itself drops every capability and sets no_new_privs; the uid stays the grader's
        drop = [] if self.rootless else [
            "setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
        if p.mode == "rlimits":
            return drop + limits + command
        fill: list[str] = []
        cmd = ["bwrap", "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
               "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--clearenv"]
        if self.rootless:
            cmd += ["--unshare-user", "--disable-userns"]
        for key, value in self.environment().items():
            cmd += ["--setenv", key, value]
        for path in ("/usr", "/bin", "/lib", "/lib64", "/etc/alternatives"):
            if os.path.exists(path):
                cmd += ["--ro-bind", path, path]
        # a private, size-limited /tmp first: the directories below may lie under /tmp (the sandbox's
        # own always do, the Python environment may), and they must be made on top of it, traversable
        cmd += ["--perms", "1777", "--size", str(p.tmp_bytes), "--tmpfs", "/tmp"]
        made = set()
        for root in _python_roots() + [self.root]:
            for d in _ancestors(root):
                if d not in made and d not in ("/usr", "/tmp"):
                    made.add(d)
                    cmd += ["--perms", "0755", "--dir", d]
        for root in _python_roots():
            cmd += ["--ro-bind", root, root]
        site = _site_packages()
        for name in [*p.hidden_packages, *p.unused_packages, *self.hidden_modules]:  # "a.b" is site/a/b
            target = os.path.join(site, *name.split("."))
            if os.path.isdir(target):  # its files vanish, and importing it raises ImportError
                cmd += ["--tmpfs", target, "--ro-bind", self._import_blocker(), os.path.join(target, "__init__.py")]
            elif os.path.isfile(target + ".py"):
                cmd += ["--ro-bind", self._import_blocker(), target + ".py"]
        if self.rootless:
            # everything bubblewrap makes is the sandbox's own: read-only where it must not write; the working
            # directory is a tmpfs of disk_bytes, filled from the scratch directory (bound read-only at
            # `files`) before the kernel starts
            size = ["--size", str(p.disk_bytes)] if p.disk_bytes > 0 else []
            cmd += ["--perms", "0555", "--dir", self.root, "--ro-bind", self.work, self.staged_files,
                    *size, "--perms", "0755", "--tmpfs", self.work, "--bind", self.io, self.io,
                    "--proc", "/proc", "--dev", "/dev", "--chmod", "0555", "/dev/shm", "--chdir", self.work]
            fill = ["sh", "-c", 'cp -R -p -- "$0"/. . && exec "$@"', self.staged_files]
        else:
            cmd += ["--perms", "0755", "--dir", self.root,
                    "--bind", self.work, self.work, "--bind", self.io, self.io,
                    "--proc", "/proc", "--dev", "/dev", "--chdir", self.work]
        # bwrap's own process is pid 1 of the sandbox: its command line (every mount above) reads as empty,
        # and so do the editable installs' path files
        for path in ["/proc/1/cmdline", "/proc/1/task/1/cmdline"] + _install_paths():
            cmd += ["--ro-bind", self._empty_file(), path]
        if p.seccomp:
            cmd += ["--seccomp", str(self._seccomp_fd())]
        return cmd + drop + fill + limits + command


@functools.lru_cache(maxsize=1)
def user_namespace_problem() -> str:
    """Why bubblewrap cannot make a user namespace as this user ('' when it can)."""
    try:
        done = subprocess.run(["bwrap", "--unshare-user", "--ro-bind", "/", "/", "true"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    return "" if done.returncode == 0 else (done.stderr.strip() or f"exit status {done.returncode}")


def descendants(pid: int) -> set[int]:
    """The processes below ``pid`` (children, their children, ...), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()   # after "pid (comm) ": state, ppid, ...
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts ipykernel inside a :class:`Sandbox`."""

    sandbox: Sandbox

    def write_connection_file(self, **kwargs) -> None:
        super().write_connection_file(**kwargs)
        if self.sandbox.slot:  # never follow a link the previous kernel may have left in its place
            os.chown(self.connection_file, self.sandbox.uid, self.sandbox.uid, follow_symlinks=False)

    def format_kernel_cmd(self, extra_arguments=None) -> list[str]:
        inner = [sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file,
                 "--HistoryManager.enabled=False", *(extra_arguments or [])]
        return self.sandbox.wrap(inner)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        kw["cwd"] = self.sandbox.work
        env = dict(self.sandbox.environment()) if self.sandbox.policy.mode != "bwrap" else {}
        env.pop("JPY_PARENT_PID", None)
        if self.sandbox.policy.mode != "bwrap":
            env["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
        kw["env"] = env
        # the kernel's own stdout/stderr (start-up banners, a segfault report) are dropped: no file of the
        # grader stays open in the kernel, to be reopened through /proc/self/fd
        kw["stdout"] = kw["stderr"] = subprocess.DEVNULL
        kw["pass_fds"] = tuple(self.sandbox.inherit_fds)   # the seccomp filter, read by bwrap
        try:
            info = await super()._async_launch_kernel(kernel_cmd, **kw)
        finally:
            self.sandbox.release_fds()
        process = getattr(self.provisioner, "process", None)
        self.sandbox.leader_pid = getattr(process, "pid", None)
        return info
