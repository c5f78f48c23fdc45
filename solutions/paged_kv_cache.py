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
        # BEGIN SOLUTION
        self.free_blocks = list(range(num_blocks))
        self.ref_counts = [0] * num_blocks
        # END SOLUTION

    @property
    def num_free(self) -> int:
        """Blocks on the free list."""
        # BEGIN SOLUTION
        return len(self.free_blocks)
        # END SOLUTION

    def ref_count(self, block: int) -> int:
        """References to `block` (0 when it is free)."""
        # BEGIN SOLUTION
        return self.ref_counts[block]
        # END SOLUTION

    def allocate(self) -> int:
        """Take a free block; its reference count becomes 1.

        Raises:
            OutOfBlocksError: no block is free.
        """
        # BEGIN SOLUTION
        if not self.free_blocks:
            raise OutOfBlocksError(f"all {self.num_blocks} blocks are in use: free a sequence "
                                   "or create the cache with more blocks")
        block = self.free_blocks.pop()
        self.ref_counts[block] = 1
        return block
        # END SOLUTION

    def share(self, block: int) -> None:
        """Add a reference to an allocated block.

        Raises:
            ValueError: the block is free.
        """
        # BEGIN SOLUTION
        if self.ref_counts[block] == 0:
            raise ValueError(f"block {block} is free: allocate it before sharing it")
        self.ref_counts[block] += 1
        # END SOLUTION

    def free(self, block: int) -> bool:
        """Drop one reference; the block returns to the free list when none is left.

        Returns:
            True when the block became free.

        Raises:
            ValueError: the block is already free (a double free).
        """
        # BEGIN SOLUTION
        if self.ref_counts[block] == 0:
            raise ValueError(f"block {block} is already free (double free)")
        self.ref_counts[block] -= 1
        if self.ref_counts[block] == 0:
            self.free_blocks.append(block)
            return True
        return False
        # END SOLUTION


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
        # BEGIN SOLUTION
        size, length = self.block_size, len(token_ids)
        num_blocks, num_full = -(-length // size), length // size
        prefixes = [tuple(token_ids[: (i + 1) * size]) for i in range(num_full)]
        hits = 0
        while hits < num_full and prefixes[hits] in self.prefix_blocks:
            hits += 1
        if num_blocks - hits > self.allocator.num_free:
            raise OutOfBlocksError(f"sequence {seq_id} needs {num_blocks - hits} new blocks, "
                                   f"{self.allocator.num_free} are free")
        table = []
        for i in range(num_blocks):
            if i < hits:
                block = self.prefix_blocks[prefixes[i]]
                self.allocator.share(block)
            else:
                block = self.allocator.allocate()
                start, stop = i * size, min((i + 1) * size, length)
                self.key_cache[block, : stop - start] = key[start:stop]
                self.value_cache[block, : stop - start] = value[start:stop]
                if i < num_full and prefixes[i] not in self.prefix_blocks:
                    self.prefix_blocks[prefixes[i]] = block
                    self.block_prefixes[block] = prefixes[i]
            table.append(block)
        self.block_tables[seq_id], self.token_ids[seq_id] = table, list(token_ids)
        return hits * size
        # END SOLUTION

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
        # BEGIN SOLUTION
        table, tokens = self.block_tables[seq_id], self.token_ids[seq_id]
        offset = len(tokens) % self.block_size
        copy_on_write = offset > 0 and self.allocator.ref_count(table[-1]) > 1
        if (offset == 0 or copy_on_write) and self.allocator.num_free == 0:
            raise OutOfBlocksError(f"sequence {seq_id} needs a block and none is free")
        if offset == 0:
            table.append(self.allocator.allocate())
        elif copy_on_write:
            shared, block = table[-1], self.allocator.allocate()
            self.key_cache[block, :offset] = self.key_cache[shared, :offset]
            self.value_cache[block, :offset] = self.value_cache[shared, :offset]
            self.allocator.free(shared)
            table[-1] = block
        self.key_cache[table[-1], offset] = key
        self.value_cache[table[-1], offset] = value
        tokens.append(token_id)
        if offset + 1 == self.block_size and tuple(tokens) not in self.prefix_blocks:
            self.prefix_blocks[tuple(tokens)] = table[-1]
            self.block_prefixes[table[-1]] = tuple(tokens)
        # END SOLUTION

    def fork(self, parent_id: int, child_id: int) -> None:
        """Start `child_id` as a copy of `parent_id` that shares all of its blocks.

        Raises:
            ValueError: parent_id is unknown or child_id exists.
        """
        # BEGIN SOLUTION
        if parent_id not in self.block_tables or child_id in self.block_tables:
            raise ValueError(f"cannot fork {parent_id} into {child_id}: the parent must exist "
                             "and the child id must be new")
        for block in self.block_tables[parent_id]:
            self.allocator.share(block)
        self.block_tables[child_id] = list(self.block_tables[parent_id])
        self.token_ids[child_id] = list(self.token_ids[parent_id])
        # END SOLUTION

    def free(self, seq_id: int) -> None:
        """Release a finished sequence: drop its references; blocks nobody uses become free.

        Raises:
            ValueError: unknown seq_id.
        """
        # BEGIN SOLUTION
        if seq_id not in self.block_tables:
            raise ValueError(f"unknown sequence {seq_id}: nothing to free")
        for block in self.block_tables.pop(seq_id):
            if self.allocator.free(block) and block in self.block_prefixes:
                del self.prefix_blocks[self.block_prefixes.pop(block)]
        del self.token_ids[seq_id]
        # END SOLUTION

    def gather(self, seq_id: int) -> tuple[Float[Tensor, "seq kv_heads head_dim"],
                                           Float[Tensor, "seq kv_heads head_dim"]]:
        """The sequence's keys and values in token order, in the cache's dtype.

        Raises:
            ValueError: unknown seq_id.
        """
        # BEGIN SOLUTION
        if seq_id not in self.block_tables:
            raise ValueError(f"unknown sequence {seq_id}")
        table = torch.tensor(self.block_tables[seq_id])
        length = len(self.token_ids[seq_id])
        # (blocks, block_size, kv_heads, head_dim) -> (blocks · block_size, kv_heads, head_dim)
        key = self.key_cache[table].flatten(0, 1)[:length]
        value = self.value_cache[table].flatten(0, 1)[:length]
        return key, value
        # END SOLUTION
