"""Unit: grader.engine.nbgrader_ext.stubs (NameStubs and enclosing_name), on tiny hand-built notebooks."""
from __future__ import annotations

from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from nbgrader.preprocessors import ClearSolutions
from traitlets.config import Config

from grader.engine.nbgrader_ext.stubs import NameStubs, enclosing_name

SOLUTION = {"nbgrader": {"grade": False, "solution": True, "locked": False, "grade_id": "answer",
                         "schema_version": 3}}


def solution_cell(source):
    return new_code_cell(source, metadata=SOLUTION)


def run(*cells, config=None):
    nb = new_notebook(cells=list(cells))
    resources = {}
    nb, out = NameStubs(config=config or Config()).preprocess(nb, resources)
    assert out is resources
    return [c.source for c in nb.cells]


def test_a_method_stub_names_the_class_and_method_and_keeps_its_indentation():
    source = ("class Conv2dOp:\n"
              "    def forward(self, x):\n"
              "        # YOUR CODE HERE\n"
              "        raise NotImplementedError()\n")
    assert run(solution_cell(source)) == [
        "class Conv2dOp:\n"
        "    def forward(self, x):\n"
        "        # YOUR CODE HERE\n"
        '        raise NotImplementedError("Conv2dOp.forward: replace this line with your implementation")\n']


def test_each_stub_of_a_cell_gets_its_own_name():
    source = ("def helper(a):\n"
              "    return a\n"
              "\n"
              "class Pool:\n"
              "    def __init__(self, k):\n"
              "        raise NotImplementedError()\n"
              "\n"
              "    def backward(self, g):\n"
              "        raise NotImplementedError()\n"
              "\n"
              "def outer():\n"
              "    def inner():\n"
              "        raise NotImplementedError()\n"
              "    return inner\n")
    lines = run(solution_cell(source))[0].split("\n")
    assert [line.strip() for line in lines if "NotImplementedError" in line] == [
        'raise NotImplementedError("Pool.__init__: replace this line with your implementation")',
        'raise NotImplementedError("Pool.backward: replace this line with your implementation")',
        'raise NotImplementedError("outer.inner: replace this line with your implementation")',
    ]


def test_a_stub_outside_any_function_says_this_cell():
    source = "def helper():\n    return 1\n# YOUR CODE HERE\nraise NotImplementedError()"
    assert run(solution_cell(source)) == [
        "def helper():\n    return 1\n# YOUR CODE HERE\n"
        'raise NotImplementedError("this cell: replace this line with your implementation")']


def test_cells_without_the_exact_stub_line_are_left_alone():
    markdown = new_markdown_cell("raise NotImplementedError()")
    other_text = solution_cell("def f():\n    raise NotImplementedError()  # later\n")
    custom = solution_cell('def f():\n    raise NotImplementedError("mine")\n')
    plain = new_code_cell("x = 1")
    assert run(markdown, other_text, custom, plain) == [
        "raise NotImplementedError()",
        "def f():\n    raise NotImplementedError()  # later\n",
        'def f():\n    raise NotImplementedError("mine")\n',
        "x = 1",
    ]


def test_any_code_cell_is_rewritten_not_only_solution_cells():
    assert run(new_code_cell("def f():\n    raise NotImplementedError()")) == [
        'def f():\n    raise NotImplementedError("f: replace this line with your implementation")']


def test_running_twice_changes_nothing_more():
    once = run(solution_cell("def f():\n    raise NotImplementedError()"))
    assert run(solution_cell(once[0])) == once


def test_the_stub_and_message_come_from_config_and_double_quotes_become_single():
    config = Config()
    config.NameStubs.stub = "raise NotImplementedError"
    config.NameStubs.message = 'write "{name}" here'
    assert run(solution_cell("def f():\n    raise NotImplementedError\n"), config=config) == [
        "def f():\n    raise NotImplementedError(\"write 'f' here\")\n"]


def test_after_clear_solutions_with_the_course_stub_every_solution_names_its_function():
    """What generate_assignment does: ClearSolutions writes the course's stub, NameStubs then names it."""
    config = Config()
    config.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    source = ("class MaxPool2d:\n"
              "    def forward(self, x):\n"
              "        ### BEGIN SOLUTION\n"
              "        return x.max()\n"
              "        ### END SOLUTION\n")
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb = new_notebook(cells=[solution_cell(source)], metadata={"kernelspec": kernelspec})
    nb, resources = ClearSolutions(config=config).preprocess(nb, {})
    nb, resources = NameStubs(config=config).preprocess(nb, resources)
    assert nb.cells[0].source == (
        "class MaxPool2d:\n"
        "    def forward(self, x):\n"
        "        # YOUR CODE HERE\n"
        '        raise NotImplementedError("MaxPool2d.forward: replace this line with your implementation")\n')


def test_enclosing_name_walks_out_by_indentation():
    lines = ["class A:", "    x = 1", "    def f(self):", "        y = 2", "        z = 3"]
    assert enclosing_name(lines, 4) == "A.f"
    assert enclosing_name(lines, 1) == "A"
    assert enclosing_name(lines, 0) == ""
    assert enclosing_name(["def  spaced (a):", "    pass"], 1) == "spaced"


def test_enclosing_name_names_async_methods_too():
    assert enclosing_name(["class A:", "    async def f(self):", "        pass"], 2) == "A.f"
