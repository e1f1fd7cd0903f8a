"""Service functions only the presence socket needs (issue 13): its batched opens and liveness.

The consumer (whiteboard/consumers.py) and the node's loop (whiteboard/liveness.py) are doors and
plumbing; what a batch of pings means for presence is decided here, on top of the presence rules in
`whiteboard.services` (a signal that needs the locked path takes `presence_heartbeat`); the batch's
SQL is `fastpath.write_liveness`.
"""

import dataclasses
import logging
import uuid
from datetime import datetime
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.db import connection as db
from django.utils import timezone

from accounts.services import tokens_live
from core.errors import DomainError
from whiteboard import fastpath
from whiteboard.models import Connection, Visibility
from whiteboard.presence import PresenceSettings
from whiteboard.selectors import presence_summaries, presence_summary
from whiteboard.services import ConnectionResult, presence_connect, presence_heartbeat

BATCH_SIZE = 500  # signals per read and UPDATE; sockets per batch of opens

logger = logging.getLogger(__name__)


class LivenessSignal(NamedTuple):
    """The last signal (ping) a node heard on one socket, kept in memory until the node's next batch write.

    A tuple, not a dataclass: one is made per ping, and a tuple costs a fraction of it."""

    whiteboard_id: int
    user_id: int
    connection_id: uuid.UUID
    at: datetime
    visibility: str


class OpenRequest(NamedTuple):
    """A socket asking to open presence: its user (signed in by the session cookie) or the token it sent,
    the connection it had before its socket dropped (or None) and its visibility."""

    whiteboard_id: int
    user: object | None
    token: object | None  # as the client sent it: checked by `tokens_live`
    resume: uuid.UUID | None
    visibility: str


def presence_open_batch(*, requests: list[OpenRequest]) -> list[tuple[object, ConnectionResult] | Exception]:
    """Open presence for the sockets of a node that asked at about the same time: for each request, in
    order, (user, result) or the error that socket gets (a DomainError: refused; anything else: it fails).

    The same decisions as one socket at a time (`token_live`, then `presence_resume` or
    `presence_connect`), in fewer statements, so that a reconnect storm costs the database a few
    statements per batch instead of three per socket: every token in one query; on PostgreSQL every
    resume whose connection is alive renewed in one statement under the fast heartbeat's conditions
    (`fastpath.resume_alive`) and who is here read for all their whiteboards in one more. The rest (new
    connections, a connection closed or timed out meanwhile, a visibility changed while away, SQLite) go
    one by one through the same services, exactly as before. One request's failure is its own.
    """
    now = timezone.now()
    results: list = [None] * len(requests)
    users: list = [r.user for r in requests]
    by_token = [i for i, r in enumerate(requests) if r.user is None]
    for i, found in zip(by_token, tokens_live(keys=[requests[i].token for i in by_token], now=now), strict=True):
        if isinstance(found, DomainError):
            results[i] = found
        else:
            users[i] = found.user
    if db.vendor == "postgresql":
        conf = PresenceSettings.current()
        # Each resume by what names its connection: (connection id, user id, whiteboard id).
        resuming = {
            i: (r.resume, users[i].pk, r.whiteboard_id)
            for i, r in enumerate(requests)
            if results[i] is None and r.resume is not None
        }
        renewed = fastpath.resume_alive(
            [
                (*key, now, now + conf.timeout(requests[i].visibility), requests[i].visibility)
                for i, key in resuming.items()
            ]
        )
        alive = {i: renewed[key] for i, key in resuming.items() if key in renewed}  # index -> role
        summaries = presence_summaries(whiteboard_ids={requests[i].whiteboard_id for i in alive}, now=now)
        for i, role in alive.items():
            r = requests[i]
            presence = summaries[r.whiteboard_id]
            results[i] = (
                users[i],
                ConnectionResult.of(r.resume, role, visibility=r.visibility, conf=conf, presence=presence),
            )
    for i, r in enumerate(requests):
        if results[i] is not None:
            continue
        try:
            if r.resume is not None:
                result = presence_resume(
                    whiteboard_id=r.whiteboard_id, user=users[i], connection_id=r.resume, visibility=r.visibility
                )
            else:
                result = presence_connect(whiteboard_id=r.whiteboard_id, user=users[i], visibility=r.visibility)
            results[i] = users[i], result
        except DomainError as error:
            results[i] = error
        except Exception as error:  # this socket fails (the others of the batch go on); its services rolled back
            logger.exception("opening presence failed")
            results[i] = error
    return results


def presence_resume(
    *, whiteboard_id: int, user, connection_id: uuid.UUID, visibility: str, now: datetime | None = None
) -> ConnectionResult:
    """A socket back after a drop (its node died, the network blinked) names the connection it had.

    While that connection is alive, the socket continues it: the return is a heartbeat of it (on
    PostgreSQL the fast path's one statement: no lock, no new row, no log line), so a reconnect storm
    costs what heartbeats cost, and the participant stays one continuous presence. When it is not
    (closed, timed out, unknown, someone else's), the socket connects as any other would, with a new
    connection; who may connect is decided there (and by the heartbeat: not a participant is not_found).
    """
    try:
        result = presence_heartbeat(
            whiteboard_id=whiteboard_id, user=user, connection_id=connection_id, visibility=visibility, now=now
        )
    except DomainError as error:
        if error.code not in ("connection_closed", "unknown_connection"):
            raise
        return presence_connect(whiteboard_id=whiteboard_id, user=user, visibility=visibility, now=now)
    return dataclasses.replace(result, presence=presence_summary(whiteboard_id=whiteboard_id, now=now))


def presence_liveness_write(*, signals: list[LivenessSignal]) -> set[uuid.UUID]:
    """Write a node's batch of liveness signals: each as the heartbeat fast path would have, at its own time.

    A socket's pings change nothing but time, so a node keeps only each socket's last one and writes
    them all every WEBSOCKET["FLUSH_INTERVAL"] s instead of one statement per ping: on PostgreSQL one
    UPDATE per 500 sockets (`fastpath.renew_liveness`), elsewhere one read and one UPDATE per row. Each signal moves its connection's `last_signal_at` and `expires_at` to
    the signal's own time, never the time of writing, and only forwards; presence is then folded from
    the connections exactly as for fast-path heartbeats (`presence.fold_tail`). A signal is skipped when
    a later one (a visibility change, a disconnect) is already written. A hidden socket's signal while
    the participant has a visible connection open takes the locked path (`presence_heartbeat`), like a
    fast-path heartbeat would, so hidden time stays exact.

    Unlike an HTTP heartbeat, a signal renews a connection whose `expires_at` has passed if it is still
    open: the node heard every ping of that socket (it closes a silent one itself, whiteboard/liveness.py),
    so the chain of signals was unbroken; the database only had not been told yet. With FLUSH_INTERVAL
    ≤ 15 s and pings every 15 s this never happens anyway (written expiry = last written signal + 45 s).

    Returns the ids of connections that can no longer be renewed (closed meanwhile, e.g. swept while the
    database was away): their sockets must connect again. A node that dies loses at most its unwritten batch: its
    participants' presence then ends at the last signal written, at most one interval early.
    """
    conf = PresenceSettings.current()
    lost: set[uuid.UUID] = set()
    signals = sorted(signals, key=lambda s: s.at)
    if db.vendor == "postgresql" and signals:
        # The common case, a renewal, in one statement per 500 without reading the rows first; what it
        # leaves (a later write, a hidden tab beside a visible one, a closed connection) is decided below.
        timeouts = {visibility: conf.timeout(visibility) for visibility in {s.visibility for s in signals}}
        renewed = set()
        for start in range(0, len(signals), BATCH_SIZE):
            chunk = signals[start : start + BATCH_SIZE]
            renewed |= fastpath.renew_liveness(
                [
                    (s.connection_id, s.user_id, s.whiteboard_id, s.at, s.at + timeouts[s.visibility], s.visibility)
                    for s in chunk
                ]
            )
        signals = [s for s in signals if s.connection_id not in renewed]
    for start in range(0, len(signals), BATCH_SIZE):
        chunk = {s.connection_id: s for s in signals[start : start + BATCH_SIZE]}
        rows = {
            c.connection_id: c
            for c in Connection.objects.filter(connection_id__in=list(chunk), closed_at__isnull=True).only(
                "pk", "connection_id", "whiteboard_id", "role", "user_id", "visibility", "expires_at", "last_signal_at"
            )
        }
        lost.update(cid for cid in chunk if cid not in rows)
        hidden = [s for cid, s in chunk.items() if cid in rows and s.visibility == Visibility.HIDDEN]
        seen_visible = set()
        if hidden:
            seen_visible = set(
                Connection.objects.filter(
                    whiteboard_id__in={s.whiteboard_id for s in hidden},
                    closed_at__isnull=True,
                    visibility=Visibility.VISIBLE,
                ).values_list("whiteboard_id", "role")
            )
        renew: list[tuple[Connection, LivenessSignal]] = []
        for cid, row in rows.items():
            signal = chunk[cid]
            if row.user_id != signal.user_id or row.whiteboard_id != signal.whiteboard_id:
                lost.add(cid)
            elif signal.at <= row.last_signal_at or signal.visibility != row.visibility:
                continue  # a later write (visibility change, locked heartbeat) already covers it
            elif signal.visibility == Visibility.HIDDEN and (row.whiteboard_id, row.role) in seen_visible:
                user = get_user_model()(pk=signal.user_id)  # the locked path reads only its pk
                try:
                    presence_heartbeat(
                        whiteboard_id=signal.whiteboard_id,
                        user=user,
                        connection_id=cid,
                        visibility=signal.visibility,
                        now=signal.at,
                    )
                except DomainError:
                    lost.add(cid)
            else:
                renew.append((row, signal))
        if renew:
            fastpath.write_liveness([(row.pk, s.at, s.at + conf.timeout(s.visibility)) for row, s in renew])
    return lost
