"""Unit: grader.engine.nbgrader_ext.execute.check_calls (reading run() calls from a test cell's source)."""
from __future__ import annotations

import pytest

from grader.engine.nbgrader_ext.execute import GradeCellError, check_calls


def test_a_cell_as_the_course_writes_it_gives_the_visible_then_the_hidden_call():
    source = ('run("test_conv")\n'
              '### BEGIN HIDDEN TESTS\n'
              'run("test_conv", hidden=True)\n'
              '### END HIDDEN TESTS')
    assert check_calls(source) == [("test_conv", False), ("test_conv", True)]


def test_hidden_false_is_the_same_as_no_keyword():
    assert check_calls('run("a", hidden=False)') == [("a", False)]
    assert check_calls("run('a')") == [("a", False)]


def test_several_calls_keep_their_order_and_repeats():
    source = 'run("b", hidden=True)\nrun("a")\nrun("b", hidden=True)\n'
    assert check_calls(source) == [("b", True), ("a", False), ("b", True)]


def test_statements_that_are_not_top_level_run_calls_are_ignored():
    source = ("from spatial_checks import run\n"
              "import numpy as np\n"
              "print('checking')\n"
              "checks.run('ignored_attribute_call')\n"
              "result = run('ignored_assignment')\n"
              "if True:\n"
              "    run('ignored_nested')\n"
              "def helper():\n"
              "    run('ignored_in_def')\n"
              "run('kept')\n")
    assert check_calls(source) == [("kept", False)]


@pytest.mark.parametrize("source", [
    "run(group)",          # a name, not a literal
    "run(f'test_{x}')",    # an f-string is not a constant
    "run(3)",              # a constant, but not a string
    "run()",               # no group at all
    "run('a', 'b')",       # two positional arguments
    "run(*groups)",
])
def test_the_group_must_be_a_single_string_literal(source):
    with pytest.raises(GradeCellError) as info:
        check_calls(source)
    assert str(info.value) == "run() needs one string literal (the check group)"


@pytest.mark.parametrize("source, shown", [
    ("run('a', hidden=1)", "keyword(arg='hidden', value=Constant(value=1))"),
    ("run('a', hidden=flag)", "keyword(arg='hidden', value=Name(id='flag', ctx=Load()))"),
    ("run('a', timeout=3)", "keyword(arg='timeout', value=Constant(value=3))"),
    ("run('a', **options)", "keyword(value=Name(id='options', ctx=Load()))"),
])
def test_keywords_other_than_a_literal_hidden_bool_are_refused_and_shown(source, shown):
    with pytest.raises(GradeCellError) as info:
        check_calls(source)
    assert str(info.value) == f"unsupported argument to run(): {shown}"


def test_a_bad_call_after_good_ones_still_refuses_the_cell():
    with pytest.raises(GradeCellError, match=r"^run\(\) needs one string literal"):
        check_calls("run('a')\nrun(name)\n")


@pytest.mark.parametrize("source, detail", [
    ("run(", "'(' was never closed (<unknown>, line 1)"),
    ("run('a')\n  run('b')", "unexpected indent (<unknown>, line 2)"),
    ("%time run('a')", "invalid syntax (<unknown>, line 1)"),   # IPython magics are not Python
])
def test_source_that_does_not_parse_is_refused_with_the_parser_message(source, detail):
    with pytest.raises(GradeCellError) as info:
        check_calls(source)
    assert str(info.value) == f"test cell does not parse: {detail}"
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize("source", ["", "# only a comment\n", "x = 1\nprint(x)", "run"])
def test_a_cell_without_any_run_call_is_refused(source):
    with pytest.raises(GradeCellError) as info:
        check_calls(source)
    assert str(info.value) == 'test cell has no run("<group>") call'


def test_grade_cell_error_is_a_value_error():
    assert issubclass(GradeCellError, ValueError)
