package correlate

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/upstash-ops/sdk/correlate/synth"
)

func newTestCorrelator(t *testing.T, opts ...CorrelatorOption) *Correlator {
	t.Helper()
	c, err := NewCorrelator(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func anomalyAt(series string, at time.Time, expected, value float64) Anomaly {
	return Anomaly{Series: series, Kind: KindSpike, Start: at, Detected: at.Add(time.Minute), Value: value, Expected: expected}
}

func chainSignals(inc Incident) []string {
	var out []string
	for _, a := range inc.Chain {
		out = append(out, SignalOf(a.Series))
	}
	return out
}

type namedSeries struct {
	name   string
	points []synth.Point
}

// runScenario feeds the series, aligned by index, through d and c as a
// Monitor would, and returns the incidents reported.
func runScenario(t *testing.T, d *Detector, c *Correlator, series []namedSeries) []Incident {
	t.Helper()
	var incidents []Incident
	for i := range series[0].points {
		for _, s := range series {
			sc, err := d.Observe(Sample{Series: s.name, Time: s.points[i].Time, Value: s.points[i].Value})
			if err != nil {
				t.Fatal(err)
			}
			if sc.Onset != nil {
				incidents = append(incidents, c.Add(*sc.Onset)...)
			}
		}
		incidents = append(incidents, c.Flush(series[0].points[i].Time)...)
	}
	return incidents
}

// TestCacheDeployStory runs the whole path: synthetic series through the
// Detector, onsets into the Correlator, one incident out.
func TestCacheDeployStory(t *testing.T) {
	d := newTestDetector(t)
	c := newTestCorrelator(t)

	const days = 5
	traffic := func(seed uint64, base float64) []synth.Point {
		return synth.Traffic{Start: start, Step: 5 * time.Minute, N: days * 288, Base: base, Daily: 0.4, Noise: 0.03, Seed: seed}.Generate()
	}
	hit := synth.Traffic{Start: start, Step: 5 * time.Minute, N: days * 288, Base: 0.92, Noise: 0.004, Seed: 10}.Generate()
	misses := traffic(11, 120)
	publish := traffic(12, 40)
	lag := traffic(13, 30)

	at := 4*288 + 150 // day 5, 12:30
	deploy := hit[at-1].Time.Add(-2 * time.Minute)
	// The deploy is rolled back two hours later.
	synth.Spike(hit, at, 24, 0.55)
	synth.Spike(misses, at+1, 23, 5)
	synth.Spike(publish, at+2, 22, 3)
	synth.Spike(lag, at+4, 20, 6)
	c.Event(Event{Kind: "deploy", Time: deploy, Detail: "api v2.3.1"})

	incidents := runScenario(t, d, c, []namedSeries{
		{SignalRedisHitRatio, hit}, {SignalRedisMisses, misses},
		{SignalQStashPublish, publish}, {SignalQStashQueueLag + "{queue=refill}", lag},
	})
	if len(incidents) != 1 {
		for _, inc := range incidents {
			t.Log(inc.Text)
		}
		t.Fatalf("got %d incidents, want 1", len(incidents))
	}
	inc := incidents[0]
	want := []string{"event.deploy", SignalRedisHitRatio, SignalRedisMisses, SignalQStashPublish, SignalQStashQueueLag}
	if got := chainSignals(inc); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("chain = %v, want %v\n%s", got, want, inc.Text)
	}
	for _, part := range []string{"api v2.3.1", "redis.hit_ratio fell from", "roll back", "Likely chain"} {
		if !strings.Contains(inc.Text, part) {
			t.Errorf("incident text lacks %q:\n%s", part, inc.Text)
		}
	}
}

func TestSymptomNeverRoot(t *testing.T) {
	c := newTestCorrelator(t)
	t0 := start.Add(time.Hour)
	// The symptom is reported first but started later than its cause.
	c.Add(anomalyAt(SignalRedisMisses, t0.Add(2*time.Minute), 100, 500))
	c.Add(anomalyAt(SignalRedisHitRatio, t0, 0.9, 0.5))
	got := c.Flush(t0.Add(time.Hour))
	if len(got) != 1 {
		t.Fatalf("got %d incidents, want 1", len(got))
	}
	if root := SignalOf(got[0].Root.Series); root != SignalRedisHitRatio {
		t.Errorf("root = %s, want %s\n%s", root, SignalRedisHitRatio, got[0].Text)
	}
}

// TestPublishFloodScenario runs a flood of published jobs through the
// Detector: the queue lags, deliveries keep succeeding, and the incident
// text calls it load, not a failing endpoint.
func TestPublishFloodScenario(t *testing.T) {
	d := newTestDetector(t)
	c := newTestCorrelator(t)
	const n = 5 * 288
	traffic := func(seed uint64, base, noise float64) []synth.Point {
		return synth.Traffic{Start: start, Step: 5 * time.Minute, N: n, Base: base, Daily: 0.3, Noise: noise, Seed: seed}.Generate()
	}
	publish := traffic(31, 40, 0.03)
	lag := traffic(32, 30, 0.03)
	delivered := synth.Traffic{Start: start, Step: 5 * time.Minute, N: n, Base: 0.99, Noise: 0.002, Seed: 33}.Generate()
	at := 4*288 + 150
	synth.Spike(publish, at, 24, 10)
	synth.Spike(lag, at+2, 22, 20)

	incidents := runScenario(t, d, c, []namedSeries{
		{SignalQStashPublish, publish},
		{SignalQStashQueueLag + "{queue=jobs}", lag},
		{SignalQStashDelivered, delivered},
	})
	if len(incidents) != 1 {
		for _, inc := range incidents {
			t.Log(inc.Text)
		}
		t.Fatalf("got %d incidents, want 1", len(incidents))
	}
	inc := incidents[0]
	if got := chainSignals(inc); strings.Join(got, ",") != SignalQStashPublish+","+SignalQStashQueueLag {
		t.Errorf("chain = %v, want publish then queue lag\n%s", got, inc.Text)
	}
	if !strings.Contains(inc.Text, "not an endpoint failure") {
		t.Errorf("text does not rule out an endpoint failure:\n%s", inc.Text)
	}
}

func TestPublishFloodIsNotEndpointFailure(t *testing.T) {
	c := newTestCorrelator(t)
	t0 := start.Add(time.Hour)
	c.Add(anomalyAt(SignalQStashPublish, t0, 40, 400))
	c.Add(anomalyAt(SignalQStashQueueLag+"{queue=emails}", t0.Add(3*time.Minute), 10, 900))
	got := c.Flush(t0.Add(time.Hour))
	if len(got) != 1 {
		t.Fatalf("got %d incidents, want 1", len(got))
	}
	if root := SignalOf(got[0].Root.Series); root != SignalQStashPublish {
		t.Errorf("root = %s, want %s", root, SignalQStashPublish)
	}
	if !strings.Contains(got[0].Text, "not an endpoint failure") {
		t.Errorf("text does not rule out an endpoint failure:\n%s", got[0].Text)
	}
	if strings.Contains(got[0].Text, "deliveries are failing") {
		t.Errorf("text blames the endpoint:\n%s", got[0].Text)
	}
}

func TestRepeatsMergedNotRealerted(t *testing.T) {
	c := newTestCorrelator(t)
	var reported int
	for i := range 3 {
		t0 := start.Add(time.Duration(i) * time.Hour)
		c.Add(anomalyAt(SignalRedisMemory, t0, 100, 200))
		c.Add(anomalyAt(SignalRedisEvicted, t0.Add(time.Minute), 0, 50))
		reported += len(c.Flush(t0.Add(30 * time.Minute)))
	}
	if reported != 1 {
		t.Errorf("reported %d incidents for one repeated story, want 1", reported)
	}
	all := c.Incidents()
	if len(all) != 1 || all[0].Repeats != 2 {
		t.Errorf("Incidents() = %d incidents with %v repeats, want 1 with 2", len(all), all)
	}
}

func TestAppEdgesJoinChain(t *testing.T) {
	c := newTestCorrelator(t, WithEdges(Edge{From: "app.checkout_errors", To: SignalRedisCommands, Why: "retries hit Redis"}))
	t0 := start.Add(time.Hour)
	c.Add(anomalyAt("app.checkout_errors", t0, 1, 30))
	c.Add(anomalyAt(SignalRedisCommands, t0.Add(time.Minute), 100, 900))
	got := c.Flush(t0.Add(time.Hour))
	if len(got) != 1 {
		t.Fatalf("got %d incidents, want 1", len(got))
	}
	if want := "app.checkout_errors -> " + SignalRedisCommands; got[0].Story != want {
		t.Errorf("story = %q, want %q", got[0].Story, want)
	}
	if !strings.Contains(got[0].Text, "retries hit Redis") {
		t.Errorf("text lacks the edge's reason:\n%s", got[0].Text)
	}
}

func TestSeparateIncidentsOutsideWindow(t *testing.T) {
	c := newTestCorrelator(t)
	t0 := start.Add(time.Hour)
	c.Add(anomalyAt(SignalVectorIndex, t0, 1e6, 2e6))
	out := c.Add(anomalyAt(SignalKafkaLag, t0.Add(2*time.Hour), 10, 1e5))
	if len(out) != 1 || SignalOf(out[0].Root.Series) != SignalVectorIndex {
		t.Fatalf("Add after the window returned %v, want the vector incident", out)
	}
	if got := c.Flush(t0.Add(3 * time.Hour)); len(got) != 1 {
		t.Errorf("Flush returned %d incidents, want the Kafka one", len(got))
	}
}

func ExampleCorrelator() {
	c, _ := NewCorrelator()
	t0 := time.Date(2026, 3, 6, 14, 0, 0, 0, time.UTC)
	c.Event(Event{Kind: "deploy", Time: t0, Detail: "api v2.3.1"})
	c.Add(Anomaly{Series: SignalRedisHitRatio, Kind: KindSpike, Start: t0.Add(2 * time.Minute), Detected: t0.Add(3 * time.Minute), Expected: 0.92, Value: 0.51})
	c.Add(Anomaly{Series: SignalRedisMisses, Kind: KindSpike, Start: t0.Add(3 * time.Minute), Detected: t0.Add(4 * time.Minute), Expected: 120, Value: 610})
	for _, inc := range c.Flush(t0.Add(time.Hour)) {
		fmt.Println(inc.Summary)
	}
	// Output:
	// deploy: api v2.3.1; 2 related anomalies: event.deploy -> redis.hit_ratio -> redis.keyspace_misses_per_sec
}

func TestCorrelatorBounds(t *testing.T) {
	c := newTestCorrelator(t, WithRepeatWindow(0))
	for i := range 100 {
		c.Event(Event{Kind: "deploy", Time: start.Add(time.Duration(i) * time.Second), Detail: fmt.Sprint(i)})
	}
	t0 := start.Add(time.Hour)
	for i := range 100 {
		c.Add(anomalyAt(fmt.Sprintf("app.signal_%d", i), t0.Add(time.Duration(i)*time.Second), 1, 2))
	}
	got := c.Flush(t0.Add(time.Hour))
	if len(got) != 1 {
		t.Fatalf("got %d incidents, want 1", len(got))
	}
	if n := len(got[0].Members); n != 64 {
		t.Errorf("incident keeps %d members, want the bound of 64", n)
	}
	if n := got[0].Dropped; n != 36 {
		t.Errorf("incident counts %d dropped members, want 36", n)
	}
	if !strings.Contains(got[0].Text, "36 more") {
		t.Errorf("incident text does not mention the 36 anomalies left out:\n%s", got[0].Text)
	}
	c.mu.Lock()
	events := len(c.events)
	c.mu.Unlock()
	if events != 64 {
		t.Errorf("correlator keeps %d events, want the bound of 64", events)
	}

	for i := range 300 {
		at := t0.Add(time.Duration(i+2) * 24 * time.Hour)
		c.Add(anomalyAt(fmt.Sprintf("app.story_%d", i), at, 1, 2))
		c.Flush(at.Add(time.Hour))
	}
	if n := len(c.Incidents()); n != 256 {
		t.Errorf("correlator keeps %d stories, want the bound of 256", n)
	}
}

// TestRootNeverHasEarlierCause checks the root rule on random incidents
// over the default graph: no member that started strictly before the root
// can cause it, and the chain follows onset order along causal edges.
func TestRootNeverHasEarlierCause(t *testing.T) {
	var signals []string
	for _, e := range DefaultEdges {
		signals = append(signals, e.From, e.To)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for trial := range 500 {
		c := newTestCorrelator(t, WithRepeatWindow(0))
		t0 := start.Add(time.Duration(trial) * 24 * time.Hour)
		for range 2 + rng.IntN(6) {
			at := t0.Add(time.Duration(rng.IntN(10)) * time.Minute)
			c.Add(anomalyAt(signals[rng.IntN(len(signals))], at, 1, 2))
		}
		got := c.Flush(t0.Add(time.Hour))
		if len(got) != 1 {
			t.Fatalf("trial %d: got %d incidents, want 1", trial, len(got))
		}
		inc := got[0]
		root := inc.Root
		for _, m := range inc.Members {
			if m.Start.Before(root.Start) && SignalOf(m.Series) != SignalOf(root.Series) {
				if _, ok := c.causes(SignalOf(m.Series), SignalOf(root.Series)); ok {
					t.Fatalf("trial %d: root %s has an earlier cause %s\n%s", trial, root.Series, m.Series, inc.Text)
				}
			}
		}
		for i := 1; i < len(inc.Chain); i++ {
			from, to := inc.Chain[i-1], inc.Chain[i]
			if to.Start.Before(from.Start) {
				t.Fatalf("trial %d: chain goes back in time from %s to %s", trial, from.Series, to.Series)
			}
			if _, ok := c.causes(SignalOf(from.Series), SignalOf(to.Series)); !ok {
				t.Fatalf("trial %d: chain link %s -> %s is not an edge path", trial, from.Series, to.Series)
			}
		}
	}
}
