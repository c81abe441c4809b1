package adaptive

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseMembersSkipsMalformed(t *testing.T) {
	members := []string{
		"1777852800:i1:1:10:2",
		"1777852800:i2:1:5:0",
		"1777852860:i1:2:-4:0",      // negative requests
		"1777852860:i1:2:3:4",       // more denied than requests
		"1777852860:i1:2:9",         // 4 parts
		"adj:1777852800000:2:2:500", // a cut, applied
		"adj:1777852800000:x:2:500",
		"adj:1:2:2:NaN",
	}
	buckets, adjustments := parseMembers(members)
	want := []Bucket{{Start: time.Unix(1777852800, 0).UTC(), Requests: 15, Denied: 2}}
	if diff := cmp.Diff(want, buckets); diff != "" {
		t.Errorf("buckets (-want +got):\n%s", diff)
	}
	wantAdj := []adjustment{{at: time.UnixMilli(1777852800000).UTC(), kind: KindTighten, stage: StageApplied, to: 500}}
	if diff := cmp.Diff(wantAdj, adjustments, cmp.AllowUnexported(adjustment{})); diff != "" {
		t.Errorf("adjustments (-want +got):\n%s", diff)
	}
}

// FuzzParseMembers checks that history members of any shape, as another
// writer could leave them in Redis, never panic and never yield a bucket
// with negative counts or more denied than requests.
func FuzzParseMembers(f *testing.F) {
	f.Add("1777852800:i1:1:10:2\nadj:1777852800000:1:2:1000")
	f.Add("::::\nadj::::")
	f.Add("9223372036854775807:i:1:1099511627776:0\n9223372036854775807:i:2:1099511627776:1")
	f.Fuzz(func(t *testing.T, text string) {
		buckets, adjustments := parseMembers(strings.Split(text, "\n"))
		for i, b := range buckets {
			if b.Requests < 0 || b.Denied < 0 || b.Denied > b.Requests {
				t.Errorf("bucket %+v has invalid counts", b)
			}
			if i > 0 && !buckets[i-1].Start.Before(b.Start) {
				t.Errorf("buckets out of order at %d: %v then %v", i, buckets[i-1].Start, b.Start)
			}
		}
		for i := 1; i < len(adjustments); i++ {
			if adjustments[i].at.Before(adjustments[i-1].at) {
				t.Errorf("adjustments out of order at %d", i)
			}
		}
	})
}
