"""CSV export of sessions: rows (plain dicts from the selector) to CSV lines, lazily.

Pure: no database here. The view feeds it `selectors.export_rows`, which reads in chunks,
and streams the lines, so memory stays flat however long the range.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, tzinfo

from attendance.labels import BILLING_LABELS, SOURCE_DESCRIPTIONS, STATUS_LABELS
from reports.figures import person_name

# Spreadsheets run a cell starting with one of these as a formula (CSV injection); tab and
# carriage return are on OWASP's list too.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: str | None) -> str:
    """Text as a spreadsheet shows it and never runs: a leading formula character gets a quote."""
    value = value or ""
    return f"'{value}" if value.startswith(FORMULA_TRIGGERS) else value


def header(zone_name: str) -> list[str]:
    """Column headings in words; times say which zone they are in."""
    zone = f"({zone_name})"
    presence = [
        f"{who} {column}"
        for who in ("Tutor", "Student")
        for column in (f"first joined {zone}", f"last seen {zone}", "active minutes", "reconnects")
    ]
    return [
        "Session",
        "Title",
        f"Date {zone}",
        f"Start {zone}",
        f"End {zone}",
        "Tutor",
        "Student",
        "Tutor attendance",
        "Student attendance",
        "Source",
        "Marked by",
        f"Marked at {zone}",
        "Notes",
        "Whiteboard",
        *presence,
        "Billing outcome",
    ]


def _local(moment: datetime | None, zone: tzinfo, fmt: str) -> str:
    return moment.astimezone(zone).strftime(fmt) if moment else ""


def _name(row: Mapping, prefix: str) -> str:
    username = row[f"{prefix}__username"]
    if username is None:
        return ""
    return person_name(row[f"{prefix}__first_name"] or "", row[f"{prefix}__last_name"] or "", username)


def _presence(row: Mapping, role: str, zone: tzinfo) -> list:
    if row["whiteboard_id"] is None:
        return ["", "", "", ""]
    prefix = f"whiteboard__{role}_"
    joined = row[f"{prefix}connected_at"]
    return [
        _local(joined, zone, "%Y-%m-%d %H:%M:%S"),
        _local(row[f"{prefix}last_activity_at"], zone, "%Y-%m-%d %H:%M:%S"),
        round((row[f"{prefix}total_active_seconds"] or 0) / 60, 1) if joined else "",
        (row[f"{prefix}reconnects"] or 0) if joined else "",
    ]


def session_line(row: Mapping, zone: tzinfo) -> list:
    """One session as CSV cells: times in `zone`, statuses and sources in words, text made safe."""
    return [
        row["pk"],
        safe_text(row["title"]),
        _local(row["scheduled_start"], zone, "%Y-%m-%d"),
        _local(row["scheduled_start"], zone, "%H:%M"),
        _local(row["scheduled_end"], zone, "%H:%M"),
        safe_text(_name(row, "tutor")),
        safe_text(_name(row, "student")),
        STATUS_LABELS.get(row["tutor_attendance_status"], row["tutor_attendance_status"]),
        STATUS_LABELS.get(row["student_attendance_status"], row["student_attendance_status"]),
        SOURCE_DESCRIPTIONS.get(row["attendance_source"], row["attendance_source"]),
        safe_text(_name(row, "attendance_marked_by")),
        _local(row["attendance_marked_at"], zone, "%Y-%m-%d %H:%M:%S"),
        safe_text(row["attendance_notes"]),
        "yes" if row["whiteboard_id"] is not None else "no",
        *_presence(row, "tutor", zone),
        *_presence(row, "student", zone),
        # Last, so the columns before it keep their places for existing spreadsheets; empty while pending.
        BILLING_LABELS.get(row.get("billing_outcome") or "", ""),
    ]


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a generator."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Mapping], *, zone: tzinfo, zone_name: str) -> Iterator[str]:
    """The CSV text, line by line: a byte-order mark (so Excel reads UTF-8), the header, then one line a session."""
    writer = csv.writer(_Echo())
    yield "\ufeff"
    yield writer.writerow(header(zone_name))
    for row in rows:
        yield writer.writerow(session_line(row, zone))


# --- decisions on suggestions (the agreement page's CSV, issue 19) ---------------


def agreement_header(zone_name: str) -> list[str]:
    return [
        "Change",
        "Session",
        f"Decided at ({zone_name})",
        "Tutor",
        "Participant",
        "Suggested",
        "Rule confidence",
        "Decided",
        "How",
        "Kept the suggestion",
    ]


def agreement_line(decision, *, zone: tzinfo, tutor_names: Mapping[int, str]) -> list:
    return [
        decision.change_id,
        decision.session_id,
        _local(decision.changed_at, zone, "%Y-%m-%d %H:%M:%S"),
        safe_text(tutor_names.get(decision.tutor_id, "")),
        decision.role,
        STATUS_LABELS.get(decision.suggested, decision.suggested),
        f"{decision.confidence:.2f}",
        STATUS_LABELS.get(decision.decided, decision.decided),
        "chose a status" if decision.chosen else "applied the suggestion (not counted)",
        ("yes" if decision.decided == decision.suggested else "no") if decision.chosen else "",
    ]


def agreement_csv_lines(
    decisions: Iterable, *, zone: tzinfo, zone_name: str, tutor_names: Mapping[int, str]
) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"
    yield writer.writerow(agreement_header(zone_name))
    for decision in decisions:
        yield writer.writerow(agreement_line(decision, zone=zone, tutor_names=tutor_names))
