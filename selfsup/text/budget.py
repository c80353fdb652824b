"""Budgets applied to text before any tokenizer work, so cost follows what training reads, not what was uploaded.

A model reads at most ``max_length`` tokens of a document. A WordPiece token covers at least one character and,
in prose, about four with its space, so :data:`CHARS_PER_TOKEN` characters a token is a generous bound: a
document is cut to that many characters (at a word boundary, so the last word kept tokenizes as it would have)
before it is tokenized. Its first ``max_length`` tokens are then the same as the whole document's unless its
words average more than that many characters (long runs of whitespace or ``[UNK]``-sized words).

Tokenizer training sees words of at most :data:`MAX_WORD_CHARS` characters: BERT's WordPiece turns a longer
word into ``[UNK]`` anyway (``max_input_chars_per_word``), and a megabyte "word" would stall the trainer,
whose merges are counted over every character of every word.
"""

import re

CHARS_PER_TOKEN = 16
PRETRAINED_MAX_LENGTH = 512  # re-tokenizing for a pretrained model: BERT's longest sequence
MAX_WORD_CHARS = 100
_LONG_WORD = re.compile(rf"(\S{{{MAX_WORD_CHARS}}})\S+")


def chars_for(max_length: int) -> int:
    """The characters of a document worth tokenizing when ``max_length`` tokens are kept."""
    return max_length * CHARS_PER_TOKEN


def cut_text(text: str, max_chars: int) -> str:
    """``text`` cut to at most ``max_chars`` characters, at the last whitespace within a word's length of the
    bound when there is one (a word cut in half would tokenize differently)."""
    if len(text) <= max_chars:
        return text
    head = text[: max_chars + 1]  # its last character says whether the cut falls between two words
    for at in range(max_chars, max(max_chars - MAX_WORD_CHARS, 0) - 1, -1):
        if head[at].isspace():
            return head[:at].rstrip()
    return head[:max_chars]


def cap_words(text: str) -> str:
    """``text`` with every run of non-space characters longer than :data:`MAX_WORD_CHARS` cut to that length."""
    return _LONG_WORD.sub(r"\1", text)
