# Everyday targets; each is a thin wrapper so `python3 dev.py ...` stays the one way in.
PY := .venv/bin/python
PG_URL ?= postgres://postgres@127.0.0.1:5432/attendance

.PHONY: run test test-postgres lint format sweep finalize digest bench bench-smoke worker beat bench-mail

run:               ## set up and serve the app with demo data on SQLite
	python3 dev.py run

test:              ## the whole test suite on SQLite
	python3 dev.py test

test-postgres:     ## the whole test suite on PostgreSQL
	DATABASE_URL=$(PG_URL) python3 dev.py test

lint:              ## ruff lint + format check, migrations in sync, import contracts (pyproject.toml) kept
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run
	.venv/bin/lint-imports --no-cache

format:
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

worker:            ## run queued background work (needs CELERY_BROKER_URL)
	$(PY) -m celery -A config worker -l INFO

beat:              ## enqueue the schedule: sweep, finaliser, digest (one per deployment)
	$(PY) -m celery -A config beat -l INFO

sweep:             ## close stale whiteboard connections once (beat runs it every minute)
	$(PY) manage.py sweep_connections

finalize:          ## settle ended sessions nobody marked once (beat: every 5 minutes)
	$(PY) manage.py finalize_attendance

digest:            ## e-mail tutors their sessions waiting for a decision (beat: daily)
	$(PY) manage.py send_decision_digest

bench:             ## every measurement in turn, full runs (~6 min): heartbeat throughput and capacity against gunicorn on PostgreSQL, suggestion and dashboard timings
	$(PY) bench/heartbeat_throughput.py
	$(PY) bench/heartbeat_capacity.py
	$(PY) bench/suggestion_timing.py
	$(PY) bench/dashboard_timing.py

bench-smoke:       ## every bench script with --quick (~2 min): proves each still runs end to end; its figures mean little
	$(PY) bench/heartbeat_throughput.py --quick
	$(PY) bench/heartbeat_capacity.py --quick
	$(PY) bench/suggestion_timing.py --quick
	$(PY) bench/dashboard_timing.py --quick
	$(PY) bench/profile_requests.py --quick
	$(PY) bench/schemathesis_run.py --quick
	$(PY) bench/mail_bench.py --quick
	$(PY) bench/webhook_cost.py --quick
	$(PY) bench/outage_gaps.py --quick

bench-mail:        ## PUT attendance latency with a 2 s mail server: sending in the request against queued
	$(PY) bench/mail_bench.py

.PHONY: schemathesis
schemathesis:      ## schemathesis, all checks, as tutor and student, against gunicorn on a scratch SQLite DB (~2 min)
	$(PY) bench/schemathesis_run.py $(SCHEMATHESIS_ARGS)
