package upstashops

import (
	"testing"
	"time"
)

func TestFindingIDStable(t *testing.T) {
	a := FindingID("schedule.zombie", "scd_123")
	b := FindingID("schedule.zombie", "scd_123")
	if a != b {
		t.Fatalf("FindingID differs for equal inputs: %q, %q", a, b)
	}
	if got, want := a, "schedule.zombie-"; len(got) != len(want)+16 || got[:len(want)] != want {
		t.Errorf("FindingID = %q, want prefix %q and 16 hex digits", got, want)
	}
	if c := FindingID("schedule.zombie", "scd_124"); c == a {
		t.Errorf("different subjects share ID %q", a)
	}
	// Subject parts are separated, so ("ab","c") and ("a","bc") differ.
	if FindingID("k", "ab", "c") == FindingID("k", "a", "bc") {
		t.Error("subject parts are not separated in the hash")
	}
}

func TestFindingNormalize(t *testing.T) {
	f := Finding{Kind: "cost.missing_ttl", Subject: "session:*", Actions: []Action{{Class: ActionTTLFloor, Target: "session:*"}}}
	f.normalize(CostJob, epoch)
	if f.ID != FindingID("cost.missing_ttl", "session:*") {
		t.Errorf("ID = %q", f.ID)
	}
	if f.Source != CostJob || !f.FirstSeen.Equal(epoch) || !f.LastSeen.Equal(epoch) {
		t.Errorf("Source, FirstSeen, LastSeen = %q, %v, %v", f.Source, f.FirstSeen, f.LastSeen)
	}
	a := f.Actions[0]
	if a.FindingID != f.ID || a.ID == "" {
		t.Errorf("action IDs = %q, %q", a.FindingID, a.ID)
	}
	g := Finding{Kind: "cost.missing_ttl", Subject: "session:*", Actions: []Action{{Class: ActionTTLFloor, Target: "session:*"}}}
	g.normalize(CostJob, epoch.Add(time.Hour))
	if g.Actions[0].ID != a.ID {
		t.Errorf("action ID not stable across runs: %q, %q", g.Actions[0].ID, a.ID)
	}
}

func TestSeverityText(t *testing.T) {
	for _, s := range []Severity{Info, Warning, Critical} {
		b, _ := s.MarshalText()
		var got Severity
		if err := got.UnmarshalText(b); err != nil || got != s {
			t.Errorf("round trip of %v = %v, %v", s, got, err)
		}
	}
	var s Severity
	if err := s.UnmarshalText([]byte("fatal")); err == nil {
		t.Error("UnmarshalText(fatal) succeeded")
	}
}
