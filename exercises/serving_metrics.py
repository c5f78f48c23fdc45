"""Serving metrics: TTFT, TPOT, ITL, percentiles, throughput, goodput, anomalies, KV capacity.

Task:
    Turn request traces from an LLM server into the numbers on its dashboard.
    `request_metrics` gives one request's TTFT, TPOT (first token excluded), inter-token
    latencies and end-to-end latency; `percentile` interpolates like numpy's default;
    `throughput` and `goodput` divide by the wall-clock window of the whole run;
    `EwmaDetector` flags a latency that strays from its exponentially weighted mean;
    `kv_cache_bytes_per_token` and `max_concurrent_sequences` size the KV cache.

Rules:
    Plain Python (math, dataclasses). No numpy/torch/statistics quantile functions.

Traces:
    A RequestTrace has `arrival` (seconds, when the server received the request) and
    `token_times` (when each output token was streamed, non-decreasing, ≥ arrival). Example:
    arrival 0.0, token_times [0.5, 0.6, 0.8] → TTFT 0.5, ITL [0.1, 0.2], E2E 0.8,
    TPOT (0.8 − 0.5) / 2 = 0.15.

Reference:
    Metric definitions of vLLM's serving benchmark (benchmarks/benchmark_serving.py): TPOT =
    (E2E − TTFT) / (output tokens − 1), only for requests with more than one output token, and
    taken as 0 for goodput; goodput = requests meeting every SLO (metric ≤ SLO) per second of
    the run (DistServe, Zhong et al. 2024). Percentiles: numpy.percentile's default 'linear'
    method (Hyndman & Fan 1996, definition 7). EWMA mean and variance: Finch 2009,
    "Incremental calculation of weighted mean and variance", §9. KV cache size: 2 (keys and
    values) · layers · kv_heads · head_dim · bytes per element, per token.

Notable choices:
    - The run's window is from the earliest arrival to the latest token; throughput is total
      tokens (or requests) over that window, not a sum or mean of per-request rates.
    - percentile: rank h = (n − 1) · q / 100, interpolate between sorted[floor h] and the next.
    - EwmaDetector checks a value against the statistics of the values before it, then folds
      it in (anomalies included); no value is flagged while fewer than `warmup` values have
      been seen. The first value sets the mean, with variance 0.

Grade: nox -s serving_metrics
"""

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestTrace:
    arrival: float
    token_times: list[float]


@dataclass(frozen=True)
class RequestMetrics:
    ttft: float  # time to first token: token_times[0] − arrival
    tpot: float | None  # (e2e − ttft) / (n − 1); None when n == 1
    itl: list[float]  # inter-token latencies, n − 1 of them
    e2e: float  # end-to-end latency: token_times[-1] − arrival
    output_tokens: int  # n


def request_metrics(trace: RequestTrace) -> RequestMetrics:
    """Latency metrics of one request.

    Raises:
        ValueError: no tokens, a token before the arrival, or token times that decrease.
    """
    # TODO: implement this (about 10 lines in the reference).
    raise NotImplementedError(
        "request_metrics: not written yet. Stuck? nox -s hint -- serving_metrics"
    )


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile of values, numpy.percentile's default ('linear') method.

    Raises:
        ValueError: values is empty, or q is outside [0, 100].
    """
    # TODO: implement this (about 9 lines in the reference).
    raise NotImplementedError(
        "percentile: not written yet. Stuck? nox -s hint -- serving_metrics"
    )


def _window(traces: list[RequestTrace]) -> float:
    """Seconds from the earliest arrival to the latest token (raises on an empty run)."""
    if not traces:
        raise ValueError("no traces: nothing was served")
    start = min(trace.arrival for trace in traces)
    end = max(max(trace.token_times, default=trace.arrival) for trace in traces)
    if end <= start:
        raise ValueError(f"the run lasts {end - start} s; throughput needs a positive window")
    return end - start


def throughput(traces: list[RequestTrace]) -> tuple[float, float]:
    """(requests per second, output tokens per second) over the run's window (`_window`)."""
    # TODO: implement this (about 3 lines in the reference).
    raise NotImplementedError(
        "throughput: not written yet. Stuck? nox -s hint -- serving_metrics"
    )


def goodput(traces: list[RequestTrace], ttft_slo: float, tpot_slo: float) -> float:
    """Requests per second (over the run's window) whose TTFT ≤ ttft_slo and TPOT ≤ tpot_slo;
    a one-token request's TPOT counts as 0."""
    # TODO: implement this (about 6 lines in the reference).
    raise NotImplementedError(
        "goodput: not written yet. Stuck? nox -s hint -- serving_metrics"
    )


class EwmaDetector:
    """Streaming anomaly detector on an exponentially weighted mean and variance.

    After each value x: mean ← mean + α·(x − mean), var ← (1 − α)·(var + α·(x − mean_old)²).
    x is an anomaly when at least `warmup` values came before it and
    |x − mean| > threshold · sqrt(var), with the mean and var of the values before x.

    Attributes:
        count: values seen so far; mean, var: their exponentially weighted mean and variance.

    Raises:
        ValueError: alpha not in (0, 1], threshold ≤ 0 or warmup < 1.
    """

    def __init__(self, alpha: float = 0.1, threshold: float = 3.0, warmup: int = 10) -> None:
        if not (0 < alpha <= 1 and threshold > 0 and warmup >= 1):
            raise ValueError(f"need 0 < alpha <= 1, threshold > 0, warmup >= 1; got {alpha}, "
                             f"{threshold}, {warmup}")
        self.alpha, self.threshold, self.warmup = alpha, threshold, warmup
        self.count, self.mean, self.var = 0, 0.0, 0.0

    def update(self, value: float) -> bool:
        """Score `value`, fold it into the statistics, and return whether it is an anomaly."""
        # TODO: implement this (about 10 lines in the reference).
        raise NotImplementedError(
            "update: not written yet. Stuck? nox -s hint -- serving_metrics"
        )


def kv_cache_bytes_per_token(num_layers: int, num_kv_heads: int, head_dim: int,
                             bytes_per_element: int = 2) -> int:
    """Bytes of keys and values one token occupies in the cache (all layers)."""
    # TODO: implement this (about 1 line in the reference).
    raise NotImplementedError(
        "kv_cache_bytes_per_token: not written yet. Stuck? nox -s hint -- serving_metrics"
    )


def max_concurrent_sequences(gpu_memory_bytes: int, weight_bytes: int, bytes_per_token: int,
                             max_seq_len: int, gpu_memory_utilization: float = 0.9) -> int:
    """How many sequences of max_seq_len tokens fit in the KV cache: the memory left after the
    weights, out of gpu_memory_utilization · gpu_memory_bytes, divided by one full sequence's
    cache, rounded down; 0 if nothing is left (vLLM's gpu_memory_utilization convention)."""
    # TODO: implement this (about 2 lines in the reference).
    raise NotImplementedError(
        "max_concurrent_sequences: not written yet. Stuck? nox -s hint -- serving_metrics"
    )
