import uuid
from datetime import datetime, timedelta


class Tab:
    """One browser tab of one participant, speaking to the presence API like the JS client does."""

    def __init__(self, client, whiteboard_id: int):
        self.client = client
        self.base = f"/api/whiteboard/sessions/{whiteboard_id}"
        self.connection_id = str(uuid.uuid4())

    def connect(self, visibility="visible"):
        return self.client.post(
            f"{self.base}/connect", {"connection_id": self.connection_id, "visibility": visibility}, format="json"
        )

    def beat(self, visibility="visible"):
        return self.client.post(
            f"{self.base}/heartbeat", {"connection_id": self.connection_id, "visibility": visibility}, format="json"
        )

    def disconnect(self):
        return self.client.post(f"{self.base}/disconnect", {"connection_id": self.connection_id}, format="json")

    def reconnect(self):
        """After a 409 the client connects again with a fresh id."""
        self.connection_id = str(uuid.uuid4())
        return self.connect()


def beat_until(clock, tab, until: datetime, *, every: float = 15, visibility="visible"):
    """Heartbeats every `every` seconds from the clock's current time up to and including `until`."""
    while clock.now + timedelta(seconds=every) <= until:
        clock.advance(every)
        response = tab.beat(visibility)
        assert response.status_code == 200, response.json()


def status_of(client, whiteboard_id: int) -> dict:
    response = client.get(f"/api/whiteboard/sessions/{whiteboard_id}/connection-status")
    assert response.status_code == 200, response.content
    return response.json()


def presence_trace(
    whiteboard,
    user,
    start: datetime,
    end: datetime,
    *,
    every: int = 15,
    disconnect: bool = True,
    visibility: str = "visible",
):
    """Lay down one connection's presence from `start` to `end` through the real service, with explicit times."""
    from whiteboard.services import presence_connect, presence_disconnect, presence_heartbeat

    connection_id = uuid.uuid4()
    presence_connect(
        whiteboard_id=whiteboard.pk, user=user, connection_id=connection_id, now=start, visibility=visibility
    )
    moment = start
    while moment + timedelta(seconds=every) <= end:
        moment += timedelta(seconds=every)
        presence_heartbeat(
            whiteboard_id=whiteboard.pk, user=user, connection_id=connection_id, visibility=visibility, now=moment
        )
    if disconnect:
        presence_disconnect(whiteboard_id=whiteboard.pk, user=user, connection_id=connection_id, now=end)
    return connection_id
