package correlate

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

func benchSamples(n int) []Sample {
	points := diurnal(99, (n+287)/288)
	out := make([]Sample, n)
	for i := range out {
		out[i] = Sample{Series: "bench", Time: points[i].Time, Value: points[i].Value}
	}
	return out
}

// BenchmarkDetectorObserve measures one sample ingested into a series
// past warm-up, with its seasonal buckets in use.
func BenchmarkDetectorObserve(b *testing.B) {
	d, _ := NewDetector()
	samples := benchSamples(8 * 288)
	for _, s := range samples[:5*288] {
		d.Observe(s)
	}
	rest := samples[5*288:]
	last := rest[len(rest)-1].Time
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s := rest[i%len(rest)]
		// Keep time moving forward so every sample is learned from.
		s.Time = last.Add(time.Duration(i+1) * 5 * time.Minute)
		d.Observe(s)
	}
}

// BenchmarkDetectorObserveManySeries spreads samples over 1,000 series, so
// that series state is rarely in the CPU cache.
func BenchmarkDetectorObserveManySeries(b *testing.B) {
	const n = 1000
	d, _ := NewDetector()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("redis.hit_ratio{db=%d}", i)
	}
	t0 := start
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		d.Observe(Sample{Series: names[i%n], Time: t0.Add(time.Duration(i/n+1) * time.Minute), Value: float64(100 + i%7)})
	}
}

// BenchmarkDetectorMemoryPerSeries reports the heap held per series with
// a full window.
func BenchmarkDetectorMemoryPerSeries(b *testing.B) {
	const n = 2000
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		d, _ := NewDetector()
		for s := range n {
			name := fmt.Sprintf("series-%d", s)
			for i := range 60 {
				d.Observe(Sample{Series: name, Time: start.Add(time.Duration(i) * time.Minute), Value: float64(i % 9)})
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/series")
		runtime.KeepAlive(d)
	}
}

// BenchmarkCorrelatorAddFlush measures grouping and explaining one
// three-member incident.
func BenchmarkCorrelatorAddFlush(b *testing.B) {
	c, _ := NewCorrelator()
	b.ReportAllocs()
	for i := range b.N {
		t0 := start.Add(time.Duration(i) * 24 * time.Hour)
		c.Add(anomalyAt(SignalRedisHitRatio, t0, 0.9, 0.5))
		c.Add(anomalyAt(SignalRedisMisses, t0.Add(time.Minute), 100, 500))
		c.Add(anomalyAt(SignalQStashPublish, t0.Add(2*time.Minute), 10, 50))
		c.Flush(t0.Add(time.Hour))
	}
}
