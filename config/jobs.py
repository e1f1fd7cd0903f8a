"""Beat's schedule without a broker, for `dev.py run`: `python -m config.jobs`.

One process ticks through settings.CELERY_BEAT_SCHEDULE with Celery's own schedule objects (so the
intervals and the digest's crontab mean what they mean under beat) and runs each task in-process when
due; what a task queues (e-mails) runs in-process too, eagerly. With CELERY_BROKER_URL set it refuses:
run `celery -A config worker` and `celery -A config beat` instead.
"""

import logging
import sys
import time

from celery.schedules import maybe_schedule

from config.celery import app

logger = logging.getLogger("config.jobs")


class InProcessBeat:
    """Each scheduled task, applied in this process when its schedule says it is due."""

    def __init__(self):
        app.loader.import_default_modules()  # each app's tasks.py, as a worker imports them at start
        self.entries = {
            name: (entry["task"], maybe_schedule(entry["schedule"], app=app))
            for name, entry in app.conf.beat_schedule.items()
        }
        # As beat does on a fresh start: every entry counts from now.
        self.last_run = dict.fromkeys(self.entries, app.now())

    def tick(self) -> tuple[dict[str, object], float]:
        """Run what is due; what each returned (or the error), and the seconds until the next is due."""
        ran: dict[str, object] = {}
        wait = 60.0
        for name, (task_name, schedule) in self.entries.items():
            due, next_in = schedule.is_due(self.last_run[name])
            if due:
                self.last_run[name] = app.now()
                try:
                    ran[name] = app.tasks[task_name].apply(throw=True).result
                except Exception as error:  # one failing job must not stop the others
                    logger.exception("scheduled task %s failed", name)
                    ran[name] = error
            wait = min(wait, next_in)
        return ran, wait


def main() -> int:
    import django

    django.setup()
    if not app.conf.task_always_eager:
        logger.error("CELERY_BROKER_URL is set: run `celery -A config worker` and `celery -A config beat` instead.")
        return 1
    beat = InProcessBeat()
    logger.info("background jobs running in-process: %s", ", ".join(beat.entries))
    while True:
        ran, wait = beat.tick()
        for name, result in ran.items():
            logger.info("%s: %s", name, result)
        time.sleep(max(1.0, min(wait, 30.0)))


if __name__ == "__main__":
    sys.exit(main())
