"""A small, real, labeled text corpus for the engine's tests, and a bare training loop for text methods.

The documents are the docstrings (first paragraph) of the functions and classes of a few topical packages of
the Python standard library, each labeled by its package: real English prose about distinct subjects, on
every machine that runs the tests, with no download.
"""

import importlib
import inspect
import pkgutil
import re
import warnings
from functools import cache
from types import ModuleType

import numpy as np
import torch
from tokenizers import Tokenizer

from selfsup.methods.base import SSLMethod
from selfsup.text.data import TextData
from selfsup.text.tokenizer import tokenize, train_tokenizer

PACKAGES = ("asyncio", "email", "http", "json", "unittest", "xml")
MIN_WORDS = 6


@cache
def docstring_corpus(packages: tuple[str, ...] = PACKAGES) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(documents, labels): unique first paragraphs of at least ``MIN_WORDS`` words from ``packages`` (each
    labeled by its package), in a fixed order."""
    documents: list[str] = []
    labels: list[str] = []
    seen: set[str] = set()
    for package in packages:
        for module in _modules(package):
            for text in _docstrings(module):
                if text not in seen:
                    seen.add(text)
                    documents.append(text)
                    labels.append(package)
    return tuple(documents), tuple(labels)


def _modules(package: str) -> list[ModuleType]:
    root = importlib.import_module(package)
    names = [root.__name__]
    if hasattr(root, "__path__"):
        names += sorted(info.name for info in pkgutil.walk_packages(root.__path__, f"{package}."))
    modules = []
    for name in names:
        if name.endswith("__main__"):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                modules.append(importlib.import_module(name))
        except ImportError:  # platform-specific modules (asyncio.windows_events, say)
            continue
    return modules


def _docstrings(module: ModuleType) -> list[str]:
    texts = []
    for _, member in sorted(vars(module).items()):
        if not (inspect.isfunction(member) or inspect.isclass(member)) or member.__module__ != module.__name__:
            continue
        paragraph = (inspect.getdoc(member) or "").split("\n\n")[0]
        text = re.sub(r"\s+", " ", paragraph).strip()
        if len(text.split()) >= MIN_WORDS:
            texts.append(text)
    return texts


def train_text_method(method: SSLMethod, data: TextData, *, steps: int, batch_size: int, lr: float) -> list[float]:
    """The Trainer's calls on one seeded AdamW run: ``make_views`` under no_grad, then ``training_loss``.

    Returns each step's loss.
    """
    optimizer = torch.optim.AdamW(method.parameters(), lr=lr, weight_decay=0.0)
    generator = np.random.default_rng(0)
    method.train()
    losses = []
    for _ in range(steps):
        indices = np.sort(generator.choice(len(data), batch_size, replace=False))
        with torch.no_grad():
            views = method.make_views(data.batch(indices, torch.device("cpu")))
        loss = method.training_loss(views)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


@cache
def docstring_tokenizer(vocab_size: int = 600) -> Tokenizer:
    """A WordPiece vocabulary learned from :func:`docstring_corpus` (cached: treat it as read-only)."""
    return train_tokenizer(docstring_corpus()[0], vocab_size=vocab_size)


def docstring_data(*, max_length: int = 32) -> TextData:
    """The docstring corpus tokenized once, as training data."""
    tokenizer = docstring_tokenizer()
    return TextData(tokenize(tokenizer, docstring_corpus()[0], max_length=max_length), tokenizer)
