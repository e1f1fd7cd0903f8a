"""Guardianship is asked in one place: `families.selectors.is_guardian_of`, which attendance reaches
through its own interface (`attendance.guardians`), never by importing families."""

import ast
from datetime import timedelta
from pathlib import Path

import pytest

import attendance
from attendance.guardians import guardian_check_register, is_guardian
from core.errors import DomainError
from families.selectors import is_guardian_of
from families.services import absence_report
from tests.conftest import T0

pytestmark = pytest.mark.django_db


def test_attendance_imports_nothing_from_families():
    root = Path(attendance.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(root)}: {name}" for name in names if name.split(".")[0] == "families"]
    assert offenders == []


def test_families_registers_its_selector_as_attendance_s_guardian_check(parent, student, other_student):
    assert is_guardian(user_id=parent.pk, student_id=student.pk)
    assert not is_guardian(user_id=parent.pk, student_id=other_student.pk)
    assert is_guardian_of(user_id=parent.pk, student_id=student.pk)


def test_without_a_guardian_check_nobody_is_a_parent_to_attendance(parent, session):
    guardian_check_register(None)
    try:
        with pytest.raises(DomainError) as refused:
            absence_report(session=session, parent=parent, reason="Ill", now=T0 - timedelta(days=1))
    finally:
        guardian_check_register(is_guardian_of)
    assert refused.value.code == "not_found"
    session.refresh_from_db()
    assert session.attendance_source == "system_default"
    # Registered again, the same report is accepted.
    absence_report(session=session, parent=parent, reason="Ill", now=T0 - timedelta(days=1))
    session.refresh_from_db()
    assert session.attendance_source == "parent_reported"
