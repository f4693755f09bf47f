"""LatencyHistogram: accuracy against numpy, merging, the compact encodings."""

from __future__ import annotations

import json
from array import array

import numpy as np
import pytest

from wsgicompare.loader import LatencyHistogram
from wsgicompare.loader.histogram import HIGHEST_US, SLOT_LOW_US, SLOT_WIDTH_US, bucket_sparse, slot_of
from wsgicompare.loader.stats import add_wire
from wsgicompare.loader.worker import _encode


@pytest.fixture(scope="module")
def latencies_us() -> np.ndarray:
    rng = np.random.default_rng(7)
    # log-normal around 8 ms with a long tail, like a loaded server
    return rng.lognormal(mean=9.0, sigma=1.2, size=200_000).astype(np.int64) + 50


def test_percentiles_match_numpy_within_a_tenth_of_a_percent(latencies_us: np.ndarray) -> None:
    hist = LatencyHistogram()
    hist.record_many(latencies_us)
    for p in (1, 10, 25, 50, 75, 90, 95, 99):
        exact = float(np.percentile(latencies_us, p))
        assert hist.percentile(p) == pytest.approx(exact, rel=0.001), p
    assert hist.count == latencies_us.size
    assert hist.min == latencies_us.min()
    assert hist.max == latencies_us.max()
    assert hist.mean == pytest.approx(latencies_us.mean(), rel=1e-12)
    assert hist.percentile(0) == latencies_us.min()
    assert hist.percentile(100) == latencies_us.max()


def test_slots_cover_every_value_with_three_significant_digits() -> None:
    values = np.concatenate([np.arange(0, 300_000), np.array([10**6, 10**7, 10**9, HIGHEST_US])])
    slots = slot_of(values)
    assert np.all(np.diff(slots) >= 0)
    low = SLOT_LOW_US[slots]
    assert np.all(low <= values)
    assert np.all(values < low + SLOT_WIDTH_US[slots])
    # a slot is at most 1/1024 of its values wide: 3 significant digits
    assert np.all(SLOT_WIDTH_US[slots] <= np.maximum(1, values / 1024))


def test_values_beyond_an_hour_land_in_the_top_slot() -> None:
    hist = LatencyHistogram()
    hist.record_many([5, HIGHEST_US * 10])
    assert hist.count == 2
    assert hist.max == HIGHEST_US * 10  # exact max is kept
    # the percentile reads the top slot's value (about an hour), not the exact 10 hours
    top = hist.percentile(99)
    assert top == pytest.approx(HIGHEST_US, rel=1 / 1024) and top < hist.max
    assert hist.percentiles((50, 99)) == {50: 5.0, 99: top}


def test_merge_of_halves_equals_the_whole(latencies_us: np.ndarray) -> None:
    whole = LatencyHistogram()
    whole.record_many(latencies_us)
    first, second = LatencyHistogram(), LatencyHistogram()
    first.record_many(latencies_us[::2])
    second.record_many(latencies_us[1::2])
    merged = LatencyHistogram().merge(first).merge(second)
    assert merged == whole
    assert merged.percentiles((50, 90, 99)) == whole.percentiles((50, 90, 99))


def test_two_processes_wire_snapshots_merge_to_the_same_percentiles(latencies_us: np.ndarray) -> None:
    """The exact path a tick takes: array('q') in a process -> compact bytes -> parent."""
    single = LatencyHistogram()
    add_wire(single, _encode(array("q", latencies_us.tolist())))
    proc_a, proc_b = latencies_us[:120_000], latencies_us[120_000:]
    parent = LatencyHistogram()
    for ticks in (np.array_split(proc_a, 5), np.array_split(proc_b, 3)):
        for tick_values in ticks:
            add_wire(parent, _encode(array("q", tick_values.tolist())))
    assert parent == single
    for p in (50, 90, 99, 99.9):
        assert parent.percentile(p) == single.percentile(p)


def test_wire_snapshot_is_small(latencies_us: np.ndarray) -> None:
    slots, counts, *_ = _encode(array("q", latencies_us[:25_000].tolist()))
    # a tick of 25k widely spread requests travels as ~40 KB, not a 190 KB dense array
    assert len(slots) + len(counts) < 50_000
    narrow = np.random.default_rng(1).normal(2_000, 200, 25_000).astype(np.int64)
    slots, counts, *_ = _encode(array("q", narrow.tolist()))
    assert len(slots) + len(counts) < 8_000


def test_dict_round_trip_is_json_safe(latencies_us: np.ndarray) -> None:
    hist = LatencyHistogram()
    hist.record_many(latencies_us[:10_000])
    data = json.loads(json.dumps(hist.to_dict()))
    back = LatencyHistogram.from_dict(data)
    assert back == hist
    assert back.percentile(99) == hist.percentile(99)
    assert LatencyHistogram.from_dict(LatencyHistogram().to_dict()).count == 0
    with pytest.raises(ValueError):
        LatencyHistogram.from_dict({"slots": [1, 2], "counts": [1]})


def test_bucket_sparse_matches_record_many(latencies_us: np.ndarray) -> None:
    direct = LatencyHistogram()
    direct.record_many(latencies_us[:5000])
    via_sparse = LatencyHistogram()
    via_sparse.add_sparse(*bucket_sparse(latencies_us[:5000]))
    assert via_sparse == direct


def test_display_bins_cover_every_value() -> None:
    hist = LatencyHistogram()
    hist.record_many([10, 150, 1_000, 1_050, 20_000, 9_000_000, 50_000_000])
    bins = hist.bins(10)
    assert len(bins) == 10
    assert sum(bins) == 7
    assert bins[0] == 2  # 10 µs (below the display range) and 150 µs
    assert bins[-1] == 2  # 9 s and 50 s (above it)
    assert LatencyHistogram().bins(5) == (0, 0, 0, 0, 0)


def test_empty_histogram_reads_as_zero() -> None:
    hist = LatencyHistogram()
    hist.record_many([])
    assert (hist.count, hist.min, hist.max, hist.mean, hist.percentile(50)) == (0, 0, 0, 0.0, 0.0)


def test_layout_is_hdrhistograms_own(latencies_us: np.ndarray) -> None:
    """The reference implementation puts every value in the same slot, so our
    bulk-bucketed histograms read like any HdrHistogram (and tools built on it)."""
    from hdrh.histogram import HdrHistogram

    reference = HdrHistogram(1, HIGHEST_US, 3)
    sample = np.concatenate([latencies_us[:5000], np.array([1, 2047, 2048, 4095, 4096, 10**6, 10**9])])
    for value in sample.tolist():
        reference.record_value(value)
        slot = int(slot_of(np.array([value]))[0])
        assert SLOT_LOW_US[slot] == reference.get_lowest_equivalent_value(value), value
        assert SLOT_LOW_US[slot] + SLOT_WIDTH_US[slot] - 1 == reference.get_highest_equivalent_value(value), value
    ours = LatencyHistogram()
    ours.record_many(sample)
    for p in (50, 90, 99, 99.9):
        # both name the same slot: the reference reports its highest value, ours its middle
        expected = reference.get_value_at_percentile(p)
        assert reference.get_lowest_equivalent_value(expected) <= ours.percentile(p) <= expected, p


@pytest.mark.parametrize("count", [1000, 2000, 3000, 10_000])
def test_top_percentiles_rank_exactly_when_the_count_is_a_multiple_of_1000(count: int) -> None:
    """p99.9 of 1..N is the value at rank 0.999 N: in floats 99.9 / 100 × 1000 is
    999.0000000000001 and the rank came out one too high."""
    values = np.arange(1, count + 1, dtype=np.int64)
    hist = LatencyHistogram()
    hist.record_many(values)
    width = int(SLOT_WIDTH_US[slot_of(np.array([count]))][0])  # 1 µs below 2048, wider above
    expected = {50: count // 2, 90: count * 9 // 10, 99: count * 99 // 100, 99.9: count * 999 // 1000, 100: count}
    many = hist.percentiles(expected)
    for p, value in expected.items():
        assert hist.percentile(p) == pytest.approx(value, abs=width / 2), p  # a slot reads as its middle
        assert many[p] == hist.percentile(p), p
    # two values one slot apart make the rank visible whatever the slot width
    hist = LatencyHistogram()
    hist.record_many([100] * (count * 999 // 1000) + [200] * (count // 1000))
    assert hist.percentile(99.9) == 100.0 and hist.percentiles([99.9]) == {99.9: 100.0}
    assert hist.percentile(99.95) == 200.0 and hist.percentile(100) == 200.0


def test_exact_values_at_the_top_of_a_thousand() -> None:
    hist = LatencyHistogram()
    hist.record_many(np.arange(1, 1001))
    assert (hist.percentile(50), hist.percentile(99.9), hist.percentile(100)) == (500.0, 999.0, 1000.0)
    assert hist.percentiles((50, 99, 99.9, 100)) == {50: 500.0, 99: 990.0, 99.9: 999.0, 100: 1000.0}
