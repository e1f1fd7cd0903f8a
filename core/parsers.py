"""The API's request parsers (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES); a module of their own, since DRF
imports them while its settings load and must not pull in `core.api` halfway through."""

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing JSON nested deeper than Python's decoder can follow (a RecursionError,
    not the ValueError DRF expects) with a 400, not a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None
