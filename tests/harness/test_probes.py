"""The FLOP and allocation probes count exactly what graders rely on."""

import pytest
import torch

from kata.probes import (
    count_flops,
    largest_allocation,
    record_allocations,
    record_flops,
)


def test_matmul_counts_two_flops_per_multiply_add():
    a, b = torch.randn(3, 4), torch.randn(4, 5)
    assert count_flops(torch.matmul, a, b) == 2 * 3 * 4 * 5


def test_batched_matmul_and_einsum_are_counted():
    a, b = torch.randn(2, 3, 4), torch.randn(2, 4, 5)
    assert count_flops(torch.matmul, a, b) == 2 * 2 * 3 * 4 * 5
    assert count_flops(torch.einsum, "bij,bjk->bik", a, b) == 2 * 2 * 3 * 4 * 5


def test_linear_layer_is_counted():
    layer = torch.nn.Linear(4, 6)
    assert count_flops(layer, torch.randn(5, 4)) == 2 * 5 * 4 * 6


def test_elementwise_ops_cost_nothing():
    x = torch.randn(100, 100)
    assert count_flops(lambda t: torch.softmax(t * 2 + 1, dim=-1).exp(), x) == 0


def test_record_flops_returns_result_and_names_ops():
    a, b = torch.randn(3, 4), torch.randn(4, 5)
    log = record_flops(torch.mm, a, b)
    assert torch.equal(log.result, a @ b)
    assert log.by_op == {"aten.mm": 120}
    assert "120 FLOPs" in log.describe() and "aten.mm" in log.describe()


def test_cached_attention_step_is_linear_in_length():
    # One query against T cached keys: q·Kᵀ and weights·V are 2·T·d each, 4·T·d in all.
    d = 8

    def step(length):
        query, key, value = torch.randn(1, d), torch.randn(length, d), torch.randn(length, d)
        return count_flops(lambda: torch.softmax(query @ key.T, dim=-1) @ value)

    assert step(16) == 4 * 16 * d
    assert step(32) == 2 * step(16)


def test_flop_count_propagates_exceptions():
    with pytest.raises(NotImplementedError):
        count_flops(lambda: (_ for _ in ()).throw(NotImplementedError("stub")))


def test_largest_allocation_finds_the_score_matrix():
    query, key = torch.randn(64, 4), torch.randn(48, 4)
    log = record_allocations(lambda: torch.softmax(query @ key.T, dim=-1))
    assert log.largest is not None and log.largest.numel == 64 * 48
    assert log.largest.shape == (64, 48)
    assert largest_allocation(lambda: query @ key.T) == 64 * 48
    assert "float32[64, 48]" in log.describe()


def test_blockwise_loop_stays_below_the_full_matrix():
    query, key = torch.randn(64, 4), torch.randn(64, 4)

    def blockwise():
        return [(query[i:i + 8] @ key.T[:, j:j + 8]).sum() for i in range(0, 64, 8)
                for j in range(0, 64, 8)]

    log = record_allocations(blockwise)
    assert log.largest.numel == 8 * 8
    assert log.at_least(64 * 64) == []


def test_views_and_in_place_results_are_not_allocations():
    x = torch.randn(32, 32)

    def views_only():
        y = x.view(1024).reshape(32, 32).transpose(0, 1)[:, :4]
        x.mul_(2)
        return y.expand(2, 32, 4)

    assert record_allocations(views_only).allocations == []


def test_allocation_records_dtype_and_op():
    x = torch.ones(3, 5, dtype=torch.float16)
    log = record_allocations(lambda: x.to(torch.float32) + 1)
    assert {a.dtype for a in log.allocations} == {torch.float32}
    assert all(a.shape == (3, 5) for a in log.allocations)
    assert any(a.op == "aten.add" for a in log.allocations)


def test_no_allocation_gives_zero():
    x = torch.randn(4)
    assert largest_allocation(lambda: x[1:]) == 0
    assert record_allocations(lambda: None).largest is None
