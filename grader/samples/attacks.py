"""Hostile and broken submissions: tampering attempts, malformed files, runaway code.

Each entry builds one submission (files under ``submitted/<student>/09_spatial/``)
from the released notebook, a correct style or the blank release, plus the
attack.  ``expect`` states what grading must do with it:

* ``"at_most_blank"``: the tampering gains nothing (score <= the blank release's 0);
* ``"full"``: a correct solution survives the disturbance with full marks;
* ``"failed"``: the submission cannot be graded and gets a zero row with a reason;
* ``"lose:<cells>"``: it loses exactly these cells.
``reasons`` lists incident kinds (or a failure-reason fragment) the record must contain.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
from typing import Callable

import nbformat

from .cells import build_notebook, cell_index, read_style, write_submission


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
for module in ["tinytorch_ref", "tinytorch_ref.spatial", "grader", "grader.hidden_checks", "torch"]:
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
import spatial_checks.agent as agent
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
import spatial_checks.agent as agent
def handle(payload, arrays, student):
    return {"ok": True, "result": {"$a": "a0"}}, {"a0": np.zeros((2, 4, 4, 4))}
agent.handle = handle
"""
PICKLE_AGENT = """\
import numpy as np
import spatial_checks.agent as agent
class Evil:
    def __reduce__(self):
        return (open, (__PWNED__, "w"))  # would create the file if the grader unpickled it
def handle(payload, arrays, student):
    return {"ok": True, "result": {"$a": "a0"}}, {"a0": np.array([Evil()], dtype=object)}
agent.handle = handle
import spatial_checks.protocol as protocol
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
MEMORY_BOMB = "hoard = []\nwhile True:\n    hoard.append(bytearray(64 * 1024 * 1024))\n"
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
    Attack("harmless_extra_cell", "a correct solution plus an extra cell of experiments", "full", base="loops",
           at_end=("import numpy as np\nprint(np.arange(3).sum())\n",)),
    Attack("restored_test_cell", "a correct solution with a test cell deleted", "full", base="loops",
           edit=delete_test_cell),
    Attack("restored_locked_cells", "a correct solution with locked cells edited", "full", base="loops",
           edit=edit_locked_cells),
    Attack("duplicated_cells", "a correct solution with a test and a solution cell duplicated", "full",
           base="loops", edit=duplicate_cells),
    Attack("wrong_file_name", "a correct solution saved as '09_spatial (1).ipynb'", "full", base="loops",
           files=wrong_file_name),
    Attack("extra_files", "a correct solution with extra and tampered files", "full", base="loops",
           files=extra_files),
    Attack("huge_stored_output", "a correct solution with 30 MB of stored output", "full", base="loops",
           edit=huge_stored_output),
    Attack("renamed_grade_ids", "a correct solution with a test cell's id renamed and points raised", "full",
           base="loops", edit=rename_grade_ids),
    Attack("sys_exit", "a correct solution with a cell calling sys.exit()", "full", base="loops",
           at_end=(SYS_EXIT,)),
    Attack("os_exit", "a correct solution with a cell calling os._exit()", "full", base="loops",
           cells=(OS_EXIT,), reasons=("crashed",)),
    Attack("segfault", "a correct solution with a cell that segfaults", "full", base="loops",
           cells=(SEGFAULT,), reasons=("crashed",)),
    Attack("infinite_loop", "a correct solution with an infinite loop cell", "full", base="loops",
           cells=(INFINITE_LOOP,), reasons=("timeout",)),
    Attack("ignores_interrupt", "a correct solution with a loop that ignores interrupts", "full", base="loops",
           cells=(IGNORE_INTERRUPT,), reasons=("unresponsive",)),
    Attack("disk_bomb", "a correct solution with a cell that writes files until the disk is full", "full",
           base="loops", cells=(DISK_BOMB,), reasons=("disk_limit",)),
    Attack("symlink_swap", "a correct solution whose kernel swaps its connection file for a link, then dies",
           "full", base="loops", cells=(SYMLINK_SWAP,), reasons=("crashed",)),
    Attack("memory_bomb", "a correct solution with a cell that allocates without end", "full", base="loops",
           cells=(MEMORY_BOMB,), reasons=("out_of_memory",)),
    Attack("fork_bomb", "a correct solution with a fork bomb cell", "full", base="loops",
           cells=(FORK_BOMB,), reasons=("process_limit",)),
    Attack("output_flood", "a correct solution with a cell printing without end", "full", base="loops",
           cells=(OUTPUT_FLOOD,), reasons=("too_much_output",)),
    # damage confined to some cells
    Attack("reordered_cells", "the Flatten test moved above the definitions, two helper cells swapped",
           "lose:test_conv_output_size,test_flatten", base="loops", edit=reorder_cells),
    Attack("deleted_solution_cell", "the Flatten solution cell deleted", "lose:test_flatten,test_simplecnn_structure,"
           "test_simplecnn_forward,test_simplecnn_training", base="loops", edit=delete_solution_cell),
    Attack("loop_in_forward", "MaxPool2d.forward never returns", "lose:test_maxpool2d_forward,test_maxpool2d_backward,"
           "test_simplecnn_structure,test_simplecnn_forward,test_simplecnn_training", base="loops",
           at_end=(LOOP_IN_FORWARD,), after="maxpool2d", reasons=("check_timeout",)),
    Attack("exit_in_forward", "Conv2d.forward kills the process", "lose:test_conv2d_forward,test_conv2d_backward,"
           "test_simplecnn_structure,test_simplecnn_forward,test_simplecnn_training", base="loops",
           at_end=(ABORT_IN_FORWARD,), after="conv2d_layer", reasons=("crashed",)),
    # files that cannot be graded
    Attack("invalid_json", "a truncated notebook file", "failed", files=invalid_json, reasons=("not valid notebook JSON",)),
    Attack("empty_file", "an empty notebook file", "failed", files=empty_file, reasons=("empty",)),
    Attack("not_utf8", "a UTF-16 encoded notebook", "failed", files=not_utf8, reasons=("not UTF-8",)),
    Attack("bad_schema", "JSON that is not a notebook", "failed", files=not_a_notebook_schema,
           reasons=("notebook",)),
    Attack("no_notebook", "no notebook at all", "failed", files=no_notebook, reasons=("no notebook submitted",)),
]

BY_NAME = {a.name: a for a in CATALOG}


@dataclasses.dataclass
class ProbeTargets:
    """What the probing attacks aim at: files they must not read, a host port they must not reach."""
    secret_paths: tuple[str, ...]
    port: int
    canary: str      # a root-owned file the symlink attack points the connection file at
    pwned: str       # the file the pickling attack would create in the grader

    @classmethod
    def for_course(cls, root: str, port: int = 9) -> "ProbeTargets":
        """The course's own secrets, the grader and reference packages, and the host's."""
        import grader
        import tinytorch_ref
        grader_dir = os.path.dirname(os.path.abspath(grader.__file__))
        ref_dir = os.path.dirname(os.path.abspath(tinytorch_ref.__file__))
        paths = [os.path.join(root, "gradebook.db"), os.path.join(root, "nbgrader_config.py"),
                 os.path.join(root, "source", "09_spatial", "09_spatial.ipynb"), os.path.join(root, "submitted"),
                 os.path.join(root, "autograded"), os.path.join(grader_dir, "hidden_checks.py"),
                 os.path.join(ref_dir, "spatial", "fast.py"), "/etc/shadow", "/etc/passwd", "/root",
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
        build_notebook(release_nb, read_style(attack.base, source_nb))
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
