"""The wire between the sandboxed kernel and the grader carries data, never objects or code, within bounds.

The kernel controls every byte of an answer, its timing and its claimed sizes; these tests play such a
kernel over real socket pairs and crafted archives, and check that the grader's side ends every answer
within the call's timeout and refuses oversized, compressed, lying or deeply nested ones before spending
memory on them.  They need only numpy and pytest, and also run under the lowest supported numpy
(``make test-numpy-min``).
"""
from __future__ import annotations

import io
import json
import pickle
import re
import socket
import struct
import threading
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

from gradekit import protocol
from gradekit.protocol import ProtocolError, Ref
from gradekit.student import StudentError
from grader.engine.remote import AnswerRefused, CallTimedOut, KernelLost, RemoteStudent


def test_round_trip_keeps_numbers_arrays_refs_and_special_floats():
    value = {"x": np.arange(6.0).reshape(2, 3), "n": np.int64(7), "f": float("inf"), "r": Ref(3),
             "l": [True, None, "s", np.float32(0.5)]}
    arrays: dict = {}
    payload = {"result": protocol.encode(value, arrays)}
    back, arrays_in = protocol.unpack(protocol.pack(payload, arrays))
    decoded = protocol.decode(back["result"], arrays_in)
    assert decoded["n"] == 7 and decoded["f"] == float("inf") and decoded["r"] == Ref(3)
    assert decoded["l"] == [True, None, "s", 0.5]
    np.testing.assert_array_equal(decoded["x"], np.arange(6.0).reshape(2, 3))


def test_a_message_without_arrays_carries_no_archive():
    data = protocol.pack({"op": "has", "args": ["conv2d"]}, {})
    body = json.dumps({"op": "has", "args": ["conv2d"]}).encode()
    assert data == struct.pack("<I", len(body)) + body + struct.pack("<Q", 0)
    assert protocol.unpack(data) == ({"op": "has", "args": ["conv2d"]}, {})
    buf = io.BytesIO()
    np.savez(buf)                              # an empty archive (22 bytes) still reads as no arrays
    assert protocol.read_arrays(buf.getvalue()) == {}


def test_a_pickled_object_array_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    data = protocol.pack({"ok": True, "result": {"$a": "a0"}}, {"a0": np.array([Evil()], dtype=object)})
    with pytest.raises(ProtocolError, match="array 'a0' has non-numeric dtype object"):
        protocol.unpack(data)
    assert not marker.exists()


@pytest.mark.parametrize("array", [np.array(["text"]), np.array([b"bytes"]), np.array([1 + 2j]),
                                   np.zeros(2, dtype="datetime64[s]")])
def test_non_numeric_arrays_are_refused(array):
    with pytest.raises(ProtocolError, match="non-numeric dtype"):
        protocol.unpack(protocol.pack({"ok": True}, {"a0": array}))


@pytest.mark.parametrize("data, error", [
    ({"$x": 1}, "unexpected value"), ({"$a": "missing"}, "missing from the message"), ({"$f": "nope"}, "bad float"),
    ({"$r": True}, "unexpected value"), ({"$d": [[1, 2]]}, "malformed mapping"), ({"a": 1, "b": 2}, "unexpected value"),
])
def test_malformed_values_are_refused(data, error):
    with pytest.raises(ProtocolError, match=error):
        protocol.decode(data, {})


def test_deep_nesting_and_long_lists_are_refused():
    nested = []
    for _ in range(30):
        nested = [nested]
    with pytest.raises(ProtocolError, match="nested too deeply"):
        protocol.decode(nested, {})
    with pytest.raises(ProtocolError, match="list too long"):
        protocol.decode(list(range(10_001)), {})


def test_oversized_and_truncated_messages_are_refused():
    with pytest.raises(ProtocolError, match="JSON part larger"):
        protocol.unpack(struct.pack("<I", protocol.MAX_JSON_BYTES + 1) + b"{}")
    good = protocol.pack({"ok": True}, {"a0": np.zeros(3)})
    with pytest.raises(ProtocolError, match="wrong length"):
        protocol.unpack(good[:-5])
    with pytest.raises(ProtocolError, match="not a JSON object"):
        protocol.unpack(protocol.pack([1, 2], {}))


def test_encode_refuses_objects_without_a_reference_table():
    with pytest.raises(ProtocolError, match="cannot send a value of type object"):
        protocol.encode(object(), {})
    table: list = []
    assert protocol.encode(object(), {}, to_ref=lambda o: table.append(o) or len(table)) == {"$r": 1}


# ------------------------------------------------------------------ RemoteStudent against a scripted agent
_OPENED: list[socket.socket] = []


@pytest.fixture(autouse=True)
def close_grader_sockets():
    """The grader's ends of the scripted agents' socket pairs, closed after each test."""
    yield
    while _OPENED:
        _OPENED.pop().close()


def scripted_agent(answers):
    """A connect() for RemoteStudent whose peer answers each request with the next raw reply.

    The replies are shared by every connection: after the grader drops one, the next answers on.
    """
    pending = list(answers)

    def connect():
        ours, theirs = socket.socketpair()
        _OPENED.append(ours)

        def serve():
            with theirs:
                while pending:
                    try:
                        protocol.receive(theirs)
                    except (EOFError, OSError, ProtocolError):
                        return
                    reply = pending.pop(0)
                    if reply == "hang":
                        threading.Event().wait(5)
                        return
                    if reply == "close":
                        return
                    theirs.sendall(struct.pack("<Q", len(reply)) + reply)
        threading.Thread(target=serve, daemon=True).start()
        return ours
    return connect


def reply(payload, arrays=None) -> bytes:
    """A well-formed message, as the real agent sends (protocol.pack)."""
    return protocol.pack(payload, arrays or {})


def test_remote_student_returns_only_validated_data():
    student = RemoteStudent(scripted_agent([
        reply({"ok": True, "result": {"$a": "a0"}}, {"a0": np.ones((2, 2))}),
        reply({"ok": True, "result": True}),
    ]), timeout=2)
    np.testing.assert_array_equal(student.data(Ref(1)), np.ones((2, 2)))
    assert student.has("Conv2d") is True


@pytest.mark.parametrize("answer, error", [
    (reply({"ok": True, "result": {"$a": "a0"}}, {"a0": np.zeros(2)}), "did not answer with True/False"),
    (reply({"ok": True, "result": "yes"}), "did not answer with True/False"),
    (protocol.pack({"ok": True}, {"a0": np.array(["x"])}),
     r"your kernel's answer was refused \(has\): array 'a0' has non-numeric dtype <U1"),
    (reply({"ok": False, "error": "oops"}), r"your kernel's answer was refused \(has\): malformed error"),
])
def test_remote_student_turns_bad_answers_into_student_errors(answer, error):
    student = RemoteStudent(scripted_agent([answer]), timeout=2)
    with pytest.raises(StudentError, match=error):
        student.has("Conv2d")


def test_a_student_error_from_the_agent_keeps_its_words():
    student = RemoteStudent(scripted_agent([reply({"ok": False, "error": {
        "kind": "student", "action": "calling Conv2d(3, 4, 3)", "type": "ValueError", "detail": "bad shape",
        "where": "line 3: raise ValueError('bad shape')"}})]), timeout=2)
    with pytest.raises(StudentError) as info:
        student.new("Conv2d", 3, 4, 3)
    assert str(info.value) == ("calling Conv2d(3, 4, 3) raised ValueError: bad shape "
                               "(line 3: raise ValueError('bad shape'))")


def test_a_silent_agent_times_out_and_a_dead_one_is_lost():
    with pytest.raises(CallTimedOut, match="did not finish within 0.5 s"):
        RemoteStudent(scripted_agent(["hang"]), timeout=0.5).has("x")
    with pytest.raises(KernelLost, match="lost the kernel during has"):
        RemoteStudent(scripted_agent(["close"]), timeout=2).has("x")


def test_a_call_answered_with_a_reference_is_refused():
    student = RemoteStudent(scripted_agent([reply({"ok": True, "result": {"$r": 4}})]), timeout=2)
    with pytest.raises(StudentError, match="returned something that is not a number"):
        student.call("conv_output_size", 5, 3)


# ------------------------------------------------------------------ the whole answer has one deadline
def test_an_answer_dripped_byte_by_byte_times_out_within_the_call_timeout():
    """Every recv gets a byte quickly, so only a deadline over the whole answer stops it."""
    stop = threading.Event()
    answer = reply({"ok": True, "result": True})
    message = struct.pack("<Q", len(answer)) + answer   # ~330 bytes: 16 s at one byte per 50 ms

    def connect():
        ours, theirs = socket.socketpair()

        def drip():
            with theirs:
                try:
                    protocol.receive(theirs)
                    for i in range(len(message)):
                        if stop.wait(0.05):
                            return
                        theirs.sendall(message[i:i + 1])
                except OSError:  # the grader hung up: the drip is over
                    return
        threading.Thread(target=drip, daemon=True).start()
        return ours

    student = RemoteStudent(connect, timeout=1.0)
    start = time.monotonic()
    try:
        with pytest.raises(CallTimedOut, match="has did not finish within 1 s"):
            student.has("Conv2d")
    finally:
        stop.set()
    assert time.monotonic() - start < 1.0 + 3.0   # the timeout plus a generous margin, far below 16 s
    assert student.sock is None                   # the connection is dropped; the next call reconnects


def test_a_request_the_kernel_never_reads_times_out():
    """The request side has the same deadline: sendall to a full socket buffer cannot block forever."""
    peers = []

    def connect():
        ours, theirs = socket.socketpair()
        peers.append(theirs)   # kept open and never read
        return ours

    student = RemoteStudent(connect, timeout=0.5)
    start = time.monotonic()
    with pytest.raises(CallTimedOut, match="set_data did not finish within 0.5 s"):
        student.set_data(Ref(1), np.zeros(500_000))   # 4 MB, far more than a socket buffer holds
    assert time.monotonic() - start < 0.5 + 3.0
    peers[0].close()


def test_receive_refuses_an_oversized_length_before_reading_it():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(struct.pack("<Q", 1 << 40))   # declares a terabyte, sends nothing more
        with pytest.raises(ProtocolError, match=f"larger than {protocol.MAX_MESSAGE_BYTES} bytes"):
            protocol.receive(ours, deadline=time.monotonic() + 5)


def test_receive_with_a_passed_deadline_raises_timeout_error():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(struct.pack("<Q", 10))
        with pytest.raises(TimeoutError):
            protocol.receive(ours, deadline=time.monotonic() - 1)


# ------------------------------------------------------------------ array sizes are checked before anything is read
def npz(members: dict, compression=zipfile.ZIP_STORED) -> bytes:
    """An archive of raw .npy members, written with zipfile (so its CRCs are right whatever the members say)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def npy_header(shape, descr="<f8") -> bytes:
    """A version 1.0 .npy header declaring ``shape`` (the data after it is up to the caller)."""
    header = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def message(npz_blob: bytes, payload=None) -> bytes:
    body = json.dumps(payload or {"ok": True, "result": {"$a": "a0"}}).encode()
    return struct.pack("<I", len(body)) + body + struct.pack("<Q", len(npz_blob)) + npz_blob


def deflated_zeros(shape) -> bytes:
    """np.savez_compressed of zeros(shape), written in 1 MiB pieces so the test never holds the array."""
    nbytes = int(np.prod(shape)) * 8
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("a0.npy", "w", force_zip64=True) as member:
            member.write(npy_header(shape))
            chunk = bytes(1 << 20)
            for _ in range(nbytes // len(chunk)):
                member.write(chunk)
    return buf.getvalue()


def peak_memory_of(fn) -> tuple[int, BaseException | None]:
    """Peak bytes allocated (tracemalloc, which sees numpy's buffers) while ``fn`` runs, and what it raised."""
    tracemalloc.start()
    try:
        fn()
        raised = None
    except BaseException as exc:  # noqa: BLE001 - returned to the test to assert on
        raised = exc
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, raised


def test_a_compressed_answer_that_unpacks_to_256_mib_is_refused_before_decompressing():
    bomb = message(deflated_zeros((4096, 8192)))   # 256 MiB of float64 zeros in about 256 KiB
    assert len(bomb) < 1024 ** 2
    peak, raised = peak_memory_of(lambda: protocol.unpack(bomb))
    assert isinstance(raised, ProtocolError)
    assert str(raised) == ("array 'a0' is compressed (zip method 8); answers travel uncompressed, "
                           "as numpy.savez writes them")
    assert peak < 16 * 1024 ** 2


def test_savez_compressed_is_refused_even_when_small():
    buf = io.BytesIO()
    np.savez_compressed(buf, a0=np.zeros(10))
    with pytest.raises(ProtocolError, match="array 'a0' is compressed"):
        protocol.unpack(message(buf.getvalue()))


def test_a_header_that_lies_about_the_shape_is_refused_before_allocating():
    lying = message(npz({"a0.npy": npy_header((100_000, 100_000)) + bytes(8)}))   # declares 80 GB, carries 8 bytes
    peak, raised = peak_memory_of(lambda: protocol.unpack(lying))
    assert isinstance(raised, ProtocolError)
    assert str(raised) == ("array 'a0' of shape (100000, 100000) and dtype float64 (10000000000 values, "
                           "80000000000 bytes) exceeds what is left of the limits of one message "
                           f"({protocol.MAX_ELEMENTS} values, {protocol.MAX_ARRAY_BYTES} bytes)")
    assert peak < 4 * 1024 ** 2


@pytest.mark.parametrize("members, error", [
    ({"a0.npy": npy_header((3,)) + bytes(16)}, "array 'a0' declares shape (3,) of dtype float64 (24 bytes) "
                                               "but carries 16 bytes"),
    ({"a0.npy": npy_header((2,), descr="<c16") + bytes(32)}, "array 'a0' has non-numeric dtype complex128"),
    ({"a0.npy": npy_header((2,), descr="|O") + bytes(16)}, "array 'a0' has non-numeric dtype object"),
    ({"a0.txt": b"hello"}, "archive member 'a0.txt' is not a .npy array"),
    ({f"a{i}.npy": npy_header((1,)) + bytes(8) for i in range(9)}, "array part lists 9 arrays"),
])
def test_malformed_archives_are_refused_with_what_was_wrong(members, error):
    with pytest.raises(ProtocolError, match=re.escape(error)):
        protocol.unpack(message(npz(members)))


def test_an_end_record_that_lies_about_the_entry_count_is_refused_before_parsing_the_directory():
    good = npz({"a0.npy": npy_header((1,)) + bytes(8)})
    lying = good[:-14] + struct.pack("<HH", 65535, 65535) + good[-10:]   # entries on this disk and in all
    with pytest.raises(ProtocolError, match="array part lists 65535 arrays"):
        protocol.unpack(message(lying))


def test_sizes_in_the_directory_that_disagree_are_refused():
    good = npz({"a0.npy": npy_header((1,)) + bytes(8)})
    central = good.index(b"PK\x01\x02")
    lying = bytearray(good)
    lying[central + 24:central + 28] = struct.pack("<L", 10 ** 9)   # uncompressed size: 1 GB
    with pytest.raises(ProtocolError, match="array 'a0' declares 1000000000 bytes but stores 136"):
        protocol.unpack(message(bytes(lying)))


def test_the_largest_legitimate_answers_pass_and_one_value_more_does_not():
    weight = np.random.default_rng(0).normal(size=(128, 64, 3, 3))   # Conv2d(64, 128, 3).weight
    _, arrays = protocol.unpack(protocol.pack({"ok": True}, {"a0": weight}))
    np.testing.assert_array_equal(arrays["a0"], weight)
    _, arrays = protocol.unpack(protocol.pack({"ok": True}, {"a0": np.ones(protocol.MAX_ELEMENTS)}))
    assert arrays["a0"].shape == (protocol.MAX_ELEMENTS,) and arrays["a0"].sum() == protocol.MAX_ELEMENTS
    with pytest.raises(ProtocolError, match=f"array 'a0' of shape \\({protocol.MAX_ELEMENTS + 1},\\)"):
        protocol.unpack(protocol.pack({"ok": True}, {"a0": np.ones(protocol.MAX_ELEMENTS + 1, dtype=np.uint8)}))
    with pytest.raises(ProtocolError, match="exceeds what is left"):   # two arrays share one budget
        protocol.unpack(protocol.pack({"ok": True}, {"a0": np.ones(protocol.MAX_ELEMENTS // 2 + 1),
                                                     "a1": np.ones(protocol.MAX_ELEMENTS // 2)}))
    assert protocol.MAX_NPZ_BYTES < 9 * 1024 ** 2


# ------------------------------------------------------------------ JSON depth, lengths and integers are bounded
def test_deeply_nested_json_is_a_protocol_error_not_a_recursion_error():
    deep = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(ProtocolError, match="JSON nested 200000 levels deep"):
        protocol.unpack(struct.pack("<I", len(deep)) + deep + struct.pack("<Q", 0))
    deep_objects = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    with pytest.raises(ProtocolError, match="JSON nested 100000 levels deep"):
        protocol.loads(deep_objects)


def test_json_depth_counts_brackets_outside_strings_only():
    assert protocol.json_depth('{"ok": true, "result": {"$d": [["k", [1, [2]]]]}}') == 6
    assert protocol.json_depth('["[[[[", "\\"[[[", "\\\\", "{{{"]') == 1
    assert protocol.loads(b"[" * 64 + b"]" * 64) == eval("[" * 64 + "]" * 64)
    with pytest.raises(ProtocolError, match="JSON nested 65 levels deep"):
        protocol.loads(b"[" * 65 + b"]" * 65)
    assert protocol.loads(('["' + "[" * 5000 + '"]').encode()) == ["[" * 5000]


@pytest.mark.parametrize("text, error", [
    (b"1" + b"0" * 5000, "integer with 5001 digits"),
    (b"[9223372036854775808]", "integer outside the 64-bit range"),
    (b"[-9223372036854775809]", "integer outside the 64-bit range"),
    (b"[NaN]", "NaN is not a value this protocol sends"),
    (b"[1, 2", "malformed JSON"),
    (b"\xff", "JSON part is not UTF-8"),
])
def test_json_that_is_malformed_or_has_absurd_numbers_is_refused(text, error):
    with pytest.raises(ProtocolError, match=error):
        protocol.loads(text)


def test_64_bit_integers_pass():
    assert protocol.loads(b"[-9223372036854775808, 9223372036854775807]") == [-2 ** 63, 2 ** 63 - 1]


@pytest.mark.parametrize("data, error", [
    (10 ** 30, "integer outside the 64-bit range"),
    ({"$r": 2 ** 64}, "reference outside the 64-bit range"),
    ({"$d": [["k", 1]] * 10_001}, "mapping too long"),
    ({"$f": "1" * 65}, "float written with 65 characters"),
])
def test_decode_bounds_integers_mappings_and_floats(data, error):
    with pytest.raises(ProtocolError, match=error):
        protocol.decode(data, {})


def test_refused_answers_reach_the_check_as_student_errors_that_say_why():
    deep = b"[" * 100_000 + b"]" * 100_000
    bomb = message(deflated_zeros((1024, 1024)))
    student = RemoteStudent(scripted_agent([
        struct.pack("<I", len(deep)) + deep + struct.pack("<Q", 0), bomb,
        reply({"ok": True, "result": {"$a": "a0"}}, {"a0": np.zeros(3)}),
    ]), timeout=2)
    with pytest.raises(AnswerRefused) as info:
        student.has("Conv2d")
    assert str(info.value) == "your kernel's answer was refused (has): JSON nested 100000 levels deep (at most 64)"
    assert isinstance(info.value, StudentError) and isinstance(info.value, AssertionError)
    with pytest.raises(AnswerRefused, match=r"refused \(data\): array 'a0' is compressed"):
        student.data(Ref(1))
    # the connection was dropped after each refusal and the next call is answered normally
    np.testing.assert_array_equal(student.data(Ref(1)), np.zeros(3))


def test_answer_refused_survives_pickling():
    refused = pickle.loads(pickle.dumps(AnswerRefused("data", "too big")))
    assert str(refused) == "your kernel's answer was refused (data): too big"
    assert (refused.action, refused.exc_type, refused.detail) == ("answering the grader (data)", "ProtocolError",
                                                                  "too big")
