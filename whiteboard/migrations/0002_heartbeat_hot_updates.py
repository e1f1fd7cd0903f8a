"""Heartbeats as HOT updates on PostgreSQL: no index on a column they write, and room on each page.

A heartbeat writes last_signal_at and expires_at of its connection row. With expires_at indexed,
PostgreSQL had to write a new entry in every index of the table on every heartbeat; without it,
and with free space left on each page (fillfactor), it rewrites the row in place.
"""

from django.db import migrations

FILLFACTOR = 70


def leave_room_on_pages(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE whiteboard_connections SET (fillfactor = {FILLFACTOR})")


def fill_pages(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE whiteboard_connections RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("whiteboard", "0001_initial"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="connection",
            name="wb_conn_open_expiry",
        ),
        migrations.RunPython(leave_room_on_pages, fill_pages),
    ]
