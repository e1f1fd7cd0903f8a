"""The heartbeat view reads its body and writes its answer without DRF's parser and serializers: it must
accept exactly what they accept, read the same values, and answer byte for byte what they would answer."""

import json
import uuid
from datetime import UTC, datetime

import pytest
import time_machine
from django.test import RequestFactory
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from whiteboard import api
from whiteboard.services import ConnectionResult

ID = "0b6f1c1e-8f0a-4a57-9a55-2f0c3b2d7e11"

BODIES = {
    "the tracker's body": {"connection_id": ID, "visibility": "visible"},
    "hidden": {"connection_id": ID, "visibility": "hidden"},
    "upper-case id": {"connection_id": ID.upper(), "visibility": "visible"},
    "id in braces": {"connection_id": "{" + ID + "}", "visibility": "visible"},
    "id as a URN": {"connection_id": "urn:uuid:" + ID, "visibility": "visible"},
    "id without dashes": {"connection_id": ID.replace("-", ""), "visibility": "visible"},
    "an extra key": {"connection_id": ID, "visibility": "visible", "tab": 3},
    "id as a number": {"connection_id": uuid.UUID(ID).int, "visibility": "visible"},
    "id not a UUID": {"connection_id": "not-a-uuid", "visibility": "visible"},
    "id missing": {"visibility": "visible"},
    "id null": {"connection_id": None, "visibility": "visible"},
    "visibility unknown": {"connection_id": ID, "visibility": "VISIBLE"},
    "visibility missing": {"connection_id": ID},
    "visibility a list": {"connection_id": ID, "visibility": ["visible"]},
    "a list, not an object": [ID, "visible"],
    "a string": "visible",
    "null": None,
}

RAW_BODIES = {
    "not JSON": b"{connection_id: 1}",
    "NaN in an extra key": json.dumps({"connection_id": ID, "visibility": "visible", "x": float("nan")}).encode(),
    "not UTF-8": b'{"connection_id": "\xff", "visibility": "visible"}',
    "empty": b"",
    "long": json.dumps({"connection_id": ID, "visibility": "visible", "pad": "x" * 2000}).encode(),
}


def _request(body: bytes, content_type="application/json"):
    return RequestFactory().post("/heartbeat", data=body, content_type=content_type)


def _drf_reading(body: bytes, content_type="application/json"):
    """What the view's DRF way gives: the serializer's values, or None where DRF answers 400/415."""
    request = Request(_request(body, content_type), parsers=[JSONParser()])
    try:
        data = request.data
    except ParseError:
        return None
    if content_type.partition(";")[0] != "application/json":
        return None  # DRF answers 415: no parser for it
    serializer = api.HeartbeatInputSerializer(data=data) if isinstance(data, dict) else None
    return dict(serializer.validated_data) if serializer is not None and serializer.is_valid() else None


@pytest.mark.parametrize(
    "body",
    [json.dumps(b).encode() for b in BODIES.values()] + list(RAW_BODIES.values()),
    ids=[*BODIES, *RAW_BODIES],
)
def test_the_plain_reading_accepts_only_what_drf_accepts_and_reads_the_same(body):
    # None hands the body to DRF, which then answers as it always has; anything else must be DRF's reading.
    assert api._plain_heartbeat(_request(body)) in (None, _drf_reading(body))


PLAIN = [
    "the tracker's body",
    "hidden",
    "upper-case id",
    "id in braces",
    "id as a URN",
    "id without dashes",
    "an extra key",
]


@pytest.mark.parametrize("name", PLAIN)
def test_well_formed_bodies_take_the_plain_reading(name):
    body = json.dumps(BODIES[name]).encode()
    plain = api._plain_heartbeat(_request(body))
    assert plain is not None
    assert plain == _drf_reading(body)


def test_the_tracker_body_takes_the_plain_reading():
    body = json.dumps(BODIES["the tracker's body"]).encode()
    assert api._plain_heartbeat(_request(body)) == {"connection_id": uuid.UUID(ID), "visibility": "visible"}
    charset = api._plain_heartbeat(_request(body, "application/json; charset=utf-8"))
    assert charset == {"connection_id": uuid.UUID(ID), "visibility": "visible"}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/jsonp"])
def test_other_media_types_are_left_to_drf(content_type):
    body = json.dumps(BODIES["the tracker's body"]).encode()
    assert api._plain_heartbeat(_request(body, content_type)) is None


def test_a_garbled_content_length_is_left_to_drf():
    request = _request(json.dumps(BODIES["the tracker's body"]).encode())
    request.META["CONTENT_LENGTH"] = "12abc"
    assert api._plain_heartbeat(request) is None


def test_the_answer_is_what_the_connection_serializer_renders():
    result = ConnectionResult(uuid.UUID(ID), "student", 15, 45)
    moment = datetime(2026, 3, 10, 14, 0, 0, 123456, tzinfo=UTC)
    with time_machine.travel(moment, tick=False):
        plain = JSONRenderer().render(api._connection_response(result).data)
        serialized = JSONRenderer().render(
            api.ConnectionSerializer(
                {
                    "connection_id": result.connection_id,
                    "role": result.role,
                    "heartbeat_interval": result.heartbeat_interval,
                    "timeout_seconds": result.timeout_seconds,
                    "server_time": moment,
                }
            ).data
        )
    assert plain == serialized
    assert json.loads(plain)["server_time"] == "2026-03-10T14:00:00.123456Z"
