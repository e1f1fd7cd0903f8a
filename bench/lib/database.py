"""The bench database: made afresh on PostgreSQL, migrated, with Django set up on it in this process."""

from __future__ import annotations

import os
import time


def recreate(pg_url: str, name: str) -> None:
    """Drop `name` (closing whoever is connected) and make it again, empty."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{pg_url}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup_django(db_url: str) -> None:
    """Django in this process, on the bench database, for population and the in-process timings."""
    os.environ["DATABASE_URL"] = db_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DEBUG"] = "false"
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,testserver"  # the test client's host, for the dashboard
    # Pages render templates; the manifest storage would need collectstatic first.
    os.environ["STATICFILES_BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def migrate(experiments: list[str] | tuple[str, ...] = ()) -> None:
    """Migrate, then run each SQL statement of `experiments` (a schema change tried before its migration)."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    with connection.cursor() as cursor:
        for statement in experiments:
            print(f"Experiment: {statement}")
            cursor.execute(statement)


def prepare(args) -> str:
    """The database of `args` (--pg, --db-name, --sql-after-migrate) made, set up and migrated; returns its URL."""
    db_url = f"{args.pg}/{args.db_name}"
    recreate(args.pg, args.db_name)
    setup_django(db_url)
    migrate(args.sql_after_migrate)
    return db_url


def close_connections() -> None:
    """This process's connections closed, before other processes take the database."""
    from django.db import connections

    connections.close_all()


def write_side(pg_url: str, db_name: str) -> list[dict]:
    """Per table written by heartbeats: updates, how many were HOT (no index touched), size now.

    Statistics reach pg_stat_user_tables a little after the transactions (up to a few seconds)."""
    import psycopg

    time.sleep(2)
    with psycopg.connect(f"{pg_url}/{db_name}", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT relname, n_tup_upd, n_tup_hot_upd, pg_total_relation_size(relid), "
            "(SELECT count(*) FROM pg_index WHERE indrelid = relid) "
            "FROM pg_stat_user_tables WHERE relname IN ('whiteboard_connections', 'whiteboard_sessions') "
            "ORDER BY relname"
        ).fetchall()
    return [
        {"table": name, "updates": upd, "hot_updates": hot, "size_kb": size / 1024, "indexes": indexes}
        for name, upd, hot, size, indexes in rows
    ]
