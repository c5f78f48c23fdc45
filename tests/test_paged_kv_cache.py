"""Grader for the `paged_kv_cache` kata: block bookkeeping by hand, invariants under random use."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kata.check import assert_close, assert_equal, call

HEADS, HEAD_DIM = 2, 3


def _kv(tokens):
    """Keys and values of a token sequence: row t depends on every token up to t, as in a
    causal LM, so equal blocks after different prefixes hold different keys."""
    ids = torch.tensor(tokens, dtype=torch.float64)
    mixed = torch.cumsum((ids + 1) * torch.arange(1, len(tokens) + 1), dim=0) / 7
    angles = mixed[:, None, None] * torch.arange(1, HEADS * HEAD_DIM + 1).view(HEADS, HEAD_DIM)
    return angles.sin().float(), angles.cos().float()


def _cache(impl, num_blocks, block_size):
    return call(impl.PagedKVCache, num_blocks, block_size, HEADS, HEAD_DIM)


def _add(cache, seq_id, tokens):
    key, value = _kv(tokens)
    return call(cache.add_sequence, seq_id, list(tokens), key, value)


def _append(cache, seq_id, tokens, token):
    """Append `token` to a sequence whose tokens so far are `tokens`."""
    key, value = _kv([*tokens, token])
    call(cache.append, seq_id, token, key[-1], value[-1])


def _check_gather(cache, seq_id, tokens, what=""):
    key, value = call(cache.gather, seq_id)
    expected_key, expected_value = _kv(tokens)
    assert_close(key, expected_key, what=f"gathered keys of sequence {seq_id} {what}".strip())
    assert_close(value, expected_value, what=f"gathered values of sequence {seq_id} {what}".strip())


def _check_accounting(cache, sequences, num_blocks, block_size):
    """allocated + free = total; each block's reference count = the tables that hold it."""
    allocator = cache.allocator
    references = [0] * num_blocks
    for seq_id, tokens in sequences.items():
        table = call(cache.block_table, seq_id)
        assert len(table) == -(-len(tokens) // block_size), (
            f"sequence {seq_id} has {len(tokens)} tokens in blocks of {block_size} but a block "
            f"table of {len(table)} entries: {table}")
        for block in table:
            references[block] += 1
    counts = [call(allocator.ref_count, block) for block in range(num_blocks)]
    assert counts == references, (
        f"reference counts {counts} differ from the number of block tables holding each block "
        f"{references}: a block was leaked, freed too early, or shared without a reference")
    allocated = sum(count > 0 for count in counts)
    assert allocated + allocator.num_free == num_blocks, (
        f"{allocated} blocks allocated + {allocator.num_free} free != {num_blocks} in total: a "
        "block is lost or on the free list twice")


# ---------------------------------------------------------------- worked examples


def test_allocator_worked_example(impl):
    from_impl = impl.OutOfBlocksError
    allocator = call(impl.BlockAllocator, 3)
    blocks = [call(allocator.allocate) for _ in range(3)]
    assert sorted(blocks) == [0, 1, 2], f"3 allocations from 3 blocks gave {blocks}"
    assert allocator.num_free == 0, f"num_free should be 0, got {allocator.num_free}"
    with pytest.raises(from_impl):
        call(allocator.allocate)
    call(allocator.share, blocks[1])
    assert call(allocator.ref_count, blocks[1]) == 2, "share adds a reference"
    assert call(allocator.free, blocks[1]) is False, "free of a block with 2 references -> False"
    assert allocator.num_free == 0, "a block still referenced once must not be on the free list"
    assert call(allocator.free, blocks[1]) is True, "dropping the last reference frees the block"
    assert allocator.num_free == 1 and call(allocator.ref_count, blocks[1]) == 0
    with pytest.raises(ValueError):
        call(allocator.free, blocks[1])  # double free
    with pytest.raises(ValueError):
        call(allocator.share, blocks[1])  # sharing a free block
    assert call(allocator.allocate) == blocks[1], "the only free block is the one just freed"


def test_block_tables_grow_one_block_per_block_size_tokens(impl):
    cache = _cache(impl, 4, 2)
    tokens = [3, 1, 4]
    assert _add(cache, 0, tokens) == 0, "an empty cache has no cached prefix"
    assert len(call(cache.block_table, 0)) == 2, "3 tokens in blocks of 2 take 2 blocks"
    assert cache.allocator.num_free == 2
    _append(cache, 0, tokens, 1)  # token 3 goes in slot 1 of the second block
    tokens.append(1)
    assert len(call(cache.block_table, 0)) == 2, "the 4th token fits in the second block"
    _append(cache, 0, tokens, 5)  # token 4 needs a third block
    tokens.append(5)
    assert len(call(cache.block_table, 0)) == 3 and cache.allocator.num_free == 1, (
        "the 5th token needs a third block")
    _check_gather(cache, 0, tokens)
    key_cache = cache.key_cache
    table = call(cache.block_table, 0)
    assert_close(key_cache[table[2], 0], _kv(tokens)[0][4],
                 what="token 4 stored in slot 4 % 2 = 0 of physical block table[4 // 2]")


def test_fork_shares_blocks_and_copies_on_write(impl):
    cache = _cache(impl, 6, 2)
    parent = [7, 8, 9]  # blocks A = [7, 8] (full), B = [9, _] (partial)
    _add(cache, 0, parent)
    free_before = cache.allocator.num_free
    call(cache.fork, 0, 1)
    table = call(cache.block_table, 0)
    assert call(cache.block_table, 1) == table, "a forked child starts with the parent's blocks"
    assert cache.allocator.num_free == free_before, "fork must not allocate"
    assert [call(cache.allocator.ref_count, b) for b in table] == [2, 2], "both blocks shared"
    _append(cache, 1, parent, 2)  # the child writes into shared partial block B: copy it
    child_table = call(cache.block_table, 1)
    assert child_table[0] == table[0] and child_table[1] != table[1], (
        f"copy-on-write: the child's write into shared block {table[1]} must go to a new block, "
        f"keeping the full block {table[0]} shared; child table {child_table}")
    assert call(cache.allocator.ref_count, table[1]) == 1, "the parent alone holds B now"
    _check_gather(cache, 0, parent, "(the parent must not see the child's token)")
    _check_gather(cache, 1, [*parent, 2], "(the copy keeps token 9, then the new token)")
    free_now = cache.allocator.num_free
    _append(cache, 0, parent, 4)  # B is no longer shared: written in place
    assert call(cache.block_table, 0) == table and cache.allocator.num_free == free_now, (
        "appending to a block only one sequence holds must not copy it")
    _check_gather(cache, 0, [*parent, 4])


def test_prefix_blocks_are_shared_by_the_whole_prefix(impl):
    cache = _cache(impl, 8, 2)
    assert _add(cache, 0, [5, 6, 7, 8, 9]) == 0
    free_before = cache.allocator.num_free
    cached = _add(cache, 1, [5, 6, 7, 8, 1])
    assert cached == 4, f"[5, 6 | 7, 8] are full blocks of a cached prefix: 4 tokens, got {cached}"
    assert cache.allocator.num_free == free_before - 1, "only the last, partial block is new"
    assert call(cache.block_table, 1)[:2] == call(cache.block_table, 0)[:2]
    _check_gather(cache, 1, [5, 6, 7, 8, 1])
    cached = _add(cache, 2, [0, 6, 7, 8])
    assert cached == 0, (
        f"[7, 8] after [0, 6] is not the block [7, 8] after [5, 6] (its keys differ): nothing "
        f"is cached, got {cached}")
    _check_gather(cache, 2, [0, 6, 7, 8])
    cached = _add(cache, 3, [5, 6, 7])
    assert cached == 2, f"only full blocks are shared: [5, 6] is, [7] is not; got {cached}"


def test_blocks_filled_by_append_are_indexed_once(impl):
    cache = _cache(impl, 6, 2)
    _add(cache, 0, [1])
    _append(cache, 0, [1], 2)  # sequence 0's first block [1, 2] is now full: indexed
    cached = _add(cache, 1, [1, 2, 3])
    assert cached == 2, (
        f"[1, 2] filled by append is a full block with a known prefix: a new prompt [1, 2, 3] "
        f"shares it (2 tokens), got {cached}")
    assert call(cache.block_table, 1)[0] == call(cache.block_table, 0)[0]
    _check_gather(cache, 1, [1, 2, 3])
    # Sequence 2 fills a block with the prefix [1, 2] that is indexed already: the index keeps
    # sequence 0's block, so freeing sequence 2 must not drop the prefix.
    _add(cache, 2, [1])
    _append(cache, 2, [1], 2)
    call(cache.free, 2)
    cached = _add(cache, 3, [1, 2])
    assert cached == 2, (
        f"[1, 2] is still cached in sequence 0's block after sequence 2 (which filled an "
        f"identical block later) is freed: an indexed prefix is not re-pointed; got {cached}")
    assert call(cache.block_table, 3)[0] == call(cache.block_table, 0)[0]
    _check_gather(cache, 3, [1, 2])


def test_free_returns_blocks_only_when_unreferenced(impl):
    cache = _cache(impl, 5, 2)
    _add(cache, 0, [1, 2, 3, 4, 5])
    _add(cache, 1, [1, 2, 3, 4, 6])  # shares 2 blocks
    assert cache.allocator.num_free == 1
    call(cache.free, 0)
    assert cache.allocator.num_free == 2, "freeing 0 releases only its unshared last block"
    _check_gather(cache, 1, [1, 2, 3, 4, 6], "(after the sequence sharing its prefix is freed)")
    call(cache.free, 1)
    assert cache.allocator.num_free == 5, "every block is free once both sequences are"
    assert _add(cache, 2, [1, 2, 3, 4]) == 0, (
        "a prefix whose blocks were all freed is no longer cached (the blocks may be reused)")
    _check_gather(cache, 2, [1, 2, 3, 4])


def test_out_of_blocks_raises_and_changes_nothing(impl):
    cache = _cache(impl, 4, 2)
    _add(cache, 0, [1, 2, 3])
    call(cache.fork, 0, 1)
    _add(cache, 2, [4])  # 3 blocks in use, 1 free
    with pytest.raises(impl.OutOfBlocksError):
        _add(cache, 3, [5, 6, 7])  # needs 2: must not take the free one and stop
    _check_accounting(cache, {0: [1, 2, 3], 1: [1, 2, 3], 2: [4]}, 4, 2)
    _add(cache, 4, [9])  # the last free block
    with pytest.raises(impl.OutOfBlocksError):
        _append(cache, 1, [1, 2, 3], 9)  # copy-on-write needs a block
    with pytest.raises(impl.OutOfBlocksError):
        _add(cache, 5, [9, 9])
    sequences = {0: [1, 2, 3], 1: [1, 2, 3], 2: [4], 4: [9]}
    _check_accounting(cache, sequences, 4, 2)
    for seq_id, tokens in sequences.items():
        _check_gather(cache, seq_id, tokens, "after the failed operations")
    _append(cache, 2, [4], 5)  # fits in sequence 2's own block
    call(cache.free, 0)
    _append(cache, 1, [1, 2, 3], 9)  # no longer shared: in place
    _check_gather(cache, 1, [1, 2, 3, 9])
    assert _add(cache, 3, [1, 2]) == 2, "[1, 2] is still cached through sequence 1"


def test_cached_prefix_needs_no_free_block(impl):
    cache = _cache(impl, 2, 2)
    _add(cache, 0, [1, 2, 3, 4])  # both blocks in use
    assert _add(cache, 1, [1, 2, 3, 4]) == 4, (
        "a prompt made only of cached full blocks takes no new block, even with none free")
    _check_accounting(cache, {0: [1, 2, 3, 4], 1: [1, 2, 3, 4]}, 2, 2)


# ---------------------------------------------------------------- invariants under random use


@settings(max_examples=40)
@given(block_size=st.integers(1, 3), num_blocks=st.integers(3, 9), data=st.data())
def test_random_operations_keep_every_block_accounted_for(impl, block_size, num_blocks, data):
    cache = _cache(impl, num_blocks, block_size)
    sequences, next_id = {}, 0
    tokens = st.integers(0, 2)  # a tiny vocabulary, so prefixes repeat
    for _ in range(data.draw(st.integers(1, 14), label="operations")):
        live = sorted(sequences)
        kind = data.draw(st.sampled_from(["add", "add", "append", "append", "fork", "free"]
                                         if live else ["add"]), label="op")
        before = [cache.allocator.ref_count(b) for b in range(num_blocks)]
        if kind == "add":
            prompt = data.draw(st.lists(tokens, min_size=1, max_size=7), label="prompt")
            try:
                cached = _add(cache, next_id, prompt)
            except impl.OutOfBlocksError:
                assert cache.allocator.num_free < -(-len(prompt) // block_size), (
                    f"OutOfBlocksError for a {len(prompt)}-token prompt with "
                    f"{cache.allocator.num_free} free blocks of {block_size}")
            else:
                table = call(cache.block_table, next_id)
                assert cached % block_size == 0 and cached <= len(prompt), (
                    f"cached tokens {cached} must be whole blocks of the prompt")
                shared = cached // block_size
                assert all(before[b] > 0 for b in table[:shared]) and all(
                    before[b] == 0 for b in table[shared:]), (
                    f"add_sequence reported {cached} cached tokens: the first {shared} blocks "
                    f"must be blocks already in use and the rest fresh; table {table}, "
                    f"reference counts before {before}")
                sequences[next_id] = prompt
            next_id += 1
        elif kind == "append":
            seq_id = data.draw(st.sampled_from(live), label="seq")
            token = data.draw(tokens, label="token")
            try:
                _append(cache, seq_id, sequences[seq_id], token)
            except impl.OutOfBlocksError:
                assert cache.allocator.num_free == 0, "OutOfBlocksError with blocks free"
            else:
                sequences[seq_id] = [*sequences[seq_id], token]
        elif kind == "fork":
            parent = data.draw(st.sampled_from(live), label="parent")
            call(cache.fork, parent, next_id)
            sequences[next_id], next_id = list(sequences[parent]), next_id + 1
        else:
            seq_id = data.draw(st.sampled_from(live), label="seq")
            call(cache.free, seq_id)
            del sequences[seq_id]
        _check_accounting(cache, sequences, num_blocks, block_size)
        for seq_id, seq_tokens in sequences.items():
            _check_gather(cache, seq_id, seq_tokens, f"after {kind}")
    for seq_id in list(sequences):
        call(cache.free, seq_id)
    assert cache.allocator.num_free == num_blocks, (
        f"after freeing every sequence {cache.allocator.num_free} of {num_blocks} blocks are "
        "free: blocks leaked")


def test_gather_returns_the_cache_dtype(impl):
    cache = call(impl.PagedKVCache, 4, 2, HEADS, HEAD_DIM, dtype=torch.bfloat16)
    key, value = _kv([1, 2, 3])
    call(cache.add_sequence, 0, [1, 2, 3], key, value)
    gathered_key, _ = call(cache.gather, 0)
    assert_close(gathered_key, key.bfloat16(), what="keys gathered from a bfloat16 cache")


# ---------------------------------------------------------------- bad input


def test_bad_sequence_ids_and_shapes_raise_value_error(impl):
    cache = _cache(impl, 4, 2)
    key, value = _kv([1, 2])
    _add(cache, 0, [1, 2])
    with pytest.raises(ValueError):
        call(cache.add_sequence, 0, [1, 2], key, value)  # the id exists
    with pytest.raises(ValueError):
        call(cache.add_sequence, 1, [1, 2, 3], key, value)  # 3 tokens, 2 keys
    with pytest.raises(ValueError):
        call(cache.add_sequence, 1, [1, 2], key[:, :1], value[:, :1])  # wrong kv_heads
    with pytest.raises(ValueError):
        call(cache.append, 5, 1, key[0], value[0])  # unknown sequence
    with pytest.raises(ValueError):
        call(cache.fork, 0, 0)  # the child id exists
    with pytest.raises(ValueError):
        call(cache.fork, 7, 8)  # unknown parent
    with pytest.raises(ValueError):
        call(cache.free, 3)
    with pytest.raises(ValueError):
        call(cache.gather, 3)
    _check_accounting(cache, {0: [1, 2]}, 4, 2)
