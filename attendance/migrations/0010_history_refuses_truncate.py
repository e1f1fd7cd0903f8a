"""On PostgreSQL the database refuses TRUNCATE of attendance_history while it holds history, even for
the table's owner, unless that owner turned on `attendance.allow_history_truncate` for its session
(attendance.history_protection.history_truncate_switch: the test suite's clean-up only)."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION attendance_history_refuse_truncate() RETURNS trigger AS $$
DECLARE
    owner name;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM attendance_history) THEN
        RETURN NULL;  -- nothing to lose
    END IF;
    SELECT tableowner INTO owner FROM pg_tables WHERE schemaname = TG_TABLE_SCHEMA AND tablename = TG_TABLE_NAME;
    IF current_setting('attendance.allow_history_truncate', true) = 'on'
       AND pg_has_role(current_user, owner, 'MEMBER') THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'attendance_history keeps every change: TRUNCATE refused while it holds history'
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER attendance_history_refuse_truncate
    BEFORE TRUNCATE ON attendance_history
    FOR EACH STATEMENT EXECUTE FUNCTION attendance_history_refuse_truncate();
"""

DROP = """
DROP TRIGGER IF EXISTS attendance_history_refuse_truncate ON attendance_history;
DROP FUNCTION IF EXISTS attendance_history_refuse_truncate();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("attendance", "0009_session_updated_at_history_events_disputes")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
