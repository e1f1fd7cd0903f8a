"""What the bench scripts share; nothing here imports a script.

- cli: the common arguments (database, cache, --quick, --json) and how a script ends
- database: the bench database made afresh, migrated, Django set up on it; PostgreSQL's write statistics
- population: participants with sessions, whiteboards and tokens; the people the read-side timings need
- server: gunicorn over the bench database, started and always stopped
- driver: the asyncio load driver, standard library only, run in its own process
- load: phases run through the driver against a server, as rows of figures
- machine: what the machine is, and who used its CPU during a phase
- report: tables, summaries, verdicts, medians, JSON

Modules import Django, psycopg and the apps inside their functions: the driver's process
imports this package and must stay light.
"""
