"""Demo data: a few tutors and students with past, running and upcoming sessions, and presence that is true.

Presence is not written into the tables: it is produced by the same service functions the
API calls (`presence_connect/heartbeat/disconnect`, `presence_sweep`), fed with explicit
server times, so every screen shows what the real rules make of real browser behaviour.
Attendance is left at its defaults (`system_default`) for the attendance rules to judge.

It lives in the `demo` app, listed after every other, because it creates rows of all of them
(accounts, whiteboards, sessions, families' parents): no domain app imports one above it.
"""

import time
import uuid
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, transaction
from django.db.models import ProtectedError, Q
from django.utils import timezone

from attendance.models import AttendanceChange, TutoringSession
from core.errors import DomainError
from families.models import Guardian, GuardianStudent
from whiteboard.models import Role, Visibility, WhiteboardSession
from whiteboard.services import presence_connect, presence_disconnect, presence_heartbeat, presence_sweep

PASSWORD = "tutoring-demo"
# Marks the accounts this command made, so --reset never deletes an account someone else made.
EMAIL_DOMAIN = "demo.example.com"
BEAT = 15  # seconds between heartbeats of a visible tab (settings.PRESENCE default)
HIDDEN_BEAT = 60  # browsers throttle timers in background tabs to about once a minute
SWEEP_DELAY = 60  # the sweep runs from cron every minute

ADMIN, TUTOR, STUDENT, PARENT = "admin", "tutor", "student", "parent"
PEOPLE = [
    # username, first name, last name, role
    ("admin", "Ada", "Admin", ADMIN),
    ("maria", "Maria", "Lopez", TUTOR),
    ("james", "James", "Okafor", TUTOR),
    ("priya", "Priya", "Shah", TUTOR),
    ("leo", "Leo", "Martin", STUDENT),
    ("ava", "Ava", "Brown", STUDENT),
    ("noah", "Noah", "Wilson", STUDENT),
    ("mia", "Mia", "Evans", STUDENT),
    ("zoe", "Zoe", "Clarke", STUDENT),
    ("grace", "Grace", "Martin", PARENT),
]
# Parents and their children.
FAMILIES = {"grace": ["leo"]}

# Scenario labels, shown in the session titles so whoever demos knows what to expect.
ON_TIME = "on time"
LATE = "student 12 min late"
NO_SHOW = "student no-show"
LEFT_EARLY = "student left 15 min early"
TUTOR_LATE = "tutor 6 min late"
DROPPED = "student's connection dropped for 2 min"
SECOND_TAB = "student opened a second tab"
BACKGROUND = "student's tab in the background for 15 min"
CRASH = "student's browser crashed"
IN_PERSON = "in person"
RUNNING = "running now"


@dataclass(frozen=True)
class Tab:
    """One browser tab, as minutes from the scheduled start (negative: before it)."""

    role: str
    opens: float
    closes: float
    hidden: tuple[tuple[float, float], ...] = ()  # in the background, beating once a minute
    silent: tuple[tuple[float, float], ...] = ()  # network down: nothing reaches the server
    crashes: bool = False  # stops at `closes` without a disconnect


def on_time(length: int) -> tuple[Tab, ...]:
    return (Tab(TUTOR, -2, length), Tab(STUDENT, -1, length - 0.5))


@dataclass(frozen=True)
class Plan:
    tutor: str
    student: str
    subject: str
    scenario: str
    day: int  # days from today, in the business's time zone
    at: str  # local start time, "HH:MM"
    minutes: int = 45
    tabs: tuple[Tab, ...] | None = None  # None: no whiteboard (in person)


def _past() -> list[Plan]:
    # One line per session, so the list reads as a timetable.
    # fmt: off
    return [
        Plan("maria", "leo", "Algebra", ON_TIME, -13, "16:00", tabs=on_time(45)),
        Plan("james", "noah", "Chemistry", ON_TIME, -12, "17:00", tabs=on_time(45)),
        Plan("priya", "zoe", "Essay writing", SECOND_TAB, -11, "16:30",
             tabs=(Tab(TUTOR, -1, 45), Tab(STUDENT, 0, 44.5), Tab(STUDENT, 10, 30))),
        Plan("maria", "ava", "Geometry", LATE, -10, "16:00", minutes=60,
             tabs=(Tab(TUTOR, -2, 60), Tab(STUDENT, 12, 60))),
        Plan("james", "mia", "Physics", NO_SHOW, -9, "18:00", tabs=(Tab(TUTOR, -3, 45),)),
        Plan("priya", "leo", "Reading", IN_PERSON, -8, "10:00"),
        Plan("maria", "leo", "Algebra", DROPPED, -7, "16:00",
             tabs=(Tab(TUTOR, -1, 45), Tab(STUDENT, 0, 45, silent=((20, 22),)))),
        Plan("james", "noah", "Chemistry", BACKGROUND, -6, "17:00",
             tabs=(Tab(TUTOR, -2, 45), Tab(STUDENT, -1, 45, hidden=((20, 35),)))),
        Plan("priya", "zoe", "Essay writing", CRASH, -5, "16:30",
             tabs=(Tab(TUTOR, -1, 45), Tab(STUDENT, 0, 30, crashes=True))),
        Plan("maria", "ava", "Geometry", LEFT_EARLY, -4, "16:00", minutes=60,
             tabs=(Tab(TUTOR, -1, 60), Tab(STUDENT, 0, 45))),
        Plan("james", "mia", "Physics", TUTOR_LATE, -3, "18:00", tabs=(Tab(TUTOR, 6, 45), Tab(STUDENT, -1, 45))),
        Plan("priya", "leo", "Reading", ON_TIME, -2, "17:00", tabs=on_time(45)),
        Plan("maria", "ava", "Geometry", IN_PERSON, -1, "16:00"),
        Plan("james", "noah", "Chemistry", ON_TIME, -1, "17:30", tabs=on_time(45)),
    ]
    # fmt: on


def _upcoming() -> list[Plan]:
    return [
        Plan("maria", "leo", "Algebra", "", 2, "16:00", tabs=()),
        Plan("james", "mia", "Physics", "", 3, "18:00", tabs=()),
        Plan("priya", "zoe", "Essay writing", "", 5, "16:30", tabs=()),
        Plan("maria", "ava", "Geometry", IN_PERSON, 7, "16:00"),
        Plan("james", "noah", "Chemistry", "", 8, "17:00", tabs=()),
    ]


@dataclass
class _Browser:
    """Speaks to the presence services as the whiteboard client does, with explicit server times."""

    whiteboard_id: int
    user: object
    connection_id: uuid.UUID = field(default_factory=uuid.uuid4)

    def connect(self, at: datetime, visibility: str) -> None:
        presence_connect(
            whiteboard_id=self.whiteboard_id,
            user=self.user,
            connection_id=self.connection_id,
            visibility=visibility,
            now=at,
        )

    def beat(self, at: datetime, visibility: str) -> None:
        try:
            presence_heartbeat(
                whiteboard_id=self.whiteboard_id,
                user=self.user,
                connection_id=self.connection_id,
                visibility=visibility,
                now=at,
            )
        except DomainError as error:
            if error.code != "connection_closed":
                raise
            # What the client does on 409: connect again under a new id.
            self.connection_id = uuid.uuid4()
            self.connect(at, visibility)

    def disconnect(self, at: datetime) -> None:
        presence_disconnect(whiteboard_id=self.whiteboard_id, user=self.user, connection_id=self.connection_id, now=at)


def _signals(tab: Tab, start: datetime, until: datetime | None) -> list[tuple[datetime, str, str]]:
    """(time, action, visibility) of everything one tab sends, cut off at `until` (now) if given."""

    def moment(minutes: float) -> datetime:
        return start + timedelta(minutes=minutes)

    def within(periods, t) -> bool:
        return any(moment(a) <= t < moment(b) for a, b in periods)

    opens, closes = moment(tab.opens), moment(tab.closes)
    signals = [(opens, "connect", Visibility.VISIBLE)]
    t = opens
    while True:
        hidden = within(tab.hidden, t)
        step = timedelta(seconds=HIDDEN_BEAT if hidden else BEAT)
        # The client reports a change of visibility at once, not at its next tick.
        changes = [moment(m) for period in tab.hidden for m in period if t < moment(m) < t + step]
        t = min([t + step, *changes])
        if t >= closes or (until and t > until):
            break
        if not within(tab.silent, t):
            visibility = Visibility.HIDDEN if within(tab.hidden, t) else Visibility.VISIBLE
            signals.append((t, "beat", visibility))
    if until is not None and closes > until:
        return signals  # still open now
    if tab.crashes:
        # A crash sends nothing; the sweep (cron, every minute) closes the connection later.
        signals.append((closes + timedelta(seconds=SWEEP_DELAY), "sweep", Visibility.VISIBLE))
    else:
        signals.append((closes, "disconnect", Visibility.VISIBLE))
    return signals


class Command(BaseCommand):
    help = (
        "Fill the database with demo tutors, students and sessions (past, running now, upcoming) whose "
        "whiteboard presence comes from the real presence rules. Safe to run again; --reset rebuilds it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="Delete the demo accounts and sessions first.")

    def handle(self, *args, reset: bool, **options):
        started = time.perf_counter()
        now = timezone.now().replace(microsecond=0)
        with transaction.atomic():
            if reset:
                self._wipe()
            people = self._people()
            tutors = [people[u] for u, *_, role in PEOPLE if role == TUTOR]
            if TutoringSession.objects.filter(tutor__in=tutors).exists():
                self.stdout.write("Demo sessions exist already; left as they are (--reset rebuilds them).")
            else:
                self._sessions(people, now)
        self._print_logins(people)
        self.stdout.write(f"Done in {time.perf_counter() - started:.1f} s.")

    # --- accounts -------------------------------------------------------------------------

    def _people(self) -> dict:
        User = get_user_model()
        password = make_password(PASSWORD)  # hashed once: hashing is deliberately slow
        people = {}
        for username, first, last, role in PEOPLE:
            user, _ = User.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "email": f"{username}@{EMAIL_DOMAIN}",
                    "password": password,
                    "is_staff": role == ADMIN,
                    "is_superuser": role == ADMIN,
                },
            )
            people[username] = user
        for parent, children in FAMILIES.items():
            guardian, _ = Guardian.objects.get_or_create(user=people[parent])
            for child in children:
                GuardianStudent.objects.get_or_create(guardian=guardian, student=people[child])
        return people

    def _demo_users(self):
        return get_user_model().objects.filter(username__in=[u for u, *_ in PEOPLE], email__endswith=f"@{EMAIL_DOMAIN}")

    def _wipe(self) -> None:
        users = list(self._demo_users())
        sessions = TutoringSession.objects.filter(Q(tutor__in=users) | Q(student__in=users))
        try:
            with transaction.atomic():
                AttendanceChange.objects.filter(session__in=sessions).delete()
        except DatabaseError:
            raise CommandError(
                "The demo sessions have attendance history, which the database keeps append-only; "
                "reset on a fresh database instead."
            ) from None
        try:
            WhiteboardSession.objects.filter(tutoring_session__in=sessions).delete()
            deleted, _ = sessions.delete()
            get_user_model().objects.filter(pk__in=[u.pk for u in users]).delete()
        except ProtectedError as error:
            raise CommandError(f"Demo rows are referenced by other data and cannot be deleted: {error}") from None
        self.stdout.write(f"Deleted {len(users)} demo account(s) and {deleted} session row(s).")

    # --- sessions ---------------------------------------------------------------------------

    def _sessions(self, people: dict, now: datetime) -> None:
        zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
        today = now.astimezone(zone).date()
        # Oldest first, so connection logs and sweeps happen in the order time passed.
        past, upcoming = _past(), _upcoming()
        for plan in [*past, *upcoming]:
            self._session(plan, people, _local(today, plan.day, plan.at, zone), until=None)
        # Last, with the clock read again: its participants' last heartbeat is as recent as it can be.
        now = timezone.now().replace(microsecond=0)
        running = Plan("priya", "mia", "Statistics", RUNNING, 0, "", minutes=60,
                       tabs=(Tab(TUTOR, -2, 60), Tab(STUDENT, 1, 60)))  # fmt: skip
        session = self._session(running, people, (now - timedelta(minutes=20)).replace(second=0), until=now)

        self.stdout.write(
            f"Created {len(past)} past sessions (last two weeks), one running now "
            f"(#{session.pk}, whiteboard #{session.whiteboard_id}, started 20 min ago) and "
            f"{len(upcoming)} upcoming; times are {zone.key} local time."
        )

    def _session(self, plan: Plan, people: dict, start: datetime, *, until: datetime | None) -> TutoringSession:
        title = f"{plan.subject} ({plan.scenario})" if plan.scenario else plan.subject
        session = TutoringSession.objects.create(
            tutor=people[plan.tutor],
            student=people[plan.student],
            title=title,
            scheduled_start=start,
            scheduled_end=start + timedelta(minutes=plan.minutes),
            whiteboard=WhiteboardSession.objects.create() if plan.tabs is not None else None,
        )
        if plan.tabs:
            self._presence(session, plan.tabs, start, until=until)
        return session

    def _presence(self, session: TutoringSession, tabs: tuple[Tab, ...], start: datetime, *, until) -> None:
        users = {Role.TUTOR: session.tutor, Role.STUDENT: session.student}
        browsers = [_Browser(session.whiteboard_id, users[tab.role]) for tab in tabs]
        # Both participants' tabs, merged in time order: the server hears them as they happen.
        signals = sorted(
            (at, index, action, visibility)
            for index, tab in enumerate(tabs)
            for at, action, visibility in _signals(tab, start, until)
        )
        for at, index, action, visibility in signals:
            browser = browsers[index]
            if action == "connect":
                browser.connect(at, visibility)
            elif action == "beat":
                browser.beat(at, visibility)
            elif action == "disconnect":
                browser.disconnect(at)
            else:
                presence_sweep(now=at)

    def _print_logins(self, people: dict) -> None:
        self.stdout.write("")
        self.stdout.write(f"Demo logins (password for all: {PASSWORD})")
        self.stdout.write(f"  {'username':<10} {'role':<8} name")
        for username, _first, _last, role in PEOPLE:
            user = people[username]
            note = "" if user.email == f"{username}@{EMAIL_DOMAIN}" else "  (existing account, not changed)"
            self.stdout.write(f"  {username:<10} {role:<8} {user.get_full_name()}{note}")


def _local(today: date, days: int, at: str, zone: zoneinfo.ZoneInfo) -> datetime:
    hour, minute = (int(part) for part in at.split(":"))
    day = today + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
