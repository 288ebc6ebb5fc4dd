"""Hostile and broken submissions: tampering attempts, malformed files, runaway code.

Each entry builds one submission (files under ``submitted/<student>/09_spatial/``)
from the released notebook, a correct style or the blank release, plus the
attack.  ``expect`` states what grading must do with it:

* ``"at_most_blank"``: the tampering gains nothing (score <= the blank release's 0);
* ``"full"``: a correct solution survives the disturbance with full marks;
* ``"failed"``: the submission cannot be graded and gets a zero row with a reason;
* ``"lose:<cells>"``: it loses exactly these cells.
``reasons`` lists incident kinds (or a failure-reason fragment) the record must contain.

An entry with ``replay`` is handed in twice: its base style is graded first (the probe); then
``replay`` writes, from what that grading revealed, the notebook the student hands in next, and the
suite grades it as a new submission (grader.harness.attack_suite).
"""
from __future__ import annotations

import base64
import copy
import dataclasses
import json
import os
import shutil
import zlib
from collections.abc import Callable

import nbformat
import numpy as np

from grader.harness.samples import build_notebook, cell_index, read_style, write_submission

STYLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "styles")
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # the assignment's content package


@dataclasses.dataclass(frozen=True)
class Attack:
    name: str
    about: str
    expect: str
    base: str = "blank"                      # "blank" or a style name
    cells: tuple[str, ...] = ()              # extra code cells inserted after the setup cell
    at_end: tuple[str, ...] = ()             # extra code cells appended at the end
    after: str = ""                          # put ``at_end`` cells right after this cell instead
    edit: Callable | None = None             # (nb) -> nb, a structural change
    files: Callable | None = None            # (dest_dir, nb) -> None, replaces the notebook file / adds files
    reasons: tuple[str, ...] = ()
    replay: Callable | None = None           # (assignment, release_nb, source_nb, probe salt) -> (nb, table size)


def _code(source: str):
    return nbformat.v4.new_code_cell(source)


# ------------------------------------------------------------------ tampering
CUSTOM_EXC = """\
ip = get_ipython()
ip.set_custom_exc((BaseException,), lambda shell, etype, evalue, tb, tb_offset=None: None)
"""
SHOWTRACEBACK = """\
ip = get_ipython()
ip.showtraceback = lambda *a, **k: None
ip._showtraceback = lambda *a, **k: None
ip.showsyntaxerror = lambda *a, **k: None
"""
ALWAYS_EQUAL = """\
class Anything:
    shape = property(lambda self: self)
    data = property(lambda self: self)
    grad = property(lambda self: self)
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __getitem__(self, key): return self
    def __len__(self): return 10
    def __iter__(self): return iter([self] * 4)
    def __float__(self): return 1.0
    def __int__(self): return 1
    def __index__(self): return 1
    def backward(self, *a, **k): return None
    def parameters(self): return [self] * 6
    def __call__(self, *a, **k): return self

def conv_output_size(*a, **k): return Anything()
def receptive_field(*a, **k): return Anything()
def count_parameters(*a, **k): return Anything()
Conv2d = MaxPool2d = AvgPool2d = Flatten = SimpleCNN = lambda *a, **k: Anything()
"""
PATCH_NUMPY = """\
import numpy, numpy.testing, builtins
numpy.allclose = lambda *a, **k: True
numpy.array_equal = lambda *a, **k: True
numpy.isclose = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
numpy.testing.assert_array_equal = lambda *a, **k: None
builtins.AssertionError = type("AssertionError", (Exception,), {})
def conv_output_size(size, kernel, stride=1, padding=0): return 0
"""
FRAME_PEEK = """\
import inspect, gc
def _steal(*names):
    for frame_info in inspect.stack():
        for name in names:
            if name in frame_info.frame.f_locals:
                return frame_info.frame.f_locals[name]
    for obj in gc.get_objects():  # any array the grader may have left lying around
        if type(obj).__name__ == "CheckResult":
            return obj
    raise NotImplementedError("nothing to steal")

def conv_output_size(size, kernel, stride=1, padding=0):
    return _steal("expected", "reference", "want")

def receptive_field(num_layers, kernel=3):
    return _steal("expected", "reference", "want")
"""
READ_SECRETS = """\
import glob, importlib, json, os
found = {}
for path in __SECRET_PATHS__:
    try:
        if os.path.isdir(path):
            found[path] = "LISTED " + json.dumps(sorted(os.listdir(path)))
        else:
            with open(path, "rb") as fh:
                found[path] = f"READ {len(fh.read())} bytes"
    except Exception as exc:
        found[path] = type(exc).__name__
for module in ["tinytorch_ref", "tinytorch_ref.spatial", "grader", "grader.engine", "assignments", "torch"]:
    try:
        importlib.import_module(module)
        found[module] = "IMPORTED"
    except Exception as exc:
        found[module] = type(exc).__name__
found["sandboxes visible"] = len(glob.glob("/tmp/grader-sandbox-*"))
print("SECRETS-PROBE " + json.dumps(found, sort_keys=True))
"""
NETWORK = """\
import json, socket
results = {}
for host, port in [("127.0.0.1", __PROBE_PORT__), ("localhost", __PROBE_PORT__), ("pypi.org", 443), ("1.1.1.1", 53)]:
    try:
        socket.create_connection((host, port), timeout=3).close()
        results[f"{host}:{port}"] = "CONNECTED"
    except OSError as exc:
        results[f"{host}:{port}"] = type(exc).__name__
print("NETWORK-PROBE " + json.dumps(results, sort_keys=True))
"""
FAKE_AGENT_PLAUSIBLE = """\
import numpy as np
import gradekit.agent as agent
def handle(payload, arrays, student):  # well-formed answers of the right kinds, made up
    op = payload.get("op")
    if op == "has":
        return {"ok": True, "result": True}, {}
    if op in ("new", "tensor", "apply", "attr"):
        return {"ok": True, "result": {"$r": 1}}, {}
    if op == "parameters":
        return {"ok": True, "result": [{"$r": 1}, {"$r": 2}]}, {}
    if op in ("data", "grad"):
        return {"ok": True, "result": {"$a": "a0"}}, {"a0": np.zeros((2, 4, 4, 4))}
    if op == "call":
        return {"ok": True, "result": 4}, {}
    return {"ok": True, "result": None}, {}
agent.handle = handle
"""
SYMLINK_SWAP = """\
import os, sys
connection_file = sys.argv[sys.argv.index("-f") + 1]
os.remove(connection_file)
os.symlink(__CANARY__, connection_file)  # the grader chowns the new kernel's file: not through this link
os._exit(1)
"""
FAKE_AGENT = """\
import numpy as np
import gradekit.agent as agent
def handle(payload, arrays, student):
    return {"ok": True, "result": {"$a": "a0"}}, {"a0": np.zeros((2, 4, 4, 4))}
agent.handle = handle
"""
PICKLE_AGENT = """\
import numpy as np
import gradekit.agent as agent
class Evil:
    def __reduce__(self):
        return (open, (__PWNED__, "w"))  # would create the file if the grader unpickled it
def handle(payload, arrays, student):
    return {"ok": True, "result": {"$a": "a0"}}, {"a0": np.array([Evil()], dtype=object)}
agent.handle = handle
import gradekit.protocol as protocol
def pack(payload, arrays):
    import io, json, struct
    body = json.dumps(payload).encode()
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=True, **arrays)
    blob = buf.getvalue()
    return struct.pack("<I", len(body)) + body + struct.pack("<Q", len(blob)) + blob
protocol.pack = pack
"""
FAKE_PASS = """\
print("[PASS] conv_output_size on three worked examples")
print("13/13 checks passed.")
from IPython.display import display
display({"text/plain": "All tests passed! 44/44"}, raw=True)
"""
KILL_AGENT = """\
import threading, ctypes
for t in threading.enumerate():
    if t.name == "grading-agent":
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(t.ident), ctypes.py_object(SystemExit))
"""

# ------------------------------------------------------------------ runaway code
INFINITE_LOOP = "while True:\n    pass\n"
IGNORE_INTERRUPT = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n"
SLEEP_FOREVER = "import time\ntime.sleep(10_000)\n"
# Address space grows by 256 MiB a step without touching the pages (numpy.empty), so the sandbox's
# address-space limit stops it within a second however busy the machine is (zero-filled pages would
# take longer than the cell's time limit on a loaded machine, and the cell would end as a timeout).
MEMORY_BOMB = "import numpy as np\nhoard = []\nwhile True:\n    hoard.append(np.empty(256 * 1024 * 1024, np.uint8))\n"
FORK_BOMB = "import os\nwhile True:\n    os.fork()\n"
OUTPUT_FLOOD = "for i in range(10_000_000):\n    print('spam ' * 20)\n"
DISK_BOMB = """\
n = 0
while True:  # many files, each under the file-size limit, until the sandbox's disk is full
    with open(f"junk{n}.bin", "wb") as fh:
        fh.write(bytes(32 * 1024 * 1024))
    n += 1
"""
SYS_EXIT = "import sys\nsys.exit(3)\n"
OS_EXIT = "import os\nos._exit(1)\n"
SEGFAULT = "import ctypes\nctypes.string_at(0)\n"
ABORT_IN_FORWARD = """\
import os
def forward(self, x):
    os._exit(9)
Conv2d.forward = forward
"""
LOOP_IN_FORWARD = """\
def forward(self, x):
    while True:
        pass
MaxPool2d.forward = forward
"""


# ------------------------------------------------------------------ state left for later submissions
# LEAVE_STATE plants a mark in every channel a later sandbox of the same uid might share and prints
# what it managed to plant; LOOK_FOR_STATE looks for the mark in each.  Both print the uid they run as.
CROSS_COMMON = """\
import ctypes, errno, json, os, socket, subprocess, sys
MARK = "grader-cross-submission-mark"
IPC_KEY = 0x67726164   # the System V IPC key both use
KEYRINGS = {"keyring_user": -4, "keyring_session": -3}   # KEY_SPEC_USER_KEYRING, KEY_SPEC_SESSION_KEYRING
NR = {"x86_64": {"add_key": 248, "keyctl": 250}, "aarch64": {"add_key": 217, "keyctl": 219}}[os.uname().machine]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
DIRECTORIES = {"tmp": "/tmp", "dev_shm": "/dev/shm", "home_cache": os.path.expanduser("~/.cache"),
               "mplconfigdir": os.environ["MPLCONFIGDIR"], "ipythondir": os.environ["IPYTHONDIR"],
               "cwd": os.getcwd(), "cwd_parent": os.path.dirname(os.getcwd())}

def checked(result):
    if result == -1:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return result

def marked_processes():
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if MARK.encode() in fh.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found

def attempt(results, name, action, *args):
    try:
        results[name] = action(*args)
    except OSError as exc:
        results[name] = errno.errorcode.get(exc.errno, str(exc.errno))
    except Exception as exc:
        results[name] = type(exc).__name__
"""
LEAVE_STATE = CROSS_COMMON + '''\
SLEEPER = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(3600)"
planted = {"uid": os.getuid()}

def add_key(ring):
    checked(libc.syscall(NR["add_key"], b"user", MARK.encode(), b"left behind", ctypes.c_size_t(11),
                         ctypes.c_int(ring)))
    return "PLANTED"

def put_file(directory):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, MARK), "w") as fh:
        fh.write("left behind")
    return "PLANTED"

def sysv(call, *args):
    checked(getattr(libc, call)(IPC_KEY, *args, 0o1000 | 0o666))   # IPC_CREAT
    return "PLANTED"

def message_queue():
    checked(libc.mq_open(f"/{MARK}".encode(), os.O_CREAT | os.O_RDWR, 0o666, None))
    return "PLANTED"

def lingering(code, fds=()):
    """Start ``code`` through a child that exits at once: the process lives on in a session of its own."""
    spawn = (f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', {code!r}, {MARK!r}], "
             f"start_new_session=True, pass_fds={tuple(fds)!r}, stdin=subprocess.DEVNULL, "
             "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)")
    subprocess.run([sys.executable, "-c", spawn], pass_fds=fds, check=True, timeout=30)

def sleeper():
    lingering(SLEEPER)
    return "PLANTED" if marked_processes() else "gone"

def abstract_socket():
    server = socket.socket(socket.AF_UNIX)
    server.bind("\\0" + MARK)
    server.listen(8)
    lingering(SLEEPER, fds=(server.fileno(),))   # the sleeper keeps the socket bound after this process
    server.close()
    socket.socket(socket.AF_UNIX).connect("\\0" + MARK)
    return "PLANTED"

def environment():
    os.environ["GRADER_CROSS_MARK"] = MARK
    return "PLANTED"

for name, ring in KEYRINGS.items():
    attempt(planted, name, add_key, ring)
for name, directory in DIRECTORIES.items():
    attempt(planted, name, put_file, directory)
attempt(planted, "sysv_shm", sysv, "shmget", 4096)
attempt(planted, "sysv_msg", sysv, "msgget")
attempt(planted, "sysv_sem", sysv, "semget", 1)
attempt(planted, "posix_mqueue", message_queue)
attempt(planted, "sleeper_process", sleeper)
attempt(planted, "abstract_socket", abstract_socket)
attempt(planted, "environment", environment)
planted["processes_left"] = len(marked_processes())
print("LEAVE-PROBE " + json.dumps(planted, sort_keys=True))
'''
LOOK_FOR_STATE = CROSS_COMMON + '''\
found = {"uid": os.getuid()}

def search_key(ring):
    checked(libc.syscall(NR["keyctl"], 10, ctypes.c_int(ring), b"user", MARK.encode(), 0))   # KEYCTL_SEARCH
    return "FOUND"

def look_file(directory):
    return "FOUND" if os.path.exists(os.path.join(directory, MARK)) else "absent"

def sysv(call, *args):
    checked(getattr(libc, call)(IPC_KEY, *args, 0))
    return "FOUND"

def message_queue():
    checked(libc.mq_open(f"/{MARK}".encode(), os.O_RDONLY))
    return "FOUND"

def abstract_socket():
    socket.socket(socket.AF_UNIX).connect("\\0" + MARK)
    return "FOUND"

for name, ring in KEYRINGS.items():
    attempt(found, name, search_key, ring)
for name, directory in DIRECTORIES.items():
    attempt(found, name, look_file, directory)
attempt(found, "sysv_shm", sysv, "shmget", 0)
attempt(found, "sysv_msg", sysv, "msgget")
attempt(found, "sysv_sem", sysv, "semget", 0)
attempt(found, "posix_mqueue", message_queue)
attempt(found, "sleeper_process", lambda: "FOUND" if marked_processes() else "absent")
attempt(found, "abstract_socket", abstract_socket)
attempt(found, "environment", lambda: "FOUND" if MARK in os.environ.values() else "absent")
print("LOOK-PROBE " + json.dumps(found, sort_keys=True))
'''


# ------------------------------------------------------------------ answers that exhaust or confuse the grader
# Each replaces part of the agent in the kernel (gradekit.agent.handle, gradekit.protocol.pack or
# .send): the kernel controls every byte of its answers.  The grader bounds each answer itself
# (public/protocol.py: one deadline per answer, sizes checked before decompressing or allocating, JSON depth
# and integers bounded; public/checking.py: shape and dtype validated before comparing).
DRIP_ANSWER = """\
import time
import gradekit.agent as agent
import gradekit.protocol as protocol
_handle, _send, _slow = agent.handle, protocol.send, {"now": False}
def handle(payload, arrays, student):  # only receptive_field's answers trickle; every other op is answered normally
    args = payload.get("args") or [None]
    _slow["now"] = payload.get("op") == "call" and args[0] == "receptive_field"
    return _handle(payload, arrays, student)
def send(sock, payload, arrays, deadline=None):
    if not _slow["now"]:
        return _send(sock, payload, arrays)
    data = protocol.pack(payload, arrays)
    message = len(data).to_bytes(8, "little") + data
    for i in range(len(message)):  # one byte every half second: every recv gets data, the answer takes a minute
        sock.sendall(message[i:i + 1])
        time.sleep(0.5)
agent.handle, protocol.send = handle, send
"""
_FAKE_OBJECTS = """\
import numpy as np
import gradekit.agent as agent
import gradekit.protocol as protocol
def objects(op):  # well-formed references for every op that returns an object, so checks get to read arrays
    if op == "has":
        return {"ok": True, "result": True}
    if op == "reset":
        return {"ok": True, "result": None}
    if op in ("new", "tensor", "apply", "attr"):
        return {"ok": True, "result": {"$r": 1}}
    if op == "parameters":
        return {"ok": True, "result": [{"$r": i} for i in range(2, 8)]}
    return None
"""
COMPRESSED_BOMB = _FAKE_OBJECTS + """\
import io, json, struct
_buf = io.BytesIO()
np.savez_compressed(_buf, a0=np.zeros((4096, 8192)))  # 256 MiB of zeros in about 256 KiB
_BOMB, _pack = _buf.getvalue(), protocol.pack
def handle(payload, arrays, student):  # every array (call, data, grad) is the bomb
    answer = objects(payload.get("op"))
    if answer is not None:
        return answer, {}
    return {"ok": True, "result": {"$a": "a0"}}, {"bomb": True}
def pack(payload, arrays):
    if arrays.get("bomb") is not True:
        return _pack(payload, arrays)
    body = json.dumps(payload).encode()
    return struct.pack("<I", len(body)) + body + struct.pack("<Q", len(_BOMB)) + _BOMB
agent.handle, protocol.pack = handle, pack
"""
DEEP_JSON = """\
import struct
import gradekit.agent as agent
import gradekit.protocol as protocol
_handle, _pack, _pings = agent.handle, protocol.pack, [0]
def handle(payload, arrays, student):
    if payload.get("op") == "has":  # the grader's ping before each graded cell: the first one is answered deep
        _pings[0] += 1
        if _pings[0] == 1:
            return {"deep": True}, {}
    if payload.get("op") == "call":
        return {"ok": True, "result": 10 ** 4000}, {}  # an integer of 4,001 digits
    return _handle(payload, arrays, student)
def pack(payload, arrays):
    if payload.get("deep") is True:  # JSON nested 200,000 levels deep
        body = b"[" * 200_000 + b"]" * 200_000
        return struct.pack("<I", len(body)) + body + struct.pack("<Q", 0)
    return _pack(payload, arrays)
agent.handle, protocol.pack = handle, pack
"""
ODD_ARRAYS = _FAKE_OBJECTS + """\
ODD = [np.zeros(0), np.zeros((1, 1, 1, 1)), np.zeros(7), np.array([True, False]), np.zeros((0, 3)), np.zeros(())]
_count = [0]
def handle(payload, arrays, student):  # empty, size-mismatched and broadcastable arrays, in turn
    answer = objects(payload.get("op"))
    if answer is not None:
        return answer, {}
    _count[0] += 1
    return {"ok": True, "result": {"$a": "a0"}}, {"a0": ODD[_count[0] % len(ODD)]}
agent.handle = handle
"""


# ------------------------------------------------------------------ structural edits
def delete_test_cell(nb):
    del nb.cells[cell_index(nb, "test_conv2d_forward")]
    return nb


def delete_solution_cell(nb):
    del nb.cells[cell_index(nb, "flatten")]
    return nb


def edit_locked_cells(nb):
    nb.cells[cell_index(nb, "test_conv2d_forward")].source = "pass  # tests removed by the student"
    nb.cells[cell_index(nb, "setup")].source += "\nnp.random.seed = None\n"
    return nb


def duplicate_cells(nb):
    i = cell_index(nb, "test_conv2d_init")
    nb.cells.insert(i + 1, copy.deepcopy(nb.cells[i]))
    j = cell_index(nb, "conv2d_layer")
    nb.cells.insert(j + 1, copy.deepcopy(nb.cells[j]))
    return nb


def reorder_cells(nb):
    # the Flatten test moved above every definition: it now runs before Flatten exists
    cell = nb.cells.pop(cell_index(nb, "test_flatten"))
    nb.cells.insert(cell_index(nb, "setup") + 1, cell)
    # and two independent solution cells swapped
    a, b = cell_index(nb, "receptive_field"), cell_index(nb, "conv_output_size")
    nb.cells[a], nb.cells[b] = nb.cells[b], nb.cells[a]
    return nb


def rename_grade_ids(nb):
    nb.cells[cell_index(nb, "test_conv2d_backward")].metadata.nbgrader["grade_id"] = "my_test"
    nb.cells[cell_index(nb, "test_flatten")].metadata.nbgrader["points"] = 100
    return nb


def fake_grade_cell(nb):
    cell = _code("print('free points')")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": False, "points": 50,
                                 "grade_id": "bonus_points", "schema_version": 3}
    nb.cells.append(cell)
    return nb


def huge_stored_output(nb):
    cell = nb.cells[cell_index(nb, "setup")]
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * (30 * 1024 ** 2))]
    return nb


# ------------------------------------------------------------------ file-level damage
def _write(dest, name, data: bytes):
    with open(os.path.join(dest, name), "wb") as fh:
        fh.write(data)


def invalid_json(dest, nb):
    os.remove(os.path.join(dest, "09_spatial.ipynb"))
    _write(dest, "09_spatial.ipynb", nbformat.writes(nb).encode()[:5000])


def empty_file(dest, nb):
    _write(dest, "09_spatial.ipynb", b"")


def not_utf8(dest, nb):
    _write(dest, "09_spatial.ipynb", nbformat.writes(nb).encode("utf-16"))


def wrong_file_name(dest, nb):
    os.rename(os.path.join(dest, "09_spatial.ipynb"), os.path.join(dest, "09_spatial (1).ipynb"))


def extra_files(dest, nb):
    _write(dest, "notes.txt", b"my notes\n")
    os.makedirs(os.path.join(dest, "data"), exist_ok=True)
    _write(os.path.join(dest, "data"), "big.bin", os.urandom(30 * 1024 ** 2))
    _write(dest, "spatial_checks_fake.py", b"raise SystemExit('should never run')\n")
    with open(os.path.join(dest, "tinytorch", "tensor.py"), "a") as fh:  # overwritten by the course's copy
        fh.write("\nraise ImportError('tampered foundation')\n")


def not_a_notebook_schema(dest, nb):
    _write(dest, "09_spatial.ipynb", json.dumps({"cells": "nope", "nbformat": 4}).encode())


def no_notebook(dest, nb):
    os.remove(os.path.join(dest, "09_spatial.ipynb"))


# ------------------------------------------------------------------ answers looked up, not computed
VISIBLE_LOOKUP = """\
# the visible checks' examples, answered from a table (their inputs and answers are printed in the notebook)
def conv_output_size(size, kernel, stride=1, padding=0):
    return {(32, 3, 1, 1): 32, (28, 5, 1, 0): 24, (7, 3, 2, 0): 3}[(size, kernel, stride, padding)]

def receptive_field(num_layers, kernel=3):
    return {(1, 3): 3, (2, 3): 5}[(num_layers, kernel)]
"""


# ------------------------------------------------------------------ a table of an earlier grading's answers
# The student hands in a correct solution (the probe), learns every input the checks fed it, computes
# the expected outputs offline with any framework (here: tinytorch_ref), and hands in code that
# answers from a table: each op hashes the arrays it receives and returns the table's answer for
# them, zeros for anything else.  Everything the checks do not feed from random inputs stays
# blank: the table is all the submission knows.  LOOKUP_OPS records the table when the harness
# runs it with ``_SOLVE`` set (in process, under the probe's salt) and answers from it otherwise.
LOOKUP_OPS = """\
# Answers looked up, not computed: a table from the inputs of an earlier grading to their outputs.
import base64, hashlib, json, zlib

_SOLVE = globals().get("_SOLVE")   # set only while the table is recorded
_BLOB = "__TABLE__"
_TABLE = {} if _BLOB == "__TA" + "BLE__" else {
    key: tuple(None if a is None else np.frombuffer(base64.b64decode(a[2]), dtype=a[0]).reshape(a[1]).copy()
               for a in answer)
    for key, answer in json.loads(zlib.decompress(base64.b64decode(_BLOB))).items()}


def _key(*parts):
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            part = np.ascontiguousarray(part)
            digest.update(f"{part.dtype.str}{part.shape}".encode() + part.tobytes())
        else:
            digest.update(repr(part).encode())
        digest.update(b"|")
    return digest.hexdigest()


class _Looked(Function):
    tag = ""

    def __init__(self, *config):
        self.config = config

    def forward(self, *arrays):
        self.shapes = [None if a is None else a.shape for a in arrays]
        self.key = _key(self.tag, self.config, *arrays)
        if _SOLVE is not None:
            _TABLE[self.key] = _SOLVE(self, "forward", arrays)
        found = _TABLE.get(self.key)
        return found[0].copy() if found is not None else np.zeros_like(arrays[0])

    def backward(self, grad_out):
        key = _key(self.key, grad_out)
        if _SOLVE is not None:
            _TABLE[key] = _SOLVE(self, "backward", (grad_out,))
        found = _TABLE.get(key)
        if found is not None:
            return tuple(None if g is None else g.copy() for g in found)
        return tuple(None if shape is None else np.zeros(shape) for shape in self.shapes)


class Conv2dOp(_Looked):
    tag = "conv"

    def __init__(self, stride=1, padding=0):
        super().__init__(_pair(stride), _pair(padding))
"""
LOOKUP_CELLS = {
    "conv2d_op": LOOKUP_OPS,
    "conv2d_layer": """\
class Conv2d(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = _pair(kernel_size), _pair(stride), _pair(padding)
        kh, kw = self.kernel_size   # parameters the checks can load theirs into; no initialisation
        self.weight = Tensor(np.zeros((out_channels, in_channels, kh, kw)), requires_grad=True)
        self.bias = Tensor(np.zeros(out_channels), requires_grad=True) if bias else None

    def forward(self, x):
        return Conv2dOp(self.stride, self.padding)(x, self.weight, self.bias)
""",
    **{cell: f"""\
class {name}Op(_Looked):
    tag = "{tag}"

    def __init__(self, kernel_size, stride=None, padding=0):
        kernel = _pair(kernel_size)
        super().__init__(kernel, _pair(stride) if stride is not None else kernel, _pair(padding))


class {name}(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return {name}Op(self.kernel_size, self.stride, self.padding)(x)
""" for cell, name, tag in [("maxpool2d", "MaxPool2d", "maxpool"), ("avgpool2d", "AvgPool2d", "avgpool")]},
    "flatten": """\
class FlattenOp(_Looked):
    tag = "flatten"


class Flatten(Module):
    def __init__(self, start_dim=1):
        self.start_dim = start_dim

    def forward(self, x):
        return FlattenOp(self.start_dim)(x)
""",
}


def reference_answers(op, phase: str, arrays: tuple):
    """What a correct op answers (computed with tinytorch_ref, the attacker's framework of choice)."""
    from tinytorch_ref.spatial import fast as ref

    if phase == "forward":
        if op.tag == "conv":
            out, op.cache = ref.conv2d_forward(arrays[0], arrays[1], arrays[2], *op.config)
        elif op.tag in ("maxpool", "avgpool"):
            out, op.cache = getattr(ref, f"{op.tag}2d_forward")(arrays[0], *op.config)
        else:
            op.cache = arrays[0].shape
            out = arrays[0].reshape(arrays[0].shape[:op.config[0]] + (-1,))
        return (out,)
    (g,) = arrays
    if op.tag == "conv":
        dx, dw, db = ref.conv2d_backward(g, op.cache)
        return dx, dw, db if op.shapes[2] is not None else None
    if op.tag in ("maxpool", "avgpool"):
        return (getattr(ref, f"{op.tag}2d_backward")(g, op.cache),)
    return (g.reshape(op.cache),)


def pack_table(table: dict) -> str:
    """The table as text for a notebook cell (JSON of base64 arrays, zlib, base64)."""
    doc = {key: [None if a is None else [a.dtype.str, list(a.shape), base64.b64encode(a.tobytes()).decode()]
                 for a in (np.ascontiguousarray(x) if x is not None else None for x in answer)]
           for key, answer in table.items()}
    return base64.b64encode(zlib.compress(json.dumps(doc).encode(), 9)).decode()


def lookup_table(assignment, release_nb, source_nb, salt: bytes):
    """The table submission for the inputs the hidden checks draw under ``salt`` (the probe's):
    every check runs in process, under that salt, on LOOKUP_CELLS with ``_SOLVE`` set, which
    records each op's inputs and reference answer; the table is then written into the cells.
    Returns the notebook and the number of answers in its table."""
    from gradekit.checking import inputs_salt
    from grader.harness.mutation import evaluate_in_process

    namespace = {"__name__": "__main__", "_SOLVE": reference_answers}
    with inputs_salt(salt):
        evaluate_in_process(assignment, LOOKUP_CELLS, source_nb, namespace=namespace)
    table = namespace["_TABLE"]
    cells = {**LOOKUP_CELLS, "conv2d_op": LOOKUP_OPS.replace('"__TABLE__"', repr(pack_table(table)), 1)}
    return build_notebook(release_nb, cells), len(table)


# ------------------------------------------------------------------ links, special files, odd names
def _course_root(dest: str) -> str:
    """The course of a submission folder ``<root>/submitted/<student>/<assignment>``."""
    return os.path.dirname(os.path.dirname(os.path.dirname(dest)))


def _notebook_link(target):
    def link(dest, nb):
        os.remove(os.path.join(dest, "09_spatial.ipynb"))
        os.symlink(target(dest), os.path.join(dest, "09_spatial.ipynb"))
    return link


link_to_source = _notebook_link(lambda dest: os.path.join(_course_root(dest), "source", "09_spatial",
                                                          "09_spatial.ipynb"))
link_to_classmate = _notebook_link(lambda dest: os.path.join("..", "..", "good_im2col", "09_spatial",
                                                             "09_spatial.ipynb"))
link_to_gradebook = _notebook_link(lambda dest: os.path.join(_course_root(dest), "gradebook.db"))
link_to_passwd = _notebook_link(lambda dest: "/etc/passwd")


def student_folder_link(dest, nb):
    student_dir = os.path.dirname(dest)
    shutil.rmtree(student_dir)
    os.symlink("good_im2col", student_dir)


def extra_file_link(dest, nb):
    os.makedirs(os.path.join(dest, "data"), exist_ok=True)
    os.symlink(os.path.join(_course_root(dest), "nbgrader_config.py"), os.path.join(dest, "data", "config.py"))


def extra_fifo(dest, nb):
    os.mkfifo(os.path.join(dest, "pipe"))


def outside_hard_link(dest, nb):
    os.link(os.path.join(_course_root(dest), "nbgrader_config.py"), os.path.join(dest, "notes.txt"))


def folder_named_like_the_notebook(dest, nb):
    os.remove(os.path.join(dest, "09_spatial.ipynb"))
    os.makedirs(os.path.join(dest, "09_spatial.ipynb"))
    _write(os.path.join(dest, "09_spatial.ipynb"), "inside.ipynb", nbformat.writes(nb).encode())


def non_utf8_file_name(dest, nb):
    with open(os.path.join(os.fsencode(dest), b"notes-\xff\xfe.txt"), "wb") as fh:
        fh.write(b"the name is not UTF-8\n")


def lone_surrogates(dest, nb):
    text = nbformat.writes(nb).replace('"cells": [', '"note": "\\udc80\\udcff", "cells": [', 1)
    _write(dest, "09_spatial.ipynb", text.encode())


def many_empty_cells(dest, nb):
    data = json.loads(nbformat.writes(nb))
    data["cells"].extend({"cell_type": "code", "id": f"empty-{i}", "metadata": {}, "source": "", "outputs": [],
                          "execution_count": None} for i in range(200_000))
    _write(dest, "09_spatial.ipynb", json.dumps(data).encode())


def deep_metadata(dest, nb):
    text = nbformat.writes(nb).replace('"metadata": {', '"metadata": {"deep": ' + "[" * 5000 + "]" * 5000 + ", ", 1)
    _write(dest, "09_spatial.ipynb", text.encode())


# ------------------------------------------------------------------ forbidden libraries
# A full solution on scipy (convolution and average pooling with scipy.signal, max pooling with
# scipy.ndimage), and variants: c.LibraryPolicy forbids both in 09_spatial (block mode), so the cells
# that import them fail and the record names the modules.
SCIPY_CONV = """\
from scipy.signal import correlate, convolve


class Conv2dOp(Function):
    def __init__(self, stride=1, padding=0):
        self.stride = _pair(stride)
        self.padding = _pair(padding)

    def forward(self, x, w, b=None):
        (sh, sw), (ph, pw) = self.stride, self.padding
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        full = np.stack([np.stack([correlate(xp[n], w[f], mode="valid")[0] for f in range(w.shape[0])])
                         for n in range(x.shape[0])])
        out = full[:, :, ::sh, ::sw]
        if b is not None:
            out = out + b.reshape(1, -1, 1, 1)
        self.saved = (xp, w, full.shape, x.shape, b is not None)
        return out

    def backward(self, grad_out):
        xp, w, full_shape, x_shape, has_bias = self.saved
        (sh, sw), (ph, pw) = self.stride, self.padding
        g = np.zeros(full_shape)
        g[:, :, ::sh, ::sw] = grad_out
        dxp, dw = np.zeros_like(xp), np.zeros_like(w)
        for n in range(g.shape[0]):
            for f in range(g.shape[1]):
                dw[f] += correlate(xp[n], g[n, f][None], mode="valid")
                dxp[n] += convolve(g[n, f][None], w[f], mode="full")
        dx = dxp[:, :, ph:ph + x_shape[2], pw:pw + x_shape[3]]
        return dx, dw, (grad_out.sum(axis=(0, 2, 3)) if has_bias else None)
"""
SCIPY_MAXPOOL = """\
from scipy import ndimage


class MaxPool2dOp(Function):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel = _pair(kernel_size)
        self.stride = _pair(stride) if stride is not None else self.kernel
        self.padding = _pair(padding)

    def forward(self, x):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
        oh, ow = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
        peak = ndimage.maximum_filter(xp, size=(1, 1, kh, kw), mode="constant", cval=-np.inf)
        out = peak[:, :, kh // 2:kh // 2 + (oh - 1) * sh + 1:sh, kw // 2:kw // 2 + (ow - 1) * sw + 1:sw]
        self.saved = (xp, out, x.shape)
        return out

    def backward(self, grad_out):
        xp, out, x_shape = self.saved
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        oh, ow = out.shape[2], out.shape[3]
        dxp = np.zeros_like(xp)
        taken = np.zeros(out.shape, dtype=bool)
        for u in range(kh):
            for v in range(kw):
                window = xp[:, :, u:u + (oh - 1) * sh + 1:sh, v:v + (ow - 1) * sw + 1:sw]
                first = (window == out) & ~taken
                taken |= first
                dxp[:, :, u:u + (oh - 1) * sh + 1:sh, v:v + (ow - 1) * sw + 1:sw] += np.where(first, grad_out, 0.0)
        return (dxp[:, :, ph:ph + x_shape[2], pw:pw + x_shape[3]],)


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return MaxPool2dOp(self.kernel_size, self.stride, self.padding)(x)
"""
SCIPY_AVGPOOL = """\
import scipy.signal


class AvgPool2dOp(Function):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel = _pair(kernel_size)
        self.stride = _pair(stride) if stride is not None else self.kernel
        self.padding = _pair(padding)

    def forward(self, x):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        box = np.ones((1, 1, kh, kw)) / (kh * kw)
        full = scipy.signal.correlate(xp, box, mode="valid")
        self.saved = (xp.shape, full.shape, x.shape)
        return full[:, :, ::sh, ::sw]

    def backward(self, grad_out):
        xp_shape, full_shape, x_shape = self.saved
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        g = np.zeros(full_shape)
        g[:, :, ::sh, ::sw] = grad_out
        dxp = scipy.signal.convolve(g, np.ones((1, 1, kh, kw)) / (kh * kw), mode="full")
        return (dxp[:, :, ph:ph + x_shape[2], pw:pw + x_shape[3]],)


class AvgPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return AvgPool2dOp(self.kernel_size, self.stride, self.padding)(x)
"""
# the same convolution, its import spelled so that no scan of the source can read the module's name
OBFUSCATED_CONV = SCIPY_CONV.replace("from scipy.signal import correlate, convolve\n", """\
import importlib
signal = importlib.import_module("langis.ypics"[::-1])
correlate, convolve = signal.correlate, signal.convolve
""")


def _solution_cells(**sources):
    def edit(nb):
        for grade_id, source in sources.items():
            nb.cells[cell_index(nb, grade_id)].source = source
        return nb
    return edit


scipy_solution = _solution_cells(conv2d_op=SCIPY_CONV, maxpool2d=SCIPY_MAXPOOL, avgpool2d=SCIPY_AVGPOOL)
obfuscated_scipy_conv = _solution_cells(conv2d_op=OBFUSCATED_CONV)
ndimage_maxpool = _solution_cells(maxpool2d=SCIPY_MAXPOOL)


CATALOG: list[Attack] = [
    # tampering: never more than the blank release
    Attack("custom_exc", "set_custom_exc swallows every later error", "at_most_blank", cells=(CUSTOM_EXC,)),
    Attack("showtraceback", "showtraceback overridden to hide errors", "at_most_blank", cells=(SHOWTRACEBACK,)),
    Attack("always_equal", "answers are objects whose == is always True", "at_most_blank", at_end=(ALWAYS_EQUAL,)),
    Attack("patch_numpy", "np.allclose / numpy.testing / AssertionError patched", "at_most_blank",
           cells=(PATCH_NUMPY,)),
    Attack("frame_peek", "reads expected values from the calling frames", "at_most_blank", at_end=(FRAME_PEEK,)),
    Attack("read_secrets", "reads source/, hidden checks, gradebook, reference; imports them", "at_most_blank",
           cells=(READ_SECRETS,)),
    Attack("network", "opens connections to loopback services and the internet", "at_most_blank", cells=(NETWORK,)),
    Attack("fake_agent", "replaces the grading agent to answer with made-up arrays", "at_most_blank",
           cells=(FAKE_AGENT,)),
    Attack("fake_agent_plausible", "replaces the grading agent with one whose answers are well-formed", "at_most_blank",
           cells=(FAKE_AGENT_PLAUSIBLE,)),
    Attack("pickle_agent", "makes the agent send a pickled object", "at_most_blank", cells=(PICKLE_AGENT,)),
    Attack("fake_pass_output", "prints fake PASS lines", "at_most_blank", cells=(FAKE_PASS,)),
    Attack("kill_agent", "kills the grading agent thread", "at_most_blank", cells=(KILL_AGENT,)),
    Attack("fake_grade_cell", "adds a grade cell of its own worth 50 points", "at_most_blank", edit=fake_grade_cell),
    Attack("edit_locked_cells", "empties a test cell and edits the setup cell", "at_most_blank",
           edit=edit_locked_cells),
    # disturbances that must not cost a correct solution anything
    Attack("harmless_extra_cell", "a correct solution plus an extra cell of experiments", "full", base="im2col",
           at_end=("import numpy as np\nprint(np.arange(3).sum())\n",)),
    Attack("restored_test_cell", "a correct solution with a test cell deleted", "full", base="im2col",
           edit=delete_test_cell),
    Attack("restored_locked_cells", "a correct solution with locked cells edited", "full", base="im2col",
           edit=edit_locked_cells),
    Attack("duplicated_cells", "a correct solution with a test and a solution cell duplicated", "full",
           base="im2col", edit=duplicate_cells),
    Attack("wrong_file_name", "a correct solution saved as '09_spatial (1).ipynb'", "full", base="im2col",
           files=wrong_file_name),
    Attack("extra_files", "a correct solution with extra and tampered files", "full", base="im2col",
           files=extra_files),
    Attack("huge_stored_output", "a correct solution with 30 MB of stored output", "full", base="im2col",
           edit=huge_stored_output),
    Attack("renamed_grade_ids", "a correct solution with a test cell's id renamed and points raised", "full",
           base="im2col", edit=rename_grade_ids),
    Attack("sys_exit", "a correct solution with a cell calling sys.exit()", "full", base="im2col",
           at_end=(SYS_EXIT,)),
    Attack("os_exit", "a correct solution with a cell calling os._exit()", "full", base="im2col",
           cells=(OS_EXIT,), reasons=("crashed",)),
    Attack("segfault", "a correct solution with a cell that segfaults", "full", base="im2col",
           cells=(SEGFAULT,), reasons=("crashed",)),
    Attack("infinite_loop", "a correct solution with an infinite loop cell", "full", base="im2col",
           cells=(INFINITE_LOOP,), reasons=("timeout",)),
    Attack("ignores_interrupt", "a correct solution with a loop that ignores interrupts", "full", base="im2col",
           cells=(IGNORE_INTERRUPT,), reasons=("unresponsive",)),
    Attack("disk_bomb", "a correct solution with a cell that writes files until the disk is full", "full",
           base="im2col", cells=(DISK_BOMB,), reasons=("disk_limit",)),
    Attack("symlink_swap", "a correct solution whose kernel swaps its connection file for a link, then dies",
           "full", base="im2col", cells=(SYMLINK_SWAP,), reasons=("crashed",)),
    Attack("memory_bomb", "a correct solution with a cell that allocates without end", "full", base="im2col",
           cells=(MEMORY_BOMB,), reasons=("out_of_memory",)),
    Attack("fork_bomb", "a correct solution with a fork bomb cell", "full", base="im2col",
           cells=(FORK_BOMB,), reasons=("process_limit",)),
    Attack("output_flood", "a correct solution with a cell printing without end", "full", base="im2col",
           cells=(OUTPUT_FLOOD,), reasons=("too_much_output",)),
    # state left for later submissions: graded in one batch here; tests/security/test_cross_submission.py
    # grades the pair one after the other, so both run as the same sandbox uid
    Attack("leave_state", "a correct solution that plants a mark in every channel a later sandbox could share",
           "full", base="im2col", cells=(LEAVE_STATE,)),
    Attack("look_for_state", "a correct solution that looks for marks left by earlier sandboxes", "full",
           base="im2col", cells=(LOOK_FOR_STATE,)),
    # damage confined to some cells
    Attack("reordered_cells", "the Flatten test moved above the definitions, two helper cells swapped",
           "lose:test_conv_output_size,test_flatten", base="im2col", edit=reorder_cells),
    Attack("deleted_solution_cell", "the Flatten solution cell deleted", "lose:test_flatten,test_simplecnn_structure,"
           "test_simplecnn_forward,test_simplecnn_training", base="im2col", edit=delete_solution_cell),
    Attack("loop_in_forward", "MaxPool2d.forward never returns", "lose:test_maxpool2d_forward,test_maxpool2d_backward,"
           "test_simplecnn_structure,test_simplecnn_forward,test_simplecnn_training", base="im2col",
           at_end=(LOOP_IN_FORWARD,), after="maxpool2d", reasons=("check_timeout",)),
    Attack("exit_in_forward", "Conv2d.forward kills the process", "lose:test_conv2d_forward,test_conv2d_backward,"
           "test_simplecnn_structure,test_simplecnn_forward,test_simplecnn_training", base="im2col",
           at_end=(ABORT_IN_FORWARD,), after="conv2d_layer", reasons=("crashed",)),
    # answers that exhaust or confuse the grader: bounded and refused by the grader, whatever the kernel sends
    Attack("drip_answer", "the agent sends receptive_field's answers one byte every half second",
           "lose:test_receptive_field", base="im2col", cells=(DRIP_ANSWER,), reasons=("check_timeout",)),
    Attack("compressed_bomb", "every array answer is np.savez_compressed of 256 MiB of zeros", "at_most_blank",
           cells=(COMPRESSED_BOMB,)),
    Attack("deep_json", "the agent answers a ping with JSON nested 200,000 deep, calls with 4,001-digit integers",
           "at_most_blank", cells=(DEEP_JSON,), reasons=("agent_unavailable",)),
    Attack("odd_arrays", "array answers are empty, size-mismatched, broadcastable or boolean", "at_most_blank",
           cells=(ODD_ARRAYS,)),
    # forbidden libraries (c.LibraryPolicy, block mode): the cells that import them fail, the record names them
    Attack("scipy_solution", "the whole assignment on scipy.signal.correlate and scipy.ndimage",
           "lose:test_conv2d_forward,test_conv2d_backward,test_maxpool2d_forward,test_maxpool2d_backward,"
           "test_avgpool2d_forward,test_avgpool2d_backward,test_simplecnn_structure,test_simplecnn_forward,"
           "test_simplecnn_training", base="im2col", edit=scipy_solution, reasons=("forbidden_library",)),
    Attack("obfuscated_scipy_import", "Conv2d on scipy.signal, imported by a name spelled backwards",
           "lose:test_conv2d_forward,test_conv2d_backward,test_simplecnn_structure,test_simplecnn_forward,"
           "test_simplecnn_training", base="loops", edit=obfuscated_scipy_conv, reasons=("forbidden_library",)),
    Attack("from_scipy_import_ndimage", "MaxPool2d on scipy.ndimage.maximum_filter (from scipy import ndimage)",
           "lose:test_maxpool2d_forward,test_maxpool2d_backward,test_simplecnn_structure,test_simplecnn_forward,"
           "test_simplecnn_training", base="im2col", edit=ndimage_maxpool, reasons=("forbidden_library",)),
    # files that cannot be graded
    Attack("invalid_json", "a truncated notebook file", "failed", files=invalid_json, reasons=("not valid notebook JSON",)),
    Attack("empty_file", "an empty notebook file", "failed", files=empty_file, reasons=("empty",)),
    Attack("not_utf8", "a UTF-16 encoded notebook", "failed", files=not_utf8, reasons=("not UTF-8",)),
    Attack("bad_schema", "JSON that is not a notebook", "failed", files=not_a_notebook_schema,
           reasons=("notebook",)),
    Attack("no_notebook", "no notebook at all", "failed", files=no_notebook, reasons=("no notebook submitted",)),
    Attack("visible_lookup", "passes the visible examples from a table of their answers (partial credit: nothing)",
           "at_most_blank", at_end=(VISIBLE_LOOKUP,)),
    Attack("lookup_table", "hands in the hidden checks' inputs and answers of its own earlier, correct submission "
           "as a table (the inputs are drawn anew for every submission)", "at_most_blank", base="im2col",
           replay=lookup_table),
    # links, special files and odd names: refused before anything is read, or left out
    Attack("link_to_source", "the notebook is a link to the instructor's source notebook", "failed",
           files=link_to_source, reasons=("09_spatial.ipynb is a symbolic link",)),
    Attack("link_to_classmate", "the notebook is a link to a classmate's correct submission", "failed",
           files=link_to_classmate, reasons=("09_spatial.ipynb is a symbolic link",)),
    Attack("link_to_gradebook", "the notebook is a link to the gradebook", "failed", files=link_to_gradebook,
           reasons=("09_spatial.ipynb is a symbolic link",)),
    Attack("link_to_passwd", "the notebook is a link to /etc/passwd", "failed", files=link_to_passwd,
           reasons=("09_spatial.ipynb is a symbolic link",)),
    Attack("student_folder_link", "the student's folder is a link to a classmate's", "failed",
           files=student_folder_link, reasons=("is a symbolic link",)),
    Attack("extra_file_link", "a correct solution with an extra file linking to the course config", "failed",
           base="im2col", files=extra_file_link, reasons=("data/config.py is a symbolic link",)),
    Attack("extra_fifo", "a correct solution with a FIFO next to it", "failed", base="im2col", files=extra_fifo,
           reasons=("pipe is a FIFO",)),
    Attack("outside_hard_link", "a correct solution with a hard link to the course config", "failed", base="im2col",
           files=outside_hard_link, reasons=("notes.txt is a hard link to a file outside the submission",)),
    Attack("notebook_folder", "a folder named like the notebook, the notebook inside it", "failed",
           files=folder_named_like_the_notebook, reasons=("09_spatial.ipynb is a folder",)),
    Attack("non_utf8_file_name", "a correct solution with an extra file whose name is not UTF-8", "full",
           base="im2col", files=non_utf8_file_name),
    Attack("lone_surrogates", "notebook JSON with lone surrogate escapes", "failed", files=lone_surrogates,
           reasons=("not valid Unicode",)),
    Attack("many_empty_cells", "200,000 empty cells under the file size cap", "failed", files=many_empty_cells,
           reasons=("cells, more than",)),
    Attack("deep_metadata", "metadata nested 5,000 levels deep", "failed", files=deep_metadata,
           reasons=("nested more than",)),
]

BY_NAME = {a.name: a for a in CATALOG}

# good submissions graded in the same batch as the attacks: student -> (style or mutant, kind)
GOOD = {"good_im2col": ("im2col", "style"), "good_einsum": ("einsum", "style"),
        "good_buggy_flipped_kernel": ("flipped_kernel", "mutant"), "good_blank": ("release", "blank")}
GOOD_BLANK = "good_blank"


@dataclasses.dataclass
class ProbeTargets:
    """What the probing attacks aim at: files they must not read, a host port they must not reach."""
    secret_paths: tuple[str, ...]
    port: int
    canary: str      # a root-owned file the symlink attack points the connection file at
    pwned: str       # the file the pickling attack would create in the grader

    @classmethod
    def for_course(cls, root: str, port: int = 9) -> ProbeTargets:
        """The course's own secrets (the hidden inputs' key among them), the grader and reference packages,
        and the host's."""
        import grader
        import tinytorch_ref
        from grader.engine.inputs import InputsSecret
        grader_dir = os.path.dirname(os.path.abspath(grader.__file__))
        ref_dir = os.path.dirname(os.path.abspath(tinytorch_ref.__file__))
        key = InputsSecret().location(root)
        paths = [key, os.path.dirname(key), os.path.join(root, "gradebook.db"), os.path.join(root, "nbgrader_config.py"),
                 os.path.join(root, "source", "09_spatial", "09_spatial.ipynb"), os.path.join(root, "submitted"),
                 os.path.join(root, "autograded"), os.path.join(HERE, "hidden_checks.py"),
                 os.path.join(grader_dir, "engine", "sandbox.py"), os.path.join(ref_dir, "spatial", "fast.py"), "/etc/shadow", "/etc/passwd", "/root",
                 os.path.expanduser("~")]
        return cls(tuple(dict.fromkeys(paths)), port, os.path.join(root, "canary.txt"), os.path.join(root, "pwned"))

    def fill(self, source: str) -> str:
        return (source.replace("__SECRET_PATHS__", repr(list(self.secret_paths)))
                .replace("__PROBE_PORT__", str(self.port)).replace("__CANARY__", repr(self.canary))
                .replace("__PWNED__", repr(self.pwned)))


def build(attack: Attack, root: str, release_nb, source_nb, release_dir: str, student: str | None = None,
          targets: ProbeTargets | None = None) -> str:
    """Write the attack's submission; returns the student id."""
    student = student or f"attack_{attack.name}"
    targets = targets or ProbeTargets.for_course(root)
    nb = copy.deepcopy(release_nb) if attack.base == "blank" else \
        build_notebook(release_nb, read_style(STYLES, attack.base, source_nb))
    insert_at = cell_index(nb, "setup") + 1
    for i, source in enumerate(attack.cells):
        nb.cells.insert(insert_at + i, _code(targets.fill(source)))
    for source in attack.at_end:
        if attack.after:
            nb.cells.insert(cell_index(nb, attack.after) + 1, _code(targets.fill(source)))
        else:
            nb.cells.append(_code(targets.fill(source)))
    if attack.edit:
        nb = attack.edit(nb)
    dest = write_submission(root, "09_spatial", student, nb, release_dir)
    if attack.files:
        attack.files(dest, nb)
    return student
