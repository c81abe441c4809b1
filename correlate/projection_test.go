package correlate

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/upstash-ops/sdk/correlate/synth"
)

var testPlan = Plan{Name: "Free", Limits: map[string]float64{
	SignalRedisMemory: 256 << 20,
	SignalVectorIndex: 1e6,
}}

func TestProjectMemoryCeilingHoursAhead(t *testing.T) {
	p := NewProjector(5 * time.Minute)
	var now time.Time
	// 100 MiB growing by 2 MiB every 5 minutes for 6 hours.
	for i := range 72 {
		now = start.Add(time.Duration(i) * 5 * time.Minute)
		p.Observe(Sample{Series: SignalRedisMemory, Time: now, Value: float64(100<<20 + i*2<<20)})
	}
	got, ok := p.Project(SignalRedisMemory, testPlan, now)
	if !ok {
		t.Fatal("no projection")
	}
	if got.Model != Linear {
		t.Errorf("model = %v, want linear", got.Model)
	}
	// 256 - 242 MiB left at 2 MiB per 5 minutes: 35 minutes (+ half a step).
	if got.In < 30*time.Minute || got.In > 45*time.Minute || !got.Reaches {
		t.Errorf("reaches the limit in %v (reaches=%v), want about 35m", got.In, got.Reaches)
	}
	if !strings.Contains(got.Text, "reaches the Free limit") {
		t.Errorf("text = %q", got.Text)
	}
}

func TestProjectCompoundGrowth(t *testing.T) {
	p := NewProjector(time.Hour)
	points := synth.Traffic{Start: start, Step: time.Hour, N: 7 * 24, Base: 1e5, Noise: 0.001, Seed: 1}.Generate()
	synth.Ramp(points, 0, 0.002) // +0.2% an hour: about 40% a week
	for _, pt := range points {
		p.Observe(Sample{Series: SignalVectorIndex, Time: pt.Time, Value: pt.Value})
	}
	now := points[len(points)-1].Time
	got, ok := p.Project(SignalVectorIndex, testPlan, now)
	if !ok {
		t.Fatal("no projection")
	}
	if got.Model != Compound {
		t.Errorf("model = %v, want compound", got.Model)
	}
	if got.Growth < 0.35 || got.Growth > 0.45 {
		t.Errorf("growth = %.2f, want about 0.40", got.Growth)
	}
	// ln(1e6/1.4e5)/ln(1.002) hours: about 41 days.
	if days := got.In.Hours() / 24; days < 38 || days > 44 {
		t.Errorf("reaches the limit in %.1f days, want about 41", days)
	}
}

func TestProjectFlatNeverReaches(t *testing.T) {
	p := NewProjector(time.Hour)
	for i := range 48 {
		p.Observe(Sample{Series: SignalRedisMemory, Time: start.Add(time.Duration(i) * time.Hour), Value: 100 << 20})
	}
	got, ok := p.Project(SignalRedisMemory, testPlan, start.Add(48*time.Hour))
	if !ok || got.Reaches {
		t.Errorf("flat series: ok=%v reaches=%v, want a projection that never reaches", ok, got.Reaches)
	}
}

func TestProjectorCheckOnlyPlannedSignals(t *testing.T) {
	p := NewProjector(time.Hour)
	for i := range 5 {
		at := start.Add(time.Duration(i) * time.Hour)
		p.Observe(Sample{Series: SignalRedisMemory, Time: at, Value: float64(i + 1)})
		p.Observe(Sample{Series: SignalKafkaLag, Time: at, Value: float64(i + 1)})
	}
	got := p.Check(testPlan, start.Add(5*time.Hour))
	if len(got) != 1 || got[0].Series != SignalRedisMemory {
		t.Errorf("Check() = %+v, want only the memory series", got)
	}
}

func ExampleProjector() {
	p := NewProjector(24 * time.Hour)
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i, size := range []float64{500e3, 550e3, 605e3, 665e3, 732e3, 805e3, 885e3} {
		p.Observe(Sample{Series: SignalVectorIndex, Time: day.AddDate(0, 0, i), Value: size})
	}
	plan := Plan{Name: "Free", Limits: map[string]float64{SignalVectorIndex: 1e6}}
	pr, _ := p.Project(SignalVectorIndex, plan, day.AddDate(0, 0, 7))
	fmt.Println(pr.Text)
	// Output:
	// vector.index_size_bytes grew 77% in 6.0 days; at this rate (compound) it reaches the Free limit of 1M in 18h45m0s, at 2026-03-08 18:44 UTC
}

func TestProjectorBounds(t *testing.T) {
	p := NewProjector(time.Minute)
	for i := range 500 {
		p.Observe(Sample{Series: SignalRedisMemory, Time: start.Add(time.Duration(i) * time.Minute), Value: float64(i)})
	}
	for i := range 1100 {
		p.Observe(Sample{Series: fmt.Sprintf("app.s%d", i), Time: start, Value: 1})
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.series); n != 1000 {
		t.Errorf("projector keeps %d series, want the bound of 1000", n)
	}
	if _, ok := p.series[SignalRedisMemory]; ok {
		t.Error("the least recently updated series was kept")
	}
	if el, ok := p.series["app.s1099"]; !ok || len(el.Value.(*history).means) != 1 {
		t.Error("the newest series is missing")
	}
}

func TestProjectorKeepsOneWeekOfSteps(t *testing.T) {
	p := NewProjector(time.Hour)
	for i := range 300 {
		p.Observe(Sample{Series: SignalRedisMemory, Time: start.Add(time.Duration(i) * time.Hour), Value: float64(i)})
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.series[SignalRedisMemory].Value.(*history)
	if len(h.means) != 168 || h.means[0] != 132 {
		t.Errorf("history keeps %d steps starting at %v, want 168 starting at 132", len(h.means), h.means[0])
	}
}

// A series already past its limit must be reported as past it, whatever
// its trend: "does not reach the limit" would be false.
func TestProjectAlreadyAboveLimit(t *testing.T) {
	limit := testPlan.Limits[SignalRedisMemory]
	trends := map[string]float64{"flat": 0, "decreasing": -1 << 20, "growing": 1 << 20}
	for name, perHour := range trends {
		t.Run(name, func(t *testing.T) {
			p := NewProjector(time.Hour)
			for i := range 24 {
				v := 1.5*limit + float64(i)*perHour
				p.Observe(Sample{Series: SignalRedisMemory, Time: start.Add(time.Duration(i) * time.Hour), Value: v})
			}
			now := start.Add(24 * time.Hour)
			got, ok := p.Project(SignalRedisMemory, testPlan, now)
			if !ok {
				t.Fatal("no projection")
			}
			if !got.Reaches {
				t.Errorf("Reaches = false for a series at 1.5x its limit")
			}
			if got.In != 0 || !got.At.Equal(now) {
				t.Errorf("In = %v, At = %v, want 0 and now", got.In, got.At)
			}
			if !strings.Contains(got.Text, "already") || strings.Contains(got.Text, "does not reach") {
				t.Errorf("text = %q, want it to say the limit is already passed", got.Text)
			}
		})
	}
}

// A decreasing series under its limit never reaches it, and a series with
// fewer than three steps gets no projection.
func TestProjectDecreasingAndShort(t *testing.T) {
	p := NewProjector(time.Hour)
	for i := range 24 {
		p.Observe(Sample{Series: SignalRedisMemory, Time: start.Add(time.Duration(i) * time.Hour), Value: float64(200-i) * (1 << 20)})
	}
	got, ok := p.Project(SignalRedisMemory, testPlan, start.Add(24*time.Hour))
	if !ok || got.Reaches || got.Growth >= 0 {
		t.Errorf("decreasing series: ok=%v reaches=%v growth=%v, want a shrinking projection that never reaches", ok, got.Reaches, got.Growth)
	}
	if !strings.Contains(got.Text, "shrank") {
		t.Errorf("text = %q, want it to say the series shrank", got.Text)
	}

	short := NewProjector(time.Hour)
	for i := range 2 {
		short.Observe(Sample{Series: SignalRedisMemory, Time: start.Add(time.Duration(i) * time.Hour), Value: 1})
	}
	if _, ok := short.Project(SignalRedisMemory, testPlan, start.Add(2*time.Hour)); ok {
		t.Error("two steps of history gave a projection, want none below three")
	}
}
