"""The API's request parsers (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES); a module of their own, since DRF
imports them while its settings load and must not pull in `core.api` halfway through."""

import json

from rest_framework import exceptions, parsers


def json_or_none(text, **options):
    """The decoded JSON value, or None when `text` is not JSON, or nests deeper than Python's decoder follows
    (a RecursionError, not a ValueError: about 1,500 brackets fit in 3 KB). For the doors that parse by hand:
    the sockets and the heartbeat's fast path. `options`: json.loads's."""
    try:
        return json.loads(text, **options)
    except (ValueError, RecursionError):
        return None


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing JSON nested deeper than Python's decoder can follow (a RecursionError,
    not the ValueError DRF expects) with a 400, not a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None
