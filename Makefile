# Everyday targets; each is a thin wrapper so `python3 dev.py ...` stays the one way in.
PY := .venv/bin/python
PG_URL ?= postgres://postgres@127.0.0.1:5432/attendance

.PHONY: run test test-postgres lint format sweep finalize digest bench

run:               ## set up and serve the app with demo data on SQLite
	python3 dev.py run

test:              ## the whole test suite on SQLite
	python3 dev.py test

test-postgres:     ## the whole test suite on PostgreSQL
	DATABASE_URL=$(PG_URL) python3 dev.py test

lint:              ## ruff lint + format check, migrations in sync
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	DEBUG=true $(PY) manage.py makemigrations --check --dry-run

format:
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

sweep:             ## close stale whiteboard connections (cron: every minute)
	$(PY) manage.py sweep_connections

finalize:          ## settle ended sessions nobody marked (cron: every 5 minutes)
	$(PY) manage.py finalize_attendance

digest:            ## e-mail tutors their sessions waiting for a decision (cron: daily)
	$(PY) manage.py send_decision_digest

bench:             ## heartbeat throughput/latency against gunicorn on PostgreSQL, suggestion and dashboard timings
	$(PY) bench/heartbeat_bench.py

.PHONY: schemathesis
schemathesis:      ## schemathesis, all checks, as tutor and student, against gunicorn on a scratch SQLite DB (~2 min)
	$(PY) bench/schemathesis_run.py $(SCHEMATHESIS_ARGS)
