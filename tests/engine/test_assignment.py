"""Unit: grader.engine.assignment (discovering, loading and shipping an assignment's content),
on throwaway courses built in tmp_path."""
from __future__ import annotations

import os
import sys
import textwrap

import pytest

from grader.engine import assignment as amod
from grader.engine.assignment import Assignment, AssignmentError

NAME = "01_unit_demo"
KIT_FILES = sorted(f for f in os.listdir(os.path.join(amod.REPO, "gradekit")) if f.endswith(".py"))


def write(path, text=""):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def declare(root, name, body):
    write(root / "assignments" / name / "__init__.py",
          "from grader.engine.assignment import Assignment\n" + textwrap.dedent(body))


@pytest.fixture()
def course(tmp_path):
    """A course with 01_unit_demo (checks package t_checks, hidden checks, shipped files) and 02_unit_other."""
    root = tmp_path / "course"
    write(root / "assignments" / "__init__.py")
    (root / "source" / NAME).mkdir(parents=True)
    declare(root, NAME, """\
        ASSIGNMENT = Assignment(title="T", checks_package="t_checks",
                                ships={"lib": "libsrc", "pick": ("libsrc/a.py", "extra/b.py")},
                                depends=("libsrc", "./extra/../refimpl"))
        """)
    write(root / "assignments" / NAME / "t_checks" / "__init__.py")
    write(root / "assignments" / NAME / "t_checks" / "visible_checks.py", "REGISTRY = 'visible registry'\n")
    write(root / "assignments" / NAME / "hidden_checks.py", "REGISTRY = 'hidden registry'\n")
    write(root / "libsrc" / "a.py", "A = 1\n")
    write(root / "libsrc" / "c.py", "C = 1\n")
    write(root / "libsrc" / "readme.txt", "not shipped\n")
    write(root / "extra" / "b.py", "B = 1\n")
    (root / "source" / "02_unit_other").mkdir()
    declare(root, "02_unit_other", 'ASSIGNMENT = Assignment(title="Other", checks_package="o_checks")\n')
    write(root / "assignments" / "02_unit_other" / "o_checks" / "__init__.py")
    before = set(sys.modules)
    yield root
    for module in set(sys.modules) - before:    # the throwaway course's packages
        if module.startswith("_course_"):
            del sys.modules[module]


# ---------------------------------------------------------------- names

def test_names_are_the_source_folders_that_have_a_content_package(course):
    (course / "source" / "03_no_content").mkdir()
    write(course / "source" / "04_a_file")
    declare(course, "05_no_source", 'ASSIGNMENT = Assignment(title="X", checks_package="x")\n')
    assert amod.names(str(course)) == [NAME, "02_unit_other"]


def test_a_course_without_source_has_no_assignments(tmp_path):
    assert amod.names(str(tmp_path)) == []


def test_a_course_without_its_own_assignments_folder_uses_the_repositorys(tmp_path):
    (tmp_path / "source" / "09_spatial").mkdir(parents=True)
    (tmp_path / "source" / NAME).mkdir()
    assert amod.names(str(tmp_path)) == ["09_spatial"]
    loaded = amod.load(str(tmp_path), "09_spatial")
    assert (loaded.package, loaded.content_dir, loaded.root) == (
        "assignments.09_spatial", os.path.join(amod.REPO, "assignments", "09_spatial"), str(tmp_path))
    assert loaded.source_dir == str(tmp_path / "source" / "09_spatial")


# ---------------------------------------------------------------- load

def test_load_fills_in_name_root_package_and_content_dir(course):
    loaded = amod.load(str(course), NAME)
    assert (loaded.title, loaded.checks_package, loaded.name, loaded.root) == ("T", "t_checks", NAME, str(course))
    assert loaded.package.startswith("_course_") and loaded.package.endswith(f".{NAME}")
    assert len(loaded.package.split(".")[0]) == len("_course_") + 12
    assert loaded.content_dir == str(course / "assignments" / NAME)
    assert loaded.course_dir == str(course)
    assert loaded.source_dir == str(course / "source" / NAME)
    assert loaded.source_notebook == str(course / "source" / NAME / f"{NAME}.ipynb")
    assert loaded.styles_dir == str(course / "assignments" / NAME / "samples" / "styles")
    assert loaded.verdict_dirs() == (str(course / "assignments" / NAME), str(course / "libsrc"),
                                     str(course / "refimpl"))


def test_a_relative_root_is_made_absolute(course, monkeypatch):
    monkeypatch.chdir(course)
    assert amod.load(".", NAME).root == str(course)


def test_a_loaded_assignment_reaches_its_modules_and_registries(course):
    loaded = amod.load(str(course), NAME)
    assert loaded.registry(hidden=False) == "visible registry"
    assert loaded.registry(hidden=True) == "hidden registry"
    assert loaded.module("t_checks.visible_checks").__file__ == str(
        course / "assignments" / NAME / "t_checks" / "visible_checks.py")
    assert [loaded.has(m) for m in ("t_checks", "t_checks.visible_checks", "hidden_checks", "hidden_coverage",
                                    "samples.mutants")] == [True, True, True, False, False]


def test_two_courses_never_share_an_assignment_module(tmp_path, course):
    other = tmp_path / "other"
    write(other / "assignments" / "__init__.py")
    declare(other, NAME, 'ASSIGNMENT = Assignment(title="Other course", checks_package="t_checks")\n')
    first, second = amod.load(str(course), NAME), amod.load(str(other), NAME)
    assert (first.title, second.title) == ("T", "Other course")
    assert first.package != second.package


def test_a_missing_content_package_is_named_with_where_it_was_expected(course):
    (course / "source" / "03_missing").mkdir()
    with pytest.raises(AssignmentError) as info:
        amod.load(str(course), "03_missing")
    assert str(info.value) == (f"assignment '03_missing': expected its content package at "
                               f"{course / 'assignments' / '03_missing'} (an __init__.py defining "
                               "ASSIGNMENT = Assignment(...)); found no such file")


@pytest.mark.parametrize("body, found", [("TITLE = 'no declaration'\n", "NoneType"),
                                         ("ASSIGNMENT = {'title': 'T'}\n", "dict")])
def test_a_content_package_without_an_assignment_declaration_is_refused(course, body, found):
    declare(course, "03_bad", body)
    init = course / "assignments" / "03_bad" / "__init__.py"
    with pytest.raises(AssignmentError) as info:
        amod.load(str(course), "03_bad")
    assert str(info.value) == (f"assignment '03_bad': {init} must define ASSIGNMENT = Assignment(...); "
                               f"found {found}")


def test_assignment_error_is_a_lookup_error():
    assert issubclass(AssignmentError, LookupError)


# ---------------------------------------------------------------- load_all

def test_load_all_loads_every_assignment_or_just_the_ones_asked(course):
    assert [a.name for a in amod.load_all(str(course))] == [NAME, "02_unit_other"]
    assert [a.name for a in amod.load_all(str(course), only=["02_unit_other"])] == ["02_unit_other"]
    assert [a.name for a in amod.load_all(str(course), only=["02_unit_other", NAME])] == [NAME, "02_unit_other"]
    assert [a.name for a in amod.load_all(str(course), only=[])] == [NAME, "02_unit_other"]


def test_load_all_refuses_unknown_names_and_lists_the_known_ones(course, tmp_path):
    with pytest.raises(AssignmentError) as info:
        amod.load_all(str(course), only=[NAME, "99_nope", "98_nope"])
    assert str(info.value) == (f"no assignment named '99_nope', '98_nope' in {course}; "
                               f"the course has: {NAME}, 02_unit_other")
    with pytest.raises(AssignmentError) as info:
        amod.load_all(str(tmp_path / "empty"), only=["x"])
    assert str(info.value) == f"no assignment named 'x' in {tmp_path / 'empty'}; the course has: none"


# ---------------------------------------------------------------- shipped

def test_shipped_lists_the_kit_the_checks_and_the_declared_files(course):
    shipped = amod.load(str(course), NAME).shipped()
    assert list(shipped) == ["gradekit", "t_checks", "lib", "pick"]
    assert shipped["gradekit"] == {f: os.path.join(amod.REPO, "gradekit", f) for f in KIT_FILES}
    assert shipped["t_checks"] == {f: str(course / "assignments" / NAME / "t_checks" / f)
                                   for f in ("__init__.py", "visible_checks.py")}
    assert shipped["lib"] == {"a.py": str(course / "libsrc" / "a.py"), "c.py": str(course / "libsrc" / "c.py")}
    assert shipped["pick"] == {"a.py": str(course / "libsrc" / "a.py"), "b.py": str(course / "extra" / "b.py")}


def test_shipping_from_a_missing_folder_is_refused(course):
    loaded = amod.load(str(course), NAME)
    broken = Assignment(**{**loaded.__dict__, "ships": {"lib": "nowhere"}})
    with pytest.raises(AssignmentError) as info:
        broken.shipped()
    assert str(info.value) == (f"assignment '{NAME}' ships lib/ from {course / 'nowhere'}, which is not a folder")


def test_shipping_a_missing_file_is_refused_naming_every_missing_one(course):
    loaded = amod.load(str(course), NAME)
    broken = Assignment(**{**loaded.__dict__, "ships": {"pick": ("libsrc/a.py", "gone.py", "extra/none.py")}})
    with pytest.raises(AssignmentError) as info:
        broken.shipped()
    assert str(info.value) == (f"assignment '{NAME}' ships pick/ with {course / 'gone.py'}, "
                               f"{course / 'extra' / 'none.py'}, which does not exist")


def test_a_missing_checks_package_is_refused(course):
    loaded = amod.load(str(course), "02_unit_other")
    (course / "assignments" / "02_unit_other" / "o_checks" / "__init__.py").unlink()
    (course / "assignments" / "02_unit_other" / "o_checks").rmdir()
    with pytest.raises(AssignmentError, match=r"ships o_checks/ from .*o_checks, which is not a folder$"):
        loaded.shipped()


def test_two_shipped_files_with_one_name_are_refused(course):
    write(course / "extra" / "a.py", "A = 2\n")
    loaded = amod.load(str(course), NAME)
    clash = Assignment(**{**loaded.__dict__, "ships": {"pick": ("libsrc/a.py", "extra/a.py")}})
    with pytest.raises(AssignmentError):
        clash.shipped()


# ---------------------------------------------------------------- link_shipped

def links(folder):
    return {p.name: os.readlink(p) for p in sorted(folder.iterdir()) if p.is_symlink()}


def test_link_shipped_creates_relative_links_to_every_shipped_file(course):
    loaded = amod.load(str(course), NAME)
    created = amod.link_shipped(loaded)
    dest = course / "source" / NAME
    assert links(dest / "lib") == {"a.py": "../../../libsrc/a.py", "c.py": "../../../libsrc/c.py"}
    assert links(dest / "pick") == {"a.py": "../../../libsrc/a.py", "b.py": "../../../extra/b.py"}
    assert links(dest / "t_checks") == {"__init__.py": "../../../assignments/01_unit_demo/t_checks/__init__.py",
                                        "visible_checks.py": "../../../assignments/01_unit_demo/t_checks/"
                                                             "visible_checks.py"}
    kit = links(dest / "gradekit")
    assert sorted(kit) == KIT_FILES
    assert all(not os.path.isabs(target) for target in kit.values())
    assert all(os.path.samefile(dest / "gradekit" / f, os.path.join(amod.REPO, "gradekit", f)) for f in kit)
    assert (dest / "lib" / "a.py").read_text() == "A = 1\n"
    assert sorted(created) == sorted(str(dest / t / f) for t, fs in loaded.shipped().items() for f in fs)


def test_link_shipped_twice_changes_nothing_the_second_time(course):
    loaded = amod.load(str(course), NAME)
    amod.link_shipped(loaded)
    before = {t: links(course / "source" / NAME / t) for t in ("gradekit", "t_checks", "lib", "pick")}
    assert amod.link_shipped(loaded) == []
    assert {t: links(course / "source" / NAME / t) for t in before} == before


def test_link_shipped_removes_stale_links_and_replaces_wrong_ones_but_keeps_other_files(course):
    loaded = amod.load(str(course), NAME)
    lib = course / "source" / NAME / "lib"
    lib.mkdir(parents=True)
    os.symlink("../../../libsrc/removed.py", lib / "removed.py")    # a file that no longer ships
    os.symlink("../../../extra/b.py", lib / "a.py")                 # points at the wrong file
    write(lib / "notes.md", "mine\n")
    created = amod.link_shipped(loaded)
    assert links(lib) == {"a.py": "../../../libsrc/a.py", "c.py": "../../../libsrc/c.py"}
    assert (lib / "notes.md").read_text() == "mine\n"
    assert str(lib / "a.py") in created and str(lib / "c.py") in created


def test_link_shipped_accepts_a_real_file_equal_to_the_one_it_stands_for(course):
    loaded = amod.load(str(course), NAME)
    lib = course / "source" / NAME / "lib"
    write(lib / "a.py", "A = 1\n")
    created = amod.link_shipped(loaded)
    assert not (lib / "a.py").is_symlink() and (lib / "a.py").read_text() == "A = 1\n"
    assert str(lib / "a.py") not in created and str(lib / "c.py") in created


def test_link_shipped_refuses_a_real_file_that_differs(course):
    loaded = amod.load(str(course), NAME)
    lib = course / "source" / NAME / "lib"
    write(lib / "c.py", "C = 2  # edited in place\n")
    with pytest.raises(AssignmentError) as info:
        amod.link_shipped(loaded)
    assert str(info.value) == (f"{lib / 'c.py'} differs from {course / 'libsrc' / 'c.py'}; lib/ ships that file, "
                               "so this must be a link to it")
    assert (lib / "c.py").read_text() == "C = 2  # edited in place\n"
