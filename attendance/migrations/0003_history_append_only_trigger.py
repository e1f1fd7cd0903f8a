"""On PostgreSQL the database itself refuses UPDATE and DELETE on attendance_history."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION attendance_history_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'attendance_history is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER attendance_history_append_only
    BEFORE UPDATE OR DELETE ON attendance_history
    FOR EACH ROW EXECUTE FUNCTION attendance_history_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS attendance_history_append_only ON attendance_history;
DROP FUNCTION IF EXISTS attendance_history_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("attendance", "0002_history")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
