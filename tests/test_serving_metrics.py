"""Grader for the `serving_metrics` kata: traces by hand, numpy's percentile, invariances."""

import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kata.check import call

finite = st.floats(-1e3, 1e3, allow_nan=False)


def _trace(impl, arrival, times):
    return impl.RequestTrace(arrival=arrival, token_times=list(times))


def _three(impl):
    # A: arrives 0, tokens at 1, 2 | B: arrives 1, tokens at 2, 3, 4 | C: arrives 2, token at 5
    return [_trace(impl, 0.0, [1.0, 2.0]), _trace(impl, 1.0, [2.0, 3.0, 4.0]),
            _trace(impl, 2.0, [5.0])]


traces_strategy = st.lists(
    st.tuples(st.floats(0, 50), st.floats(0, 5),
              st.lists(st.floats(0, 2), min_size=0, max_size=6)),
    min_size=1, max_size=6)


def _build(impl, drawn):
    """(arrival, ttft, gaps) triples -> traces."""
    traces = []
    for arrival, ttft, gaps in drawn:
        times = [arrival + ttft]
        for gap in gaps:
            times.append(times[-1] + gap)
        traces.append(_trace(impl, arrival, times))
    return traces


# ---------------------------------------------------------------- worked examples


def test_request_metrics_worked_example(impl):
    metrics = call(impl.request_metrics, _trace(impl, 0.0, [0.5, 0.6, 0.8]))
    assert metrics.ttft == pytest.approx(0.5), f"TTFT = 0.5 - 0.0, got {metrics.ttft}"
    assert metrics.itl == pytest.approx([0.1, 0.2]), f"ITL = [0.1, 0.2], got {metrics.itl}"
    assert metrics.e2e == pytest.approx(0.8), f"E2E = 0.8 - 0.0, got {metrics.e2e}"
    assert metrics.tpot == pytest.approx(0.15), (
        f"TPOT excludes the first token: (0.8 - 0.5) / (3 - 1) = 0.15, got {metrics.tpot}")
    assert metrics.output_tokens == 3, f"3 output tokens, got {metrics.output_tokens}"
    single = call(impl.request_metrics, _trace(impl, 2.0, [2.25]))
    assert single.tpot is None and single.itl == [] and single.ttft == pytest.approx(0.25), (
        f"a one-token request has TTFT 0.25, no ITL and no TPOT (None), got {single}")


def test_percentile_worked_examples(impl):
    values = [5.0, 1.0, 4.0, 2.0]  # sorted: 1, 2, 4, 5
    for q, expected in [(0, 1.0), (50, 3.0), (90, 4.7), (100, 5.0), (25, 1.75)]:
        # rank (n - 1) * q / 100: 50 -> 1.5 -> 2 + 0.5 * (4 - 2); 90 -> 2.7 -> 4 + 0.7 * 1
        got = call(impl.percentile, values, q)
        assert got == pytest.approx(expected), (
            f"percentile({values}, {q}) = {expected} (linear interpolation at rank "
            f"(n - 1)·q/100 = {3 * q / 100} of the sorted values), got {got}")
    assert call(impl.percentile, [7.0], 99) == 7.0, "the percentile of one value is that value"


def test_throughput_worked_example(impl):
    # Window: first arrival 0 to last token 5 = 5 s; 3 requests and 6 tokens.
    requests_per_s, tokens_per_s = call(impl.throughput, _three(impl))
    assert requests_per_s == pytest.approx(3 / 5), (
        f"request throughput 3 requests / 5 s = 0.6, got {requests_per_s}")
    assert tokens_per_s == pytest.approx(6 / 5), (
        f"output throughput 6 tokens / 5 s = 1.2 (not the sum of per-request rates 1 + 1 + 1/3), "
        f"got {tokens_per_s}")


def test_goodput_worked_example(impl):
    # TTFT A 1, B 1, C 3; TPOT A (2 - 1) / 1 = 1, B (4 - 2) / 2 = 1, C (one token) counts as 0.
    traces = _three(impl)
    got = call(impl.goodput, traces, 1.0, 1.0)
    assert got == pytest.approx(2 / 5), (
        f"A and B meet TTFT <= 1 and TPOT <= 1 (SLOs are inclusive), C misses TTFT: "
        f"2 requests / 5 s = 0.4, got {got}")
    got = call(impl.goodput, traces, 3.0, 1.0)
    assert got == pytest.approx(3 / 5), (
        f"with TTFT <= 3 all three meet the SLOs (C's single token has TPOT 0): 3 / 5 s, got "
        f"{got}")
    assert call(impl.goodput, traces, 3.0, 0.5) == pytest.approx(1 / 5), (
        "with TPOT <= 0.5 only the one-token request C is good: 1 / 5 s")


def test_ewma_detector_worked_example(impl):
    # alpha 0.5: after 0 -> mean 0, var 0; after 2 -> mean 1, var 0.5 · (0 + 0.5 · 4) = 1.
    # Next value x is checked against mean 1, std 1: |x - 1| > 2 · 1 flags it.
    for value, expected in [(3.0, False), (3.01, True), (-1.0, False), (-1.01, True)]:
        detector = call(impl.EwmaDetector, alpha=0.5, threshold=2.0, warmup=2)
        flags = [call(detector.update, x) for x in (0.0, 2.0, value)]
        assert flags == [False, False, expected], (
            f"values 0, 2, {value} with alpha 0.5, threshold 2, warmup 2: the third is checked "
            f"against mean 1 and std 1 (|x - 1| > 2 is an anomaly), expected "
            f"{[False, False, expected]}, got {flags}")
    assert detector.mean == pytest.approx(-0.005) and detector.var == pytest.approx(
        0.5 * (1 + 0.5 * 2.01**2)), (
        f"after 0, 2, -1.01 the mean is 1 + 0.5·(-2.01) and the variance "
        f"0.5·(1 + 0.5·2.01²); got mean {detector.mean}, var {detector.var}")


def test_ewma_detector_waits_for_warmup(impl):
    detector = call(impl.EwmaDetector, alpha=0.5, threshold=1.0, warmup=3)
    flags = [call(detector.update, x) for x in (10.0, 10.0, 500.0, 10.0, 10.0)]
    assert flags == [False, False, False, False, False], (
        f"with warmup 3 the first 3 values are never flagged (the spike is the 3rd): {flags}")
    detector = call(impl.EwmaDetector, alpha=0.5, threshold=1.0, warmup=3)
    flags = [call(detector.update, x) for x in (10.0, 10.0, 10.0, 500.0)]
    assert flags == [False, False, False, True], (
        f"after 3 equal values (variance 0) a spike is flagged: {flags}")


def test_kv_cache_sizes_of_real_models(impl):
    # Llama-2-7B: 32 layers, 32 KV heads of 128, fp16 -> 0.5 MiB per token.
    assert call(impl.kv_cache_bytes_per_token, 32, 32, 128, 2) == 2 * 32 * 32 * 128 * 2
    # Llama-3-8B: GQA with 8 KV heads -> 128 KiB per token.
    assert call(impl.kv_cache_bytes_per_token, 32, 8, 128) == 131072, (
        "2 (K and V) · 32 layers · 8 kv_heads · 128 head_dim · 2 bytes (the fp16 default)")
    # 80 GB at 0.9 utilisation, 16 GB of weights: 56e9 B of cache; 1 GiB per 8192-token sequence
    got = call(impl.max_concurrent_sequences, 80 * 10**9, 16 * 10**9, 131072, 8192)
    assert got == math.floor((0.9 * 80e9 - 16e9) / (131072 * 8192)) == 52, (
        f"(0.9 · 80e9 - 16e9) / (131072 · 8192) = 52.15 -> 52 sequences, got {got}")
    assert call(impl.max_concurrent_sequences, 16 * 10**9, 16 * 10**9, 131072, 8192) == 0, (
        "weights that fill the usable memory leave room for 0 sequences (not a negative count)")


# ---------------------------------------------------------------- properties


@given(drawn=traces_strategy)
def test_request_metrics_are_consistent(impl, drawn):
    for trace in _build(impl, drawn):
        metrics = call(impl.request_metrics, trace)
        assert metrics.e2e == pytest.approx(metrics.ttft + sum(metrics.itl), abs=1e-9), (
            f"E2E must equal TTFT + the sum of ITLs: {metrics}")
        if len(metrics.itl):
            assert metrics.tpot == pytest.approx(sum(metrics.itl) / len(metrics.itl), abs=1e-9), (
                f"TPOT must equal the mean ITL of the request: {metrics}")


@given(drawn=traces_strategy, shift=st.floats(0, 100), stretch=st.sampled_from([0.5, 2.0]))
def test_throughput_ignores_order_and_shift_and_scales_with_time(impl, drawn, shift, stretch):
    traces = _build(impl, drawn)
    window = max(t.token_times[-1] for t in traces) - min(t.arrival for t in traces)
    if window <= 1e-6:
        return
    base = call(impl.throughput, traces)
    moved = [_trace(impl, stretch * t.arrival + shift,
                    [stretch * x + shift for x in t.token_times]) for t in reversed(traces)]
    got = call(impl.throughput, moved)
    assert got == pytest.approx((base[0] / stretch, base[1] / stretch), rel=1e-6), (
        f"reversing the traces, shifting time by {shift} s and stretching it by {stretch} must "
        f"divide both throughputs by {stretch}: {base} -> {got}")


@given(drawn=traces_strategy, ttft_slo=st.floats(0, 5), tpot_slo=st.floats(0, 2))
def test_goodput_is_at_most_throughput_and_grows_with_the_slos(impl, drawn, ttft_slo, tpot_slo):
    traces = _build(impl, drawn)
    if max(t.token_times[-1] for t in traces) - min(t.arrival for t in traces) <= 1e-6:
        return
    requests_per_s, _ = call(impl.throughput, traces)
    strict = call(impl.goodput, traces, ttft_slo, tpot_slo)
    loose = call(impl.goodput, traces, ttft_slo + 1, tpot_slo + 1)
    assert 0 <= strict <= loose <= requests_per_s * (1 + 1e-9), (
        f"0 <= goodput {strict} <= goodput with looser SLOs {loose} <= request throughput "
        f"{requests_per_s}")


@given(values=st.lists(finite, min_size=1, max_size=30), q=st.floats(0, 100))
@example(values=[3.0, 1.0, 2.0], q=50.0)
@example(values=[1.0, 2.0], q=100.0)
def test_percentile_matches_numpy(impl, values, q):
    got = call(impl.percentile, values, q)
    expected = float(np.percentile(values, q))
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9), (
        f"percentile({values}, {q}) = {got}, numpy.percentile (method 'linear') = {expected}")


@given(values=st.lists(finite, min_size=1, max_size=20), q=st.lists(st.floats(0, 100),
                                                                    min_size=2, max_size=5))
def test_percentile_is_monotone_in_q_and_within_the_range(impl, values, q):
    results = [call(impl.percentile, values, level) for level in sorted(q)]
    assert all(a <= b + 1e-9 for a, b in zip(results, results[1:])), (
        f"percentiles at {sorted(q)} must not decrease: {results}")
    assert min(values) - 1e-9 <= results[0] and results[-1] <= max(values) + 1e-9


@given(values=st.lists(st.floats(0, 10), min_size=1, max_size=40),
       spikes=st.lists(st.integers(0, 39), max_size=3), scale=st.sampled_from([0.25, 2.0, 8.0]),
       warmup=st.integers(1, 5))
def test_ewma_flags_do_not_depend_on_the_unit(impl, values, spikes, scale, warmup):
    # Seconds or milliseconds: a detector on standard scores flags the same values (scaling by
    # a power of two is exact in floating point, so the flags must match exactly).
    series = [x + 50 * (i in spikes) for i, x in enumerate(values)]
    detector = call(impl.EwmaDetector, alpha=0.25, threshold=3.0, warmup=warmup)
    flags = [call(detector.update, x) for x in series]
    scaled = call(impl.EwmaDetector, alpha=0.25, threshold=3.0, warmup=warmup)
    scaled_flags = [call(scaled.update, scale * x) for x in series]
    assert flags == scaled_flags, (
        f"flags for {series} and for the same values times {scale} differ: {flags} vs "
        f"{scaled_flags}")
    assert not any(flags[:warmup]), f"flags during the first {warmup} values: {flags[:warmup]}"


@given(values=st.lists(st.floats(0, 10), min_size=1, max_size=40), warmup=st.integers(1, 5),
       alpha=st.sampled_from([0.1, 0.5, 1.0]))
def test_ewma_matches_the_reference(impl, ref, values, warmup, alpha):
    series = [x + (40 if i % 7 == 6 else 0) for i, x in enumerate(values)]
    detector = call(impl.EwmaDetector, alpha=alpha, threshold=2.0, warmup=warmup)
    expected = ref.EwmaDetector(alpha=alpha, threshold=2.0, warmup=warmup)
    for step, x in enumerate(series):
        got, want = call(detector.update, x), expected.update(x)
        assert got == want, f"value {step} ({x}) of {series}: flag {got}, expected {want}"
        assert detector.mean == pytest.approx(expected.mean) and detector.var == pytest.approx(
            expected.var, abs=1e-9), (
            f"after value {step}: mean {detector.mean}, var {detector.var}; expected "
            f"{expected.mean}, {expected.var} (Finch's EW update)")


# ---------------------------------------------------------------- bad input


def test_bad_traces_raise_value_error(impl):
    call(impl.request_metrics, _trace(impl, 1.0, [1.0, 1.0]))  # a token at the arrival, a tie
    for arrival, times in [(0.0, []), (1.0, [0.5]), (0.0, [1.0, 0.5])]:
        with pytest.raises(ValueError):
            call(impl.request_metrics, _trace(impl, arrival, times))
            pytest.fail(f"request_metrics(arrival={arrival}, token_times={times}) should raise")


def test_percentile_rejects_q_outside_0_100_and_no_values(impl):
    call(impl.percentile, [1.0, 2.0], 0)
    call(impl.percentile, [1.0, 2.0], 100)
    for q in (-0.001, 100.001):
        with pytest.raises(ValueError):
            call(impl.percentile, [1.0, 2.0], q)
    with pytest.raises(ValueError):
        call(impl.percentile, [], 50)
