"""Paged KV cache: a block allocator, block tables, copy-on-write forks and prefix sharing.

Task:
    Write vLLM's memory manager for keys and values. `BlockAllocator` hands out fixed-size
    physical blocks from a free list and counts references, so a block can be shared.
    `PagedKVCache` keeps one block table per sequence (logical block i -> physical block):
    `add_sequence` writes a prompt, reusing the blocks of an identical cached prefix;
    `append` writes one decoded token; `fork` gives a child the parent's blocks without copying
    (parallel sampling, beam search) and the first write to a shared, partly filled block copies
    it (copy-on-write); `free` releases a finished sequence; `gather` returns a sequence's keys
    and values in order, equal to a contiguous cache.

Rules:
    Plain Python and torch indexing; no vllm.

Shapes:
    num_blocks, block_size (tokens per block), kv_heads, head_dim, seq (tokens of a sequence).
    key_cache / value_cache: (num_blocks, block_size, kv_heads, head_dim).

Reference:
    Kwon et al. 2023, "Efficient Memory Management for Large Language Model Serving with
    PagedAttention", §4.2-4.4 (block tables, copy-on-write, sharing). Prefix caching as in vLLM's
    automatic prefix caching: a full block is identified by every token up to its end.

Notable choices:
    - Token t of a sequence lives in slot t % block_size of physical block table[t // block_size].
    - Only full blocks are shared by prefix: a prompt's last, partial block is always fresh.
      A block is found by the tuple of all tokens from the sequence start to the block's end,
      so identical blocks after different prefixes are not shared (their keys differ).
    - A block leaves the prefix index when its last reference is freed (no eviction cache).
    - An operation that runs out of blocks raises OutOfBlocksError and changes nothing.
    - Which free block `allocate` returns is unspecified.

Grade: nox -s paged_kv_cache
"""

import torch
from jaxtyping import Float
from torch import Tensor


class OutOfBlocksError(RuntimeError):
    """No free block is left (a server would preempt or queue the request)."""


class BlockAllocator:
    """Physical blocks 0..num_blocks-1: a free list and a reference count per block."""

    def __init__(self, num_blocks: int) -> None:
        self.num_blocks = num_blocks
        # TODO: implement this (about 2 lines in the reference).
        raise NotImplementedError(
            "__init__: not written yet. Stuck? nox -s hint -- paged_kv_cache"
        )

    @property
    def num_free(self) -> int:
        """Blocks on the free list."""
        # TODO: implement this (about 1 line in the reference).
        raise NotImplementedError(
            "num_free: not written yet. Stuck? nox -s hint -- paged_kv_cache"
        )

    def ref_count(self, block: int) -> int:
        """References to `block` (0 when it is free)."""
        # TODO: implement this (about 1 line in the reference).
        raise NotImplementedError(
            "ref_count: not written yet. Stuck? nox -s hint -- paged_kv_cache"
        )

    def allocate(self) -> int:
        """Take a free block; its reference count becomes 1.

        Raises:
            OutOfBlocksError: no block is free.
        """
        # TODO: implement this (about 6 lines in the reference).
        raise NotImplementedError(
            "allocate: not written yet. Stuck? nox -s hint -- paged_kv_cache"
        )

    def share(self, block: int) -> None:
        """Add a reference to an allocated block.

        Raises:
            ValueError: the block is free.
        """
        # TODO: implement this (about 3 lines in the reference).
        raise NotImplementedError(
            "share: not written yet. Stuck? nox -s hint -- paged_kv_cache"
        )

    def free(self, block: int) -> bool:
        """Drop one reference; the block returns to the free list when none is left.

        Returns:
            True when the block became free.

        Raises:
            ValueError: the block is already free (a double free).
        """
        # TODO: implement this (about 7 lines in the reference).
        raise NotImplementedError(
            "free: not written yet. Stuck? nox -s hint -- paged_kv_cache"
        )


class PagedKVCache:
    """One layer's keys and values in blocks, with a block table per sequence id."""

    def __init__(self, num_blocks: int, block_size: int, num_kv_heads: int, head_dim: int,
                 dtype: torch.dtype = torch.float32) -> None:
        self.block_size = block_size
        self.allocator = BlockAllocator(num_blocks)
        shape = (num_blocks, block_size, num_kv_heads, head_dim)
        self.key_cache = torch.zeros(shape, dtype=dtype)
        self.value_cache = torch.zeros(shape, dtype=dtype)
        self.block_tables: dict[int, list[int]] = {}  # seq_id -> physical blocks, in order
        self.token_ids: dict[int, list[int]] = {}  # seq_id -> its tokens so far
        self.prefix_blocks: dict[tuple[int, ...], int] = {}  # tokens up to a block's end -> block
        self.block_prefixes: dict[int, tuple[int, ...]] = {}  # the reverse of prefix_blocks

    def block_table(self, seq_id: int) -> list[int]:
        """A copy of the sequence's block table."""
        return list(self.block_tables[seq_id])

    def _check(self, seq_id: int, key: Tensor, value: Tensor, new: bool) -> None:
        if new and seq_id in self.block_tables:
            raise ValueError(f"sequence {seq_id} already exists: pick a new id or free it first")
        if not new and seq_id not in self.block_tables:
            raise ValueError(f"unknown sequence {seq_id}: add_sequence it first")
        expected = self.key_cache.shape[2:]
        if key.shape[-2:] != expected or value.shape != key.shape:
            raise ValueError(f"key {tuple(key.shape)} and value {tuple(value.shape)} must end "
                             f"with (kv_heads, head_dim) = {tuple(expected)} and match")

    def add_sequence(self, seq_id: int, token_ids: list[int],
                     key: Float[Tensor, "seq kv_heads head_dim"],
                     value: Float[Tensor, "seq kv_heads head_dim"]) -> int:
        """Store a prompt's keys and values; reuse the blocks of a cached identical prefix.

        Full blocks whose prefix (all tokens up to the block's end) is already cached are shared,
        not written; the other blocks are allocated and written, and full ones are indexed.

        Returns:
            The number of leading prompt tokens whose keys/values came from shared blocks (a
            server would skip computing them).

        Raises:
            ValueError: seq_id exists, token_ids is empty, or the shapes do not match
                (len(token_ids) = seq, (kv_heads, head_dim) of the cache).
            OutOfBlocksError: not enough free blocks (nothing is changed).
        """
        self._check(seq_id, key, value, new=True)
        if not token_ids or key.shape[0] != len(token_ids):
            raise ValueError(f"{len(token_ids)} token ids for {key.shape[0]} keys: give one "
                             "key/value per token, at least one token")
        # TODO: implement this (about 25 lines in the reference).
        raise NotImplementedError(
            "add_sequence: not written yet. Stuck? nox -s hint -- paged_kv_cache"
        )

    def append(self, seq_id: int, token_id: int, key: Float[Tensor, "kv_heads head_dim"],
               value: Float[Tensor, "kv_heads head_dim"]) -> None:
        """Store one new token's key and value at the end of the sequence.

        Takes a new block when the last one is full; copies the last block first when it is
        shared with another sequence (copy-on-write). A block that becomes full is indexed for
        prefix sharing (unless an identical prefix is indexed already).

        Raises:
            ValueError: unknown seq_id, or shapes that do not match the cache.
            OutOfBlocksError: a block is needed and none is free (nothing is changed).
        """
        self._check(seq_id, key, value, new=False)
        # TODO: implement this (about 19 lines in the reference).
        raise NotImplementedError(
            "append: not written yet. Stuck? nox -s hint -- paged_kv_cache"
        )

    def fork(self, parent_id: int, child_id: int) -> None:
        """Start `child_id` as a copy of `parent_id` that shares all of its blocks.

        Raises:
            ValueError: parent_id is unknown or child_id exists.
        """
        # TODO: implement this (about 7 lines in the reference).
        raise NotImplementedError(
            "fork: not written yet. Stuck? nox -s hint -- paged_kv_cache"
        )

    def free(self, seq_id: int) -> None:
        """Release a finished sequence: drop its references; blocks nobody uses become free.

        Raises:
            ValueError: unknown seq_id.
        """
        # TODO: implement this (about 6 lines in the reference).
        raise NotImplementedError(
            "free: not written yet. Stuck? nox -s hint -- paged_kv_cache"
        )

    def gather(self, seq_id: int) -> tuple[Float[Tensor, "seq kv_heads head_dim"],
                                           Float[Tensor, "seq kv_heads head_dim"]]:
        """The sequence's keys and values in token order, in the cache's dtype.

        Raises:
            ValueError: unknown seq_id.
        """
        # TODO: implement this (about 7 lines in the reference).
        raise NotImplementedError(
            "gather: not written yet. Stuck? nox -s hint -- paged_kv_cache"
        )
