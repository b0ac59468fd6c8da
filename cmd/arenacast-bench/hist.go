package main

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// histogram records durations in log-linear microsecond buckets (16 per
// power of two, so a bucket is at most ~6% wide) with atomic counters, so
// every client reader can record into a shared one without locks.
type histogram struct {
	buckets [64 * 16]atomic.Uint64
	count   atomic.Uint64
	max     atomic.Int64 // microseconds
}

func bucketOf(us uint64) int {
	if us < 16 {
		return int(us)
	}
	e := bits.Len64(us) - 5 // us>>e is in [16, 32)
	return (e+1)*16 + int(us>>e) - 16
}

// bucketUpper is the largest value (µs) in bucket i.
func bucketUpper(i int) uint64 {
	if i < 16 {
		return uint64(i)
	}
	e := i/16 - 1
	m := uint64(i%16 + 16)
	return (m+1)<<e - 1
}

// record adds one duration.
func (h *histogram) record(d time.Duration) {
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	h.buckets[bucketOf(uint64(us))].Add(1)
	h.count.Add(1)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			break
		}
	}
}

// latency is a summary of a histogram, in milliseconds.
type latency struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// summary reports percentiles as bucket upper bounds.
func (h *histogram) summary() latency {
	var counts [len(h.buckets)]uint64
	var total uint64
	for i := range h.buckets {
		counts[i] = h.buckets[i].Load()
		total += counts[i]
	}
	s := latency{Count: total, Max: float64(h.max.Load()) / 1000}
	if total == 0 {
		return s
	}
	q := func(p float64) float64 {
		want := uint64(p * float64(total))
		if want == 0 {
			want = 1
		}
		var acc uint64
		for i, c := range counts {
			acc += c
			if acc >= want {
				return min(float64(bucketUpper(i))/1000, s.Max)
			}
		}
		return s.Max
	}
	s.P50, s.P90, s.P99 = q(0.50), q(0.90), q(0.99)
	return s
}
