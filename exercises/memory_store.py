"""Agent memory: a token-budgeted chat window, a vector store that persists, working state.

Task:
    Write the memory of an agent. `ShortTermMemory.messages` picks the longest recent suffix of
    the conversation that fits a token budget without breaking the chat API's rules;
    `LongTermMemory` stores texts with embeddings, merges near-duplicates, ranks by cosine
    similarity, forgets, and saves atomically; `WorkingMemory.snapshot` freezes the task's state;
    `AgentMemory.build_context` assembles system prompt + retrieved memories + recent turns.

Rules:
    Plain Python (json, os, tempfile, math). Do not use a vector database or numpy for search.

Formats:
    messages are OpenAI chat dicts: {"role": "system" | "user" | "assistant" | "tool",
    "content": str | None}; an assistant message may carry "tool_calls" (a list), and each
    answer is a "tool" message right after it. Tokens are counted with `count_tokens` (given),
    embeddings come from `embed` (given): both are deterministic so the grader is exact.

Reference:
    OpenAI chat API (every tool message must follow the assistant message whose tool call it
    answers); MemGPT (Packer et al. 2023) and LangChain's trim_messages for budgeted windows;
    cosine similarity search as in any vector store; write-to-temp + os.replace for atomic saves.
    Version line: the OpenAI chat message format (2024+); no library implements these
    classes, so `nox -s oracles` has no oracle for this kata.

Notable choices:
    - A unit is a message plus the tool messages answering it; units are kept or dropped whole.
    - The window stops at the first unit that does not fit (no gaps in the conversation).
    - Ties in search go to the older entry, so results never depend on dict or heap order.

Grade: nox -s memory_store
"""

import copy
import json
import math
import os
import re
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

EMBED_DIM = 256


def count_tokens(message: dict) -> int:
    """A stand-in tokenizer: 4 tokens of per-message overhead + one per whitespace-separated word
    of the content + 4 per tool call."""
    words = len((message.get("content") or "").split())
    return 4 + words + 4 * len(message.get("tool_calls") or [])


def embed(text: str) -> list[float]:
    """Hashed bag of words: each lower-cased `[a-z0-9]+` word adds 1.0 at
    zlib.crc32(word) % EMBED_DIM (a fixed hash, unlike Python's salted hash()). A text without
    words gives the zero vector."""
    vector = [0.0] * EMBED_DIM
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[zlib.crc32(word.encode()) % EMBED_DIM] += 1.0
    return vector


def memory_message(text: str) -> dict:
    """How a retrieved memory enters the context."""
    return {"role": "system", "content": f"Relevant memory: {text}"}


class ShortTermMemory:
    """The recent conversation, trimmed to a token budget."""

    def __init__(self, max_tokens: int, count_tokens: Callable[[dict], int] = count_tokens):
        self.max_tokens, self.count_tokens = max_tokens, count_tokens
        self.history: list[dict] = []

    def add(self, message: dict) -> None:
        self.history.append(message)

    def messages(self, max_tokens: int | None = None) -> list[dict]:
        """The system messages (all of them, in order) followed by the longest suffix of the
        other messages that fits: total count_tokens ≤ max_tokens (default self.max_tokens).

        The non-system messages form units: a message plus the "tool" messages right after it
        when it is an assistant message with tool_calls. Units are taken newest first while they
        fit, stopping at the first that does not; a kept unit is kept whole. A tool message that
        follows no assistant tool call is never returned. Order is the history's order.

        Raises:
            ValueError: the system messages alone exceed max_tokens (the message gives both
                numbers: raise max_tokens or shorten the system prompt).
        """
        # TODO: implement this (about 23 lines in the reference).
        raise NotImplementedError(
            "messages: not written yet. Stuck? nox -s hint -- memory_store"
        )


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity of two vectors; 0.0 when either is the zero vector (never NaN)."""
    # TODO: implement this (about 4 lines in the reference).
    raise NotImplementedError(
        "cosine: not written yet. Stuck? nox -s hint -- memory_store"
    )


class LongTermMemory:
    """Texts with metadata and embeddings, searched by cosine similarity.

    Ids are 0, 1, 2, ... in order of first insertion and are never reused (not after forget,
    not after save/load). `entries` maps id → {"text", "metadata", "embedding"} in that order.
    """

    def __init__(self, embed: Callable[[str], list[float]] = embed,
                 dedupe_threshold: float = 0.95):
        self.embed, self.dedupe_threshold = embed, dedupe_threshold
        self.entries: dict[int, dict] = {}
        self.next_id = 0

    def add(self, text: str, metadata: dict | None = None) -> int:
        """Store `text` and return its id. If the most similar stored entry (the oldest among
        equals) has cosine ≥ dedupe_threshold with it, that entry is a near-duplicate: its text,
        metadata and embedding are replaced and its id returned. A threshold above 1 turns
        deduplication off. `metadata` must be JSON-serialisable for `save`."""
        # TODO: implement this (about 13 lines in the reference).
        raise NotImplementedError(
            "add: not written yet. Stuck? nox -s hint -- memory_store"
        )

    def search(self, query: str, k: int, min_score: float | None = None) -> list[dict]:
        """The k entries most similar to `query`: [{"id", "text", "metadata", "score"}, ...] by
        cosine score, highest first, ties in insertion order (lower id first); entries scoring
        below `min_score` are left out. Fewer than k when fewer qualify.

        Raises:
            ValueError: k < 0.
        """
        # TODO: implement this (about 10 lines in the reference).
        raise NotImplementedError(
            "search: not written yet. Stuck? nox -s hint -- memory_store"
        )

    def forget(self, entry_id: int) -> bool:
        """Delete an entry; True if it existed. A forgotten entry never comes back."""
        # TODO: implement this (about 1 line in the reference).
        raise NotImplementedError(
            "forget: not written yet. Stuck? nox -s hint -- memory_store"
        )

    def save(self, path: str | Path) -> None:
        """Write every entry and the id counter to `path` as JSON, atomically: write a temporary
        file in the same folder, then os.replace it over `path`. If anything fails (say metadata
        json cannot encode), the exception propagates, the previous file at `path` is unchanged
        and no temporary file is left behind."""
        # TODO: implement this (about 13 lines in the reference).
        raise NotImplementedError(
            "save: not written yet. Stuck? nox -s hint -- memory_store"
        )

    def load(self, path: str | Path) -> None:
        """Replace this memory's entries and id counter with those saved at `path`."""
        # TODO: implement this (about 5 lines in the reference).
        raise NotImplementedError(
            "load: not written yet. Stuck? nox -s hint -- memory_store"
        )


class WorkingMemory:
    """The current task's state: key → JSON-like value (a plan, a counter, partial results)."""

    def __init__(self) -> None:
        self.state: dict = {}

    def set(self, key: str, value) -> None:
        self.state[key] = value

    def get(self, key: str, default=None):
        return self.state.get(key, default)

    def snapshot(self) -> dict:
        """A copy of the state that later changes (to the state or to values inside it) never
        alter."""
        # TODO: implement this (about 1 line in the reference).
        raise NotImplementedError(
            "snapshot: not written yet. Stuck? nox -s hint -- memory_store"
        )

    def clear(self) -> None:
        """Forget the state (when the task is done)."""
        # TODO: implement this (about 1 line in the reference).
        raise NotImplementedError(
            "clear: not written yet. Stuck? nox -s hint -- memory_store"
        )


class AgentMemory:
    """The context for the next model call, from the three memories."""

    def __init__(self, system_prompt: str, short_term: ShortTermMemory,
                 long_term: LongTermMemory, k: int = 3, min_score: float | None = None):
        self.system_prompt, self.short_term, self.long_term = system_prompt, short_term, long_term
        self.k, self.min_score = k, min_score

    def build_context(self, query: str, budget: int) -> list[dict]:
        """[system, *memories, *turns] with total short_term.count_tokens ≤ budget.

        Priority: (1) the system message {"role": "system", "content": system_prompt}, always;
        (2) the recent turns: short_term.messages(max_tokens=min(short_term.max_tokens, what is
        left)); (3) retrieved memories: long_term.search(query, k, min_score), best first, each
        as memory_message(text), skipped when it does not fit in what is left (the next is tried).

        Raises:
            ValueError: the system message alone exceeds the budget (the message names both).
        """
        # TODO: implement this (about 15 lines in the reference).
        raise NotImplementedError(
            "build_context: not written yet. Stuck? nox -s hint -- memory_store"
        )
