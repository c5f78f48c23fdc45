"""Grader for the `distributed` kata: one-rank worked examples in process, then two gloo ranks
(spawned once per run, file:// rendezvous in a temporary folder) against a single-process run
of the same model and data. Every wait is bounded: a hung rank fails, it never hangs the grade."""

import datetime
import importlib.util
import os
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from kata.check import NotStarted, assert_close, call
from kata.strategies import randn

pytestmark = pytest.mark.kata_time_limit(150)

WORLD = 2
COLLECTIVE_TIMEOUT = datetime.timedelta(seconds=10)  # a rank left waiting raises after this
DEADLINE = 120.0  # seconds for the whole two-rank run (process start included), then kill
SCENARIOS = ("broadcast", "data_parallel", "zero", "tensor_parallel", "bad_shapes")
STEPS, BATCH = 3, 8


def _mlp(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))


def _batch(step):
    return randn((BATCH, 4), 100 + step), randn((BATCH, 2), 200 + step)


def _tp_model():
    torch.manual_seed(5)
    return nn.Linear(4, 8), nn.Linear(8, 6)


# ---------------------------------------------------------------- what each rank runs


def _broadcast(impl, rank, world):
    model = _mlp(seed=rank)  # every rank starts from different weights
    model.register_buffer("running_mean", torch.full((3,), float(rank)))  # and buffers
    impl.broadcast_parameters(model)
    return {"params": [p.detach().clone() for p in model.parameters()],
            "buffers": [b.clone() for b in model.buffers()]}


def _data_parallel(impl, rank, world):
    model = _mlp(seed=10 + rank)
    impl.broadcast_parameters(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    buckets, shard = [], slice(rank * BATCH // world, (rank + 1) * BATCH // world)
    for step in range(STEPS):
        x, y = _batch(step)
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x[shard]), y[shard]).backward()
        buckets.append(impl.average_gradients(model, bucket_cap_bytes=100))
        optimizer.step()
    return {"params": [p.detach().clone() for p in model.parameters()], "buckets": buckets}


def _zero(impl, rank, world):
    model = _mlp(seed=20 + rank)
    impl.broadcast_parameters(model)
    optimizer = impl.ShardedOptimizer(model.parameters(), torch.optim.AdamW, lr=0.05,
                                      weight_decay=0.1)
    shard = slice(rank * BATCH // world, (rank + 1) * BATCH // world)
    for step in range(STEPS):
        x, y = _batch(step)
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x[shard]), y[shard]).backward()
        impl.average_gradients(model)
        optimizer.step()
    index = {id(p): i for i, p in enumerate(model.parameters())}
    local = sorted(index[id(p)] for group in optimizer.optimizer.param_groups
                   for p in group["params"])
    with_state = sorted(index[id(p)] for p in optimizer.optimizer.state)
    return {"params": [p.detach().clone() for p in model.parameters()], "local": local,
            "with_state": with_state}


def _tensor_parallel(impl, rank, world):
    fc1, fc2 = _tp_model()
    column, row = impl.ColumnParallelLinear(fc1), impl.RowParallelLinear(fc2)
    x = randn((3, 4), 7).requires_grad_()
    out = row(nn.functional.gelu(column(x)))
    (out * torch.arange(6.0)).sum().backward()
    return {"out": out.detach(), "x_grad": x.grad,
            "grads": [p.grad for p in (column.weight, column.bias, row.weight, row.bias)]}


def _bad_shapes(impl, rank, world):
    raised = {}
    for name, cls, linear in [("column_ok", impl.ColumnParallelLinear, nn.Linear(3, 4)),
                              ("column_odd", impl.ColumnParallelLinear, nn.Linear(4, 5)),
                              ("row_ok", impl.RowParallelLinear, nn.Linear(4, 3)),
                              ("row_odd", impl.RowParallelLinear, nn.Linear(5, 4))]:
        try:
            cls(linear)
            raised[name] = False
        except ValueError:
            raised[name] = True
    return {"raised": raised}


RUNS = {"broadcast": _broadcast, "data_parallel": _data_parallel, "zero": _zero,
        "tensor_parallel": _tensor_parallel, "bad_shapes": _bad_shapes}


def _wait_for(paths, seconds):
    deadline = time.monotonic() + seconds
    while not all(os.path.exists(path) for path in paths) and time.monotonic() < deadline:
        time.sleep(0.05)


def _worker(rank, world, folder, impl_path):
    """One rank: every scenario in its own process group, results saved as they come."""
    torch.set_num_threads(1)
    spec = importlib.util.spec_from_file_location("kata_distributed_rank", impl_path)
    impl = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(impl)
    previous = None
    for name in SCENARIOS:
        if previous:  # start each scenario together, even if one rank failed the last one
            _wait_for([os.path.join(folder, f"{previous}_rank{r}.pt") for r in range(world)],
                      COLLECTIVE_TIMEOUT.total_seconds() * 2)
        result = {}
        try:
            dist.init_process_group("gloo", init_method=f"file://{folder}/store_{name}",
                                    rank=rank, world_size=world, timeout=COLLECTIVE_TIMEOUT)
            result = RUNS[name](impl, rank, world)
        except NotImplementedError as error:
            result = {"not_started": str(error)}
        except Exception as error:  # reported by the test that reads this scenario
            result = {"error": f"{type(error).__name__}: {error}"[:1000]}
        finally:
            if dist.is_initialized():
                dist.destroy_process_group()
        torch.save(result, os.path.join(folder, f"{name}_rank{rank}.pt"))
        previous = name


@pytest.fixture(scope="module")
def ranks(impl, tmp_path_factory):
    """{scenario: [rank 0's result, rank 1's result]} from one bounded two-rank run."""
    folder = tmp_path_factory.mktemp("ranks")
    context = mp.start_processes(_worker, args=(WORLD, str(folder), impl.__file__),
                                 nprocs=WORLD, join=False, start_method="spawn")
    deadline, crash = time.monotonic() + DEADLINE, None
    try:
        while not context.join(timeout=0.2):
            if time.monotonic() > deadline:
                break
    except Exception as error:  # a rank died (segfault, os._exit, ...)
        crash = f"{type(error).__name__}: {error}"[:500]
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
                process.join(5)
    results = {}
    for name in SCENARIOS:
        per_rank = []
        for rank in range(WORLD):
            path = folder / f"{name}_rank{rank}.pt"
            per_rank.append(torch.load(path) if path.exists() else {
                "error": crash or f"rank {rank} gave no result within {DEADLINE:g} s (hung in a "
                                  "collective the other rank never joined?)"})
        results[name] = per_rank
    return results


def _scenario(ranks, name):
    """The per-rank results of a scenario; not started / failed ranks end the test."""
    for rank, result in enumerate(ranks[name]):
        if "not_started" in result:
            raise NotStarted(result["not_started"])
        if "error" in result:
            pytest.fail(f"{name} on rank {rank} of {WORLD} raised {result['error']}")
    return ranks[name]


@pytest.fixture
def one_rank(tmp_path):
    """A gloo process group of world size 1 in this process (worked examples)."""
    if dist.is_initialized():
        dist.destroy_process_group()
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/store", rank=0,
                            world_size=1, timeout=COLLECTIVE_TIMEOUT)
    yield
    dist.destroy_process_group()


def _smoke(impl, name):
    """Call the functions a two-rank scenario uses once on the one-rank group, through call():
    an unwritten stub is reported as not started, and the call is recorded for diagnosis."""
    model = _mlp(0)
    if name in ("broadcast", "data_parallel", "zero"):
        call(impl.broadcast_parameters, model)
    if name in ("data_parallel", "zero"):
        x, y = _batch(0)
        nn.functional.mse_loss(model(x), y).backward()
        call(impl.average_gradients, model)
    if name == "zero":
        call(call(impl.ShardedOptimizer, model.parameters(), torch.optim.SGD, lr=0.1).step)
    if name in ("tensor_parallel", "bad_shapes"):
        fc1, fc2 = _tp_model()
        call(call(impl.RowParallelLinear, fc2), call(call(impl.ColumnParallelLinear, fc1),
                                                     randn((2, 4), 0)))


# ---------------------------------------------------------------- worked examples (one rank)


def test_buckets_worked_example(impl, one_rank, monkeypatch):
    # Gradients in reverse order: 8 B (bias 2), 64 B (weight 2x8), 32 B (bias 8), 128 B
    # (weight 8x4). Cap 100: [8 + 64], then 32 (104 would exceed), then 128 alone -> 3.
    model = _mlp(0)
    x, y = _batch(0)
    nn.functional.mse_loss(model(x), y).backward()
    before = [p.grad.clone() for p in model.parameters()]
    buckets = call(impl.average_gradients, model, bucket_cap_bytes=100)
    assert buckets == 3, f"expected 3 buckets (72 B, 32 B, 128 B) with a 100-byte cap, " \
                         f"got {buckets}"
    for index, (param, grad) in enumerate(zip(model.parameters(), before, strict=True)):
        assert_close(param.grad, grad, what=f"gradient {index} averaged over 1 rank (unchanged)")
    assert call(impl.average_gradients, model, bucket_cap_bytes=1) == 4, (
        "a gradient larger than the cap gets a bucket of its own: 4 buckets with a 1-byte cap")
    assert call(impl.average_gradients, model) == 1, "all 232 bytes fit the default 1 MiB cap"
    assert call(impl.average_gradients, model, bucket_cap_bytes=72) == 3, (
        "8 + 64 = 72 bytes exactly reach a 72-byte cap without exceeding it, so they share a "
        "bucket: 3 buckets (72 B, 32 B, 128 B), not 4")
    # The bucket count cannot tell the order apart; the all_reduce calls can: reverse order
    # gives flat buffers of 2 + 16, 8 and 32 elements, module order 32, 8 + 16, 2.
    sizes, all_reduce = [], dist.all_reduce

    def recording_all_reduce(tensor, *args, **kwargs):
        sizes.append(tensor.numel())
        return all_reduce(tensor, *args, **kwargs)

    monkeypatch.setattr(dist, "all_reduce", recording_all_reduce)
    for name, value in vars(impl).items():  # `from torch.distributed import all_reduce` too
        if value is all_reduce:
            monkeypatch.setattr(impl, name, recording_all_reduce)
    call(impl.average_gradients, model, bucket_cap_bytes=100)
    assert sizes == [18, 8, 32], (
        f"all_reduce calls on {sizes} elements with a 100-byte cap; expected one dist.all_reduce "
        "per bucket, gradients taken in reverse parameter order: [18, 8, 32]")


def test_one_rank_sharded_optimizer_is_the_plain_optimizer(impl, one_rank):
    model, expected = _mlp(1), _mlp(1)
    optimizer = call(impl.ShardedOptimizer, model.parameters(), torch.optim.AdamW, lr=0.05)
    expected_optimizer = torch.optim.AdamW(expected.parameters(), lr=0.05)
    for step in range(2):
        x, y = _batch(step)
        for net, opt in ((model, optimizer), (expected, expected_optimizer)):
            opt.zero_grad()
            nn.functional.mse_loss(net(x), y).backward()
            call(opt.step) if opt is optimizer else opt.step()
    for index, (got, want) in enumerate(zip(model.parameters(), expected.parameters(),
                                            strict=True)):
        assert_close(got.detach(), want.detach(), what=f"parameter {index} after 2 AdamW steps")


def test_one_rank_parallel_linears_are_the_full_linears(impl, one_rank):
    fc1, fc2 = _tp_model()
    column, row = call(impl.ColumnParallelLinear, fc1), call(impl.RowParallelLinear, fc2)
    x = randn((3, 4), 7)
    assert_close(call(column, x).detach(), fc1(x).detach(), what="column-parallel, world 1")
    hidden = randn((3, 8), 8)
    assert_close(call(row, hidden).detach(), fc2(hidden).detach(), what="row-parallel, world 1")


# ---------------------------------------------------------------- two ranks vs one process


def test_broadcast_gives_every_rank_rank_0_weights(impl, ranks, one_rank):
    _smoke(impl, "broadcast")
    results = _scenario(ranks, "broadcast")
    expected = [p.detach() for p in _mlp(seed=0).parameters()]
    for rank, result in enumerate(results):
        for index, (got, want) in enumerate(zip(result["params"], expected, strict=True)):
            assert_close(got, want, what=f"rank {rank} parameter {index} after broadcast "
                                         "(rank 0's initial weights)")
        assert len(result["buffers"]) == 1, f"rank {rank}: the module's buffer went missing"
        assert_close(result["buffers"][0], torch.zeros(3),
                     what=f"rank {rank}: buffer running_mean after broadcast (rank 0's zeros; "
                          "buffers are broadcast too, like BatchNorm's running statistics)")


def _single_process(seed, optimizer_class, **options):
    model = _mlp(seed)
    optimizer = optimizer_class(model.parameters(), **options)
    for step in range(STEPS):
        x, y = _batch(step)
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
    return [p.detach() for p in model.parameters()]


def test_data_parallel_training_equals_one_process(impl, ranks, one_rank):
    _smoke(impl, "data_parallel")
    results = _scenario(ranks, "data_parallel")
    expected = _single_process(10, torch.optim.SGD, lr=0.1, momentum=0.9)
    for rank, result in enumerate(results):
        assert result["buckets"] == [3] * STEPS, (
            f"rank {rank} used {result['buckets']} buckets per step; a 100-byte cap gives 3")
        for index, (got, want) in enumerate(zip(result["params"], expected, strict=True)):
            assert_close(got, want, what=f"rank {rank} parameter {index} after {STEPS} "
                                         f"data-parallel SGD steps vs one process on the full "
                                         f"batch (average, not sum? rank 0's weights broadcast "
                                         "first?)")


def test_zero_sharded_adamw_equals_one_process(impl, ranks, one_rank):
    _smoke(impl, "zero")
    results = _scenario(ranks, "zero")
    expected = _single_process(20, torch.optim.AdamW, lr=0.05, weight_decay=0.1)
    for rank, result in enumerate(results):
        mine = [i for i in range(len(expected)) if i % WORLD == rank]
        assert result["local"] == mine and result["with_state"] == mine, (
            f"rank {rank}'s optimizer holds parameters {result['local']} with state for "
            f"{result['with_state']}; ZeRO-1 gives it only parameters i % {WORLD} == {rank}: "
            f"{mine}")
        for index, (got, want) in enumerate(zip(result["params"], expected, strict=True)):
            assert_close(got, want, what=f"rank {rank} parameter {index} after {STEPS} ZeRO-1 "
                                         "AdamW steps vs one process (is every parameter "
                                         "broadcast from the rank that owns it?)")


def test_tensor_parallel_mlp_equals_the_full_mlp(impl, ranks, one_rank):
    _smoke(impl, "tensor_parallel")
    results = _scenario(ranks, "tensor_parallel")
    fc1, fc2 = _tp_model()
    x = randn((3, 4), 7).requires_grad_()
    out = fc2(nn.functional.gelu(fc1(x)))
    (out * torch.arange(6.0)).sum().backward()
    for rank, result in enumerate(results):
        hidden = slice(rank * 8 // WORLD, (rank + 1) * 8 // WORLD)
        assert_close(result["out"], out.detach(),
                     what=f"rank {rank}: column-parallel -> GELU -> row-parallel output vs the "
                          "full MLP (row-parallel bias added once, after the all-reduce?)")
        expected = [fc1.weight.grad[hidden], fc1.bias.grad[hidden], fc2.weight.grad[:, hidden],
                    fc2.bias.grad]
        names = ["column weight (its rows)", "column bias", "row weight (its columns)",
                 "row bias"]
        for got, want, name in zip(result["grads"], expected, names, strict=True):
            assert got is not None, f"rank {rank}: the {name} got no gradient"
            assert_close(got, want, what=f"rank {rank}: gradient of the {name} vs the full "
                                         "MLP's matching slice")
        assert_close(result["x_grad"], x.grad, what=f"rank {rank}: gradient of the input")


def test_shards_that_do_not_divide_raise_value_error(impl, ranks, one_rank):
    _smoke(impl, "bad_shapes")
    results = _scenario(ranks, "bad_shapes")
    expected = {"column_ok": False, "column_odd": True, "row_ok": False, "row_odd": True}
    for rank, result in enumerate(results):
        assert result["raised"] == expected, (
            f"rank {rank}: ValueError raised {result['raised']}, expected {expected} (d_out 4 "
            "and d_in 4 split over 2 ranks, 5 does not)")
