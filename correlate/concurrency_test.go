package correlate

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// memoryStore is a BaselineStore in memory, safe for concurrent use.
type memoryStore struct {
	mu   sync.Mutex
	data map[string][]byte
}

func (m *memoryStore) SaveBaselines(_ context.Context, b map[string][]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data = b
	return nil
}

func (m *memoryStore) LoadBaselines(context.Context) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.data, nil
}

// TestConcurrentUse drives every type documented as safe for concurrent
// use from several goroutines at once; run under -race it fails on any
// unguarded state.
func TestConcurrentUse(t *testing.T) {
	d := newTestDetector(t, WithMaxSeries(3))
	c := newTestCorrelator(t)
	p := NewProjector(time.Minute)
	store := &memoryStore{}
	ctx := context.Background()

	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 300 {
				at := start.Add(time.Duration(i) * time.Minute)
				s := Sample{Series: fmt.Sprintf("s%d", (g+i)%5), Time: at, Value: float64(i%7 + g)}
				if _, err := d.Observe(s); err != nil {
					t.Error(err)
					return
				}
				p.Observe(s)
				c.Add(anomalyAt(SignalRedisMisses, at, 1, 2))
				c.Event(Event{Kind: "deploy", Time: at})
				switch i % 50 {
				case 0:
					d.Save(ctx, store)
				case 25:
					d.Load(ctx, store)
				}
				d.Phase(s.Series)
				d.Len()
				c.Flush(at.Add(time.Hour))
				c.Incidents()
				p.Check(testPlan, at)
			}
		})
	}
	wg.Wait()
	if n := d.Len(); n > 3 {
		t.Errorf("detector keeps %d series, want at most 3", n)
	}
}
