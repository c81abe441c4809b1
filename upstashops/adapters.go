package upstashops

import (
	"sort"
	"sync"
	"time"

	"github.com/upstash-ops/sdk/internal/clock"
)

// clocked is implemented by the built-in adapters, which take the
// Operator's clock when they are added.
type clocked interface{ setClock(clock.Clock) }

// recentFindings keeps the findings of a source whose input is a stream of
// new events (workflow failures, incidents): a finding stays open until
// keep has passed since it was last seen, then resolves.
//
// It holds at most max findings; beyond that the one seen least recently is
// dropped.
type recentFindings struct {
	keep time.Duration
	max  int

	mu   sync.Mutex
	byID map[string]Finding
}

func newRecentFindings(keep time.Duration, max int) *recentFindings {
	return &recentFindings{keep: keep, max: max, byID: map[string]Finding{}}
}

// add records f as seen at now; its FirstSeen is kept from earlier sightings.
func (r *recentFindings) add(f Finding, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f.ID == "" {
		f.ID = FindingID(f.Kind, f.Subject)
	}
	if old, ok := r.byID[f.ID]; ok {
		f.FirstSeen = old.FirstSeen
	} else {
		f.FirstSeen = now
	}
	f.LastSeen = now
	r.byID[f.ID] = f
	if len(r.byID) > r.max {
		var oldest string
		for id, g := range r.byID {
			if oldest == "" || g.LastSeen.Before(r.byID[oldest].LastSeen) {
				oldest = id
			}
		}
		delete(r.byID, oldest)
	}
}

// open returns the findings seen within keep of now, dropping the others.
// FirstSeen and LastSeen are cleared, because the Operator sets them.
func (r *recentFindings) open(now time.Time) []Finding {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Finding, 0, len(r.byID))
	for id, f := range r.byID {
		if now.Sub(f.LastSeen) > r.keep {
			delete(r.byID, id)
			continue
		}
		f.FirstSeen, f.LastSeen = time.Time{}, time.Time{}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
