package correlate

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"
)

// Event is something the application reports that may explain later
// anomalies: a deploy, a configuration change, a feature flag.
type Event struct {
	// Kind names the event, for example "deploy" or "config"; its series
	// is "event." + Kind.
	Kind   string
	Time   time.Time
	Detail string // for example "api v2.3.1"
}

// Incident is a group of related anomalies, explained as one story.
type Incident struct {
	// ID is stable for the story (the root and the chain of signals) and
	// its first onset.
	ID string
	// Story is the chain of signals, root first, which identifies a repeat.
	Story   string
	Start   time.Time // onset of the earliest member
	End     time.Time // detection of the latest member
	Root    Anomaly
	Chain   []Anomaly // root first, each one a plausible cause of the next
	Members []Anomaly // every member kept, in onset order
	// Dropped counts the anomalies that joined after Members reached its
	// bound of 64; they are not kept.
	Dropped int
	// Repeats counts later incidents with the same story that were merged
	// into this one instead of reported.
	Repeats  int
	LastSeen time.Time
	Summary  string // one line
	Text     string // the full explanation, several lines
}

// CorrelatorOption configures a Correlator.
type CorrelatorOption interface{ applyCorrelator(*correlatorConfig) }

type correlatorConfig struct {
	window      time.Duration
	lookback    time.Duration
	repeat      time.Duration
	maxMembers  int
	maxEvents   int
	maxStories  int
	edges       []Edge
	withDefault bool
}

type correlatorOptionFunc func(*correlatorConfig)

func (f correlatorOptionFunc) applyCorrelator(c *correlatorConfig) { f(c) }

// WithGroupWindow sets how close in time anomalies must be to join one
// incident: a new member must start within d of the incident's latest
// detection. Default 15 minutes.
func WithGroupWindow(d time.Duration) CorrelatorOption {
	return correlatorOptionFunc(func(c *correlatorConfig) { c.window = d })
}

// WithEventLookback sets how long before an incident's first onset an
// event may be to count as a candidate cause. Default 30 minutes.
func WithEventLookback(d time.Duration) CorrelatorOption {
	return correlatorOptionFunc(func(c *correlatorConfig) { c.lookback = d })
}

// WithRepeatWindow sets how long after an incident the same story is merged
// into it instead of reported again. Default 6 hours.
func WithRepeatWindow(d time.Duration) CorrelatorOption {
	return correlatorOptionFunc(func(c *correlatorConfig) { c.repeat = d })
}

// WithEdges adds causal edges to the graph, on top of DefaultEdges.
func WithEdges(edges ...Edge) CorrelatorOption {
	return correlatorOptionFunc(func(c *correlatorConfig) { c.edges = append(c.edges, edges...) })
}

// WithoutDefaultEdges starts the graph empty, so only WithEdges apply.
func WithoutDefaultEdges() CorrelatorOption {
	return correlatorOptionFunc(func(c *correlatorConfig) { c.withDefault = false })
}

// Correlator groups anomalies and events into incidents and explains them.
// It is safe for concurrent use.
//
// Memory is bounded: an open incident keeps at most 64 members (later ones
// are counted in Incident.Dropped, not kept), the Correlator keeps the last 64 events and the
// last 256 reported stories for merging repeats (the oldest is forgotten
// first).
type Correlator struct {
	cfg   correlatorConfig
	graph map[string][]Edge // by From

	mu      sync.Mutex
	open    *Incident
	events  []Anomaly
	stories []*Incident // reported incidents, oldest first
}

// NewCorrelator returns a Correlator with DefaultEdges and the options.
func NewCorrelator(opts ...CorrelatorOption) (*Correlator, error) {
	cfg := correlatorConfig{
		window: 15 * time.Minute, lookback: 30 * time.Minute, repeat: 6 * time.Hour,
		maxMembers: 64, maxEvents: 64, maxStories: 256, withDefault: true,
	}
	for _, o := range opts {
		o.applyCorrelator(&cfg)
	}
	if cfg.window <= 0 || cfg.lookback < 0 || cfg.repeat < 0 {
		return nil, fmt.Errorf("correlate: invalid correlator windows: group %v, event lookback %v, repeat %v", cfg.window, cfg.lookback, cfg.repeat)
	}
	c := &Correlator{cfg: cfg, graph: make(map[string][]Edge)}
	if cfg.withDefault {
		for _, e := range DefaultEdges {
			c.graph[e.From] = append(c.graph[e.From], e)
		}
	}
	for _, e := range cfg.edges {
		if e.From == "" || e.To == "" {
			return nil, fmt.Errorf("correlate: edge %q -> %q is missing a signal", e.From, e.To)
		}
		c.graph[e.From] = append(c.graph[e.From], e)
	}
	return c, nil
}

// Event records an event as a candidate root cause of anomalies that
// follow it.
func (c *Correlator) Event(e Event) {
	a := Anomaly{Series: SignalEvent + e.Kind, Kind: KindEvent, Start: e.Time, Detected: e.Time, Detail: e.Detail}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, a)
	if len(c.events) > c.cfg.maxEvents {
		c.events = slices.Delete(c.events, 0, len(c.events)-c.cfg.maxEvents)
	}
}

// Add adds an anomaly. It returns the incident that this anomaly closed,
// when it starts after the open incident's window has passed and that
// incident is not a repeat of a recent story.
func (c *Correlator) Add(a Anomaly) []Incident {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Incident
	if c.open != nil && a.Start.Sub(c.open.End) > c.cfg.window {
		out = c.closeLocked()
	}
	if c.open == nil {
		c.open = &Incident{Start: a.Start, End: a.Detected}
	}
	inc := c.open
	if len(inc.Members) < c.cfg.maxMembers {
		inc.Members = append(inc.Members, a)
	} else {
		inc.Dropped++
	}
	inc.Start = minTime(inc.Start, a.Start)
	inc.End = maxTime(inc.End, a.Detected)
	return out
}

// Flush closes the open incident when now is past its window and returns
// it, unless it repeats a story reported within the repeat window, in which
// case it is merged into that one and nothing is returned.
//
// NOTE: an anomaly added after the close starts a new incident even when
// its onset is earlier and it could cause the closed incident's root, as a
// drift confirmed long after it began can. The closed incident keeps its
// symptom as the root.
func (c *Correlator) Flush(now time.Time) []Incident {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open == nil || now.Sub(c.open.End) <= c.cfg.window {
		return nil
	}
	return c.closeLocked()
}

// Incidents returns the reported incidents, oldest first, with their
// merged repeats.
func (c *Correlator) Incidents() []Incident {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Incident, len(c.stories))
	for i, s := range c.stories {
		out[i] = *s
	}
	return out
}

func (c *Correlator) closeLocked() []Incident {
	inc := c.open
	c.open = nil
	slices.SortStableFunc(inc.Members, func(a, b Anomaly) int { return a.Start.Compare(b.Start) })
	c.attachEvents(inc)
	c.explain(inc)

	for _, prev := range slices.Backward(c.stories) {
		if prev.Story == inc.Story && inc.Start.Sub(prev.LastSeen) <= c.cfg.repeat {
			prev.Repeats++
			prev.LastSeen = inc.End
			return nil
		}
	}
	inc.LastSeen = inc.End
	c.stories = append(c.stories, inc)
	if len(c.stories) > c.cfg.maxStories {
		c.stories = slices.Delete(c.stories, 0, len(c.stories)-c.cfg.maxStories)
	}
	return []Incident{*inc}
}

// attachEvents adds the events that happened within the lookback before
// the incident's first onset (or during it) as members.
func (c *Correlator) attachEvents(inc *Incident) {
	var attached []Anomaly
	for _, e := range c.events {
		if !e.Start.Before(inc.Start.Add(-c.cfg.lookback)) && !e.Start.After(inc.End) {
			attached = append(attached, e)
		}
	}
	if len(attached) == 0 {
		return
	}
	inc.Members = append(attached, inc.Members...)
	slices.SortStableFunc(inc.Members, func(a, b Anomaly) int { return a.Start.Compare(b.Start) })
	inc.Start = inc.Members[0].Start
}

// causes reports whether a change of signal from can plausibly lead to a
// change of signal to, directly or through other signals, and returns the
// first edge of the path.
func (c *Correlator) causes(from, to string) (Edge, bool) {
	if strings.HasPrefix(from, SignalEvent) {
		return Edge{From: from, To: to, Why: "it changed just before"}, !strings.HasPrefix(to, SignalEvent)
	}
	seen := map[string]bool{from: true}
	type step struct {
		signal string
		first  Edge
	}
	queue := []step{}
	for _, e := range c.graph[from] {
		queue = append(queue, step{e.To, e})
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if s.signal == to {
			return s.first, true
		}
		if seen[s.signal] {
			continue
		}
		seen[s.signal] = true
		for _, e := range c.graph[s.signal] {
			queue = append(queue, step{e.To, s.first})
		}
	}
	return Edge{}, false
}

// explain picks the root and the chain and writes the text.
//
// A member is a root candidate when no member that started no later than
// it can plausibly cause it. The earliest candidate is the root, so a
// symptom is never the root while an earlier cause is present. The chain
// then follows, in onset order, each next member that the chain's last
// member can cause.
func (c *Correlator) explain(inc *Incident) {
	members := inc.Members
	root := 0
	for i, m := range members {
		caused := false
		for j, other := range members {
			if j != i && !other.Start.After(m.Start) && SignalOf(other.Series) != SignalOf(m.Series) {
				if _, ok := c.causes(SignalOf(other.Series), SignalOf(m.Series)); ok {
					caused = true
					break
				}
			}
		}
		if !caused {
			root = i
			break
		}
	}
	inc.Root = members[root]
	inc.Chain = []Anomaly{members[root]}
	used := map[int]bool{root: true}
	for {
		last := inc.Chain[len(inc.Chain)-1]
		next := -1
		for i, m := range members {
			if used[i] || m.Start.Before(last.Start) || SignalOf(m.Series) == SignalOf(last.Series) {
				continue
			}
			if _, ok := c.causes(SignalOf(last.Series), SignalOf(m.Series)); ok {
				next = i
				break
			}
		}
		if next < 0 {
			break
		}
		used[next] = true
		inc.Chain = append(inc.Chain, members[next])
	}

	signals := make([]string, len(inc.Chain))
	for i, a := range inc.Chain {
		signals[i] = SignalOf(a.Series)
	}
	inc.Story = strings.Join(signals, " -> ")
	h := fnv.New64a()
	h.Write([]byte(inc.Story))
	inc.ID = fmt.Sprintf("%016x-%d", h.Sum64(), inc.Start.Unix())
	inc.Summary, inc.Text = c.render(inc)
}
