package correlate

import "context"

// Collector reads the current values of some metrics. The built-in
// collectors are RedisCollector, KafkaCollector, VectorCollector and
// QStashCollector; applications add their own.
type Collector interface {
	// Collect returns one sample per series, stamped with the time of the
	// read. A collector that computes rates returns none for them on its
	// first call.
	Collect(ctx context.Context) ([]Sample, error)
}

// CollectorFunc adapts a function to Collector.
type CollectorFunc func(ctx context.Context) ([]Sample, error)

// Collect calls f.
func (f CollectorFunc) Collect(ctx context.Context) ([]Sample, error) { return f(ctx) }
