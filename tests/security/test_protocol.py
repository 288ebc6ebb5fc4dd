"""The wire between the sandboxed kernel and the grader carries data, never objects or code."""
from __future__ import annotations

import socket
import struct
import threading

import numpy as np
import pytest

from grader.public import protocol
from grader.public.protocol import ProtocolError, Ref
from grader.public.student import StudentError
from grader.remote import CallTimedOut, KernelLost, RemoteStudent


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


def test_a_pickled_object_array_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    data = protocol.pack({"ok": True, "result": {"$a": "a0"}}, {"a0": np.array([Evil()], dtype=object)})
    with pytest.raises(ProtocolError, match="unreadable arrays"):
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
def scripted_agent(answers):
    """A connect() for RemoteStudent whose peer answers each request with the next raw reply."""
    def connect():
        ours, theirs = socket.socketpair()

        def serve():
            with theirs:
                for reply in answers:
                    try:
                        protocol.receive(theirs)
                    except (EOFError, OSError, ProtocolError):
                        return
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
    (protocol.pack({"ok": True}, {"a0": np.array(["x"])}), "unusable"),
    (reply({"ok": False, "error": "oops"}), "malformed error"),
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
