"""Answers are validated before any comparison, with the same verdict under every supported numpy.

Whatever the kernel sends back (through the agent, or a LocalStudent in the student's own kernel),
checks compare it only after gradekit/checking.py has turned it into a float64 array of exactly
the expected shape (``answer_array``, used by ``expect_close`` and ``expect_shape``) or into a number
(``answer_number``, used by ``expect_equal``).  An empty, size-mismatched, broadcastable, complex or
object answer therefore fails its check with a message, instead of comparing elementwise, broadcasting,
or raising inside the grader (which grading would record as the grader's error).  These tests need only
numpy and pytest, and also run under the lowest supported numpy (``make test-numpy-min``); warnings
are errors in them, so a numpy deprecation on the way to a verdict fails here first.
"""
from __future__ import annotations

import numpy as np
import pytest

from gradekit.checking import (
    CheckFailure,
    answer_array,
    answer_number,
    describe_array_mismatch,
    expect_close,
    expect_equal,
    expect_shape,
)
from gradekit.protocol import Ref

from ..conftest import SPATIAL

HIDDEN, VISIBLE = SPATIAL.registry(hidden=True), SPATIAL.registry(hidden=False)

pytestmark = pytest.mark.filterwarnings("error")


# ------------------------------------------------------------------ arrays: exactly the expected shape, numbers only
@pytest.mark.parametrize("got, message", [
    (np.zeros((2, 3)), None),
    (np.zeros((2, 3), dtype=np.int32), None),
    (np.zeros((2, 3), dtype=np.uint8), None),
    (np.zeros((2, 3), dtype=np.float16), None),
    (np.zeros((2, 3), dtype=bool), None),                       # booleans count as 0 and 1
    (np.zeros((2, 3), dtype=">f8"), None),                      # byte order does not matter
    (np.ones((2, 3), dtype=bool), "x: 6 of 6 values differ; the largest difference is 1 at index (0, 0) "
                                  "(expected 0, got 1)."),
    (np.zeros(0), "x: expected shape (2, 3), got (0,) (an empty array)."),
    (np.zeros((0, 3)), "x: expected shape (2, 3), got (0, 3) (an empty array)."),
    (np.zeros(6), "x: expected shape (2, 3), got (6,)."),       # same size, other shape
    (np.zeros((3, 2)), "x: expected shape (2, 3), got (3, 2)."),
    (np.zeros((1, 3)), "x: expected shape (2, 3), got (1, 3)."),  # would broadcast
    (np.zeros(()), "x: expected shape (2, 3), got ()."),         # would broadcast
    (0.0, "x: expected shape (2, 3), got ()."),
    (np.zeros((2, 3, 1)), "x: expected shape (2, 3), got (2, 3, 1)."),
    (np.zeros((2, 3), dtype=complex), "x: expected numbers (bool, int or float), got an array of shape (2, 3) "
                                      "and dtype complex128."),
    (np.full((2, 3), None), "x: expected numbers (bool, int or float), got an array of shape (2, 3) and dtype object."),
    (np.full((2, 3), "0"), "x: expected numbers (bool, int or float), got an array of shape (2, 3) and dtype <U1."),
    (None, "x: expected an array of shape (2, 3), got None."),
    ([[0.0] * 3] * 2, "x: expected an array of shape (2, 3), got a value of type list."),
    (np.full((2, 3), np.nan), "x: 6 of 6 values are NaN or infinite."),
    (np.array([[0, 0, 0], [0, 0, np.inf]]), "x: 1 of 6 values are NaN or infinite."),
])
def test_expect_close_verdicts_on_odd_answers(got, message):
    if message is None:
        expect_close(got, np.zeros((2, 3)), "x")
    else:
        with pytest.raises(CheckFailure) as info:
            expect_close(got, np.zeros((2, 3)), "x")
        assert str(info.value) == message


def test_expect_close_on_empty_expectations():
    expect_close(np.zeros((0, 4)), np.zeros((0, 4)), "x")   # nothing to differ
    with pytest.raises(CheckFailure, match=r"^x: expected shape \(0, 4\), got \(1, 4\)\.$"):
        expect_close(np.zeros((1, 4)), np.zeros((0, 4)), "x")
    with pytest.raises(CheckFailure, match=r"^x: expected shape \(0, 4\), got \(0, 5\) \(an empty array\)\.$"):
        expect_close(np.zeros((0, 5)), np.zeros((0, 4)), "x")


def test_expect_close_keeps_its_tolerances_and_hint():
    expect_close(np.array([1.0 + 1e-7]), np.array([1.0]), "x")
    with pytest.raises(CheckFailure) as info:
        expect_close(np.array([1.0, 2.5]), np.array([1.0, 2.0]), "x", hint="Try again.")
    assert str(info.value) == ("x: 1 of 2 values differ; the largest difference is 0.5 at index (1,) "
                               "(expected 2, got 2.5). Try again.")


def test_answer_array_returns_a_float64_copy_and_can_require_finite_values():
    got = np.array([[1, 2]], dtype=np.int16)
    array = answer_array(got, (1, 2), "x")
    assert array.dtype == np.float64 and array.tolist() == [[1.0, 2.0]]
    array[0, 0] = 5
    assert got[0, 0] == 1
    assert answer_array(np.array([np.nan]), (1,), "x").shape == (1,)
    with pytest.raises(CheckFailure, match=r"^x: 1 of 1 values are NaN or infinite\.$"):
        answer_array(np.array([np.nan]), (1,), "x", finite=True)
    assert answer_array(np.zeros(0), (0,), "x", finite=True).shape == (0,)


@pytest.mark.parametrize("got, message", [
    (np.zeros((2, 3), dtype=bool), None),
    (np.zeros(6), "x: expected shape (2, 3), got (6,)."),
    (np.zeros((2, 3), dtype=complex), "x: expected numbers (bool, int or float), got an array of shape (2, 3) "
                                      "and dtype complex128."),
    (None, "x: expected an array of shape (2, 3), got None."),
    ((2, 3), "x: expected an array of shape (2, 3), got a value of type tuple."),
])
def test_expect_shape_verdicts(got, message):
    if message is None:
        expect_shape(got, (2, 3), "x")
    else:
        with pytest.raises(CheckFailure) as info:
            expect_shape(got, (2, 3), "x")
        assert str(info.value) == message


# ------------------------------------------------------------------ numbers: a number, never an array
# that compares elementwise
@pytest.mark.parametrize("got, message", [
    (32, None),
    (32.0, None),
    (np.int64(32), None),
    (np.float32(32), None),
    (np.array(32), None),                      # a 0-d array is its number
    (np.array(32.0, dtype=np.float16), None),
    (31, "n: expected 32, got 31."),
    (32.5, "n: expected 32, got 32.5."),
    (float("nan"), "n: expected 32, got nan."),
    (np.array([]), "n: expected a number, got an array of shape (0,) and dtype float64, empty."),
    (np.array([32]), "n: expected a number, got an array of shape (1,) and dtype int64."),
    (np.array([[32]]), "n: expected a number, got an array of shape (1, 1) and dtype int64."),
    (np.array(32 + 0j), "n: expected a number, got an array of shape () and dtype complex128."),
    (np.array(None), "n: expected a number, got an array of shape () and dtype object."),
    (None, "n: expected a number, got None."),
    ("32", "n: expected a number, got a value of type str."),
    ([32], "n: expected a number, got a value of type list."),
])
def test_expect_equal_verdicts_on_numbers(got, message):
    if message is None:
        expect_equal(got, 32, "n")
    else:
        with pytest.raises(CheckFailure) as info:
            expect_equal(got, 32, "n")
        assert str(info.value) == message


def test_expect_equal_on_plain_values_and_its_own_misuse():
    expect_equal([(1, 2), (3,)], [(1, 2), (3,)], "shapes")
    with pytest.raises(CheckFailure, match=r"^shapes: expected \[\(1, 2\)\], got \[\(2, 1\)\]\.$"):
        expect_equal([(2, 1)], [(1, 2)], "shapes")
    with pytest.raises(CheckFailure, match=r"^shapes: expected \[\(1, 2\)\], got a value of type list\.$"):
        expect_equal([np.zeros(2)], [(1, 2)], "shapes")
    with pytest.raises(TypeError, match="use expect_close"):   # a check written wrongly is the grader's error
        expect_equal(np.zeros(2), np.zeros(2), "x")


def test_answer_number_returns_plain_python_numbers():
    assert answer_number(np.array(7, dtype=np.uint8), "n") == 7
    assert type(answer_number(np.array(7, dtype=np.uint8), "n")) is int
    assert type(answer_number(np.float64(0.5), "n")) is float
    assert answer_number(True, "n") is True


def test_describe_array_mismatch_on_empty_and_zero_dimensional_arrays():
    assert describe_array_mismatch(np.zeros(0), np.zeros(0), 1e-6, 1e-8) == "both arrays are empty"
    assert describe_array_mismatch(np.array(2.0), np.array(1.0), 1e-6, 1e-8) == (
        "1 of 1 values differ; the largest difference is 1 at index () (expected 1, got 2)")


# ------------------------------------------------------------------ every check, fed odd answers, fails cleanly
class OddStudent:
    """A Student whose every numeric answer (call, data, grad) is the same odd value; objects are references."""

    def __init__(self, answer):
        self.answer = answer

    def has(self, name):
        return True

    def call(self, name, *args, **kwargs):
        return self.answer

    def new(self, class_name, *args, **kwargs):
        return Ref(1)

    def tensor(self, array, requires_grad=False):
        return Ref(2)

    def apply(self, obj, *inputs):
        return Ref(3)

    def backward(self, tensor, grad):
        return None

    def data(self, tensor):
        return self.answer

    def grad(self, tensor):
        return self.answer

    def attr(self, obj, name):
        return Ref(4)

    def parameters(self, obj):
        return [Ref(i) for i in range(10, 16)]

    def set_data(self, tensor, array):
        return None

    def zero_grad(self, tensor):
        return None


ODD_ANSWERS = {
    "empty": np.zeros(0), "empty_2d": np.zeros((0, 3)), "one_value": np.zeros(1), "zero_dim": np.zeros(()),
    "broadcastable": np.ones((1, 1, 1, 1)), "mismatched": np.zeros(7), "bool": np.array([True, False]),
    "float16": np.zeros((2, 2), dtype=np.float16), "nan": np.full(3, np.nan), "int": np.zeros((2, 10), dtype=int),
    "uint8": np.arange(5, dtype=np.uint8), "complex": np.array([1 + 2j]), "object": np.array([None], dtype=object),
}
CHECKS = [c for c in VISIBLE] + [c for c in HIDDEN]


@pytest.mark.parametrize("answer", sorted(ODD_ANSWERS))
def test_every_check_fails_odd_answers_with_a_check_failure(answer):
    """Only AssertionError (a failed check) may come out: anything else would be recorded as grader_error."""
    outcomes = {}
    for check in CHECKS:
        try:
            check.func(OddStudent(ODD_ANSWERS[answer]))
            outcomes[check.name] = "passed"
        except AssertionError as exc:
            assert str(exc), check.name
            outcomes[check.name] = "failed"
    assert len(outcomes) == len(CHECKS) == 36
    assert set(outcomes.values()) == {"failed"}, {k: v for k, v in outcomes.items() if v != "failed"}


@pytest.mark.parametrize("check_name, answer, message", [
    ("test_conv_output_size.output_size_examples", "empty",
     "conv_output_size(32, 3, 1, 1): expected a number, got an array of shape (0,) and dtype float64, empty."),
    ("test_conv_output_size.output_size_grid", "one_value",
     "conv_output_size(size=5, kernel=3, stride=1, padding=0): expected a number, got an array of shape (1,) and "
     "dtype float64. Use floor division: (size + 2*padding - kernel) // stride + 1."),
    ("test_simplecnn_training.cnn_gradient_reaches_conv1", "bool",
     "conv1.weight.grad of SimpleCNN(in_channels=1): expected shape (32, 1, 3, 3), got (2,)."),
    ("test_conv2d_init.conv_init", "complex",
     "Conv2d(3, 5, (2, 3)).weight: expected numbers (bool, int or float), got an array of shape (1,) and "
     "dtype complex128. The weight layout is (out_channels, in_channels, kernel_h, kernel_w)."),
])
def test_odd_answers_fail_with_a_message_naming_what_was_expected(check_name, answer, message):
    check = next(c for c in CHECKS if c.name == check_name)
    with pytest.raises(AssertionError) as info:
        check.func(OddStudent(ODD_ANSWERS[answer]))
    assert str(info.value) == message


class ConvWithOddOutputs(OddStudent):
    """Conv2d layers whose parameters have the right shapes, so checks get past load_params, and whose
    outputs (every other data() answer) are the odd value: the checks' own comparisons meet it."""

    def __init__(self, answer):
        super().__init__(answer)
        self.params: dict[int, np.ndarray] = {}

    def new(self, class_name, cin, cout, kernel, **kwargs):
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        ref = Ref(100 + len(self.params))
        self.params[ref.id + 1000] = np.zeros((cout, cin, kh, kw))
        self.params[ref.id + 2000] = np.zeros(cout)
        return ref

    def attr(self, obj, name):
        return Ref(obj.id + (1000 if name == "weight" else 2000))

    def data(self, tensor):
        return self.params.get(tensor.id, self.answer)

    def set_data(self, tensor, array):
        self.params[tensor.id] = np.array(array)


CONV_CHECKS = ["test_conv2d_forward.conv_forward_grid", "test_conv2d_forward.conv_weight_sharing",
               "test_conv2d_forward.conv_shift", "test_conv2d_forward.conv_no_side_effects"]


@pytest.mark.parametrize("answer", sorted(ODD_ANSWERS))
def test_conv_checks_that_compare_outputs_with_outputs_validate_both_first(answer):
    for name in CONV_CHECKS:
        check = next(c for c in CHECKS if c.name == name)
        with pytest.raises(AssertionError):
            check.func(ConvWithOddOutputs(ODD_ANSWERS[answer]))


@pytest.mark.parametrize("check_name, answer, message", [
    ("test_conv2d_forward.conv_weight_sharing", "empty",
     "Conv2d(2, 3, 3) output: expected shape (1, 3, 4, 3), got (0,) (an empty array)."),
    ("test_conv2d_forward.conv_shift", "broadcastable",
     "Conv2d(2, 2, (3, 2)) output: expected shape (1, 2, 7, 7), got (1, 1, 1, 1)."),
    ("test_conv2d_forward.conv_no_side_effects", "zero_dim",
     "Conv2d(2, 2, 3, padding=1) output on a batch of 3: expected shape (3, 2, 5, 5), got ()."),
    ("test_conv2d_forward.conv_forward_grid", "object",
     "Conv2d(3, 4, 3, stride=1, padding=0) on input (2, 3, 5, 6): expected numbers (bool, int or float), got an "
     "array of shape (1,) and dtype object. Output size per axis is (size + 2*padding - kernel) // stride + 1."),
])
def test_conv_checks_name_the_output_they_expected(check_name, answer, message):
    check = next(c for c in CHECKS if c.name == check_name)
    with pytest.raises(AssertionError) as info:
        check.func(ConvWithOddOutputs(ODD_ANSWERS[answer]))
    assert str(info.value) == message
