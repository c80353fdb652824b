"""Watching a JSON body stream past, chunk by chunk, for what a parser should never be handed.

Python's ``json`` parses ``NaN``, ``Infinity`` and ``-Infinity`` although JSON has no such numbers, and
it recurses once per nesting level, so 100,000 nested lists end in RecursionError. :class:`JsonGuard`
follows only strings and brackets (one regex search per structural character, no buffering, no parse),
so either problem is refused with a clear message before any parser sees the body.
"""

import re

MAX_JSON_DEPTH = 64  # request bodies here nest a few levels; parsers give up somewhere near 1000
CONTEXT_BYTES = 32

# A whole string, or one character that matters outside strings: a quote that opens a string running on
# past this piece, a bracket, or the first letter of NaN / Infinity (no JSON token contains N or I).
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|["\[\]{}NI]', re.DOTALL)
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)
_OPEN, _CLOSE, _QUOTE, _BACKSLASH = b"[{", b"]}", ord('"'), ord("\\")


class JsonRefused(ValueError):
    """The body is refused; the message says why and where."""


class JsonGuard:
    """Feed it a JSON text in pieces; it raises :class:`JsonRefused` at the first piece that crosses a line."""

    def __init__(self, max_depth: int = MAX_JSON_DEPTH) -> None:
        self.max_depth = max_depth
        self.depth = 0
        self.in_string = False  # a string opened in an earlier piece and has not closed yet
        self.escape_pending = False  # ... and that piece ended on a backslash
        self.offset = 0  # bytes seen before the current piece
        self.tail = b""  # the last bytes seen, quoted in messages

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        position = 0
        if self.in_string:
            position = self._string_rest(chunk, 1 if self.escape_pending else 0)
        while position < len(chunk):
            position = self._next_token(chunk, position)
        self.tail = (self.tail + chunk)[-CONTEXT_BYTES:]
        self.offset += len(chunk)

    def _string_rest(self, chunk: bytes, position: int) -> int:
        """Skip to just past the closing quote, or to the end of the piece if the string runs on."""
        end = _STRING_REST.match(chunk, min(position, len(chunk))).end()  # type: ignore[union-attr]
        closed = end < len(chunk) and chunk[end] == _QUOTE
        # Otherwise the string runs on; ending on a backslash, the byte it escapes comes in the next piece.
        self.in_string, self.escape_pending = not closed, end < len(chunk) and chunk[end] == _BACKSLASH
        return end + 1 if closed else len(chunk)

    def _next_token(self, chunk: bytes, position: int) -> int:
        match = _TOKEN.search(chunk, position)
        if match is None:
            return len(chunk)
        byte = chunk[match.start()]
        if byte == _QUOTE:
            return match.end() if match.end() - match.start() > 1 else self._string_rest(chunk, match.end())
        if byte in _OPEN:
            self.depth += 1
            if self.depth > self.max_depth:
                raise JsonRefused(f"nested deeper than {self.max_depth} levels, at byte {self.offset + match.start()}")
        elif byte in _CLOSE:
            self.depth -= 1
        else:
            raise JsonRefused(
                f"NaN and Infinity are not JSON numbers; send a finite number "
                f"(byte {self.offset + match.start()}, near {self._context(chunk, match.start())!r})"
            )
        return match.end()

    def _context(self, chunk: bytes, index: int) -> str:
        before = (self.tail + chunk[:index])[-CONTEXT_BYTES:]
        return (before + chunk[index : index + len("Infinity")]).decode("utf-8", "replace")
