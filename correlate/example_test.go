package correlate_test

import (
	"fmt"
	"math"
	"time"

	"github.com/upstash-ops/sdk/correlate"
)

func ExampleDetector() {
	d, _ := correlate.NewDetector()
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for i := range 300 {
		// A steady command rate with a small wobble, then a jump at sample 280.
		v := 500 + 10*math.Sin(float64(i))
		if i >= 280 {
			v *= 4
		}
		s, _ := d.Observe(correlate.Sample{Series: correlate.SignalRedisCommands, Time: t0.Add(time.Duration(i) * time.Minute), Value: v})
		if s.Onset != nil {
			fmt.Printf("%s %s from %.0f to %.0f, started %s, confirmed %s\n", s.Onset.Series, s.Onset.Kind,
				s.Onset.Expected, s.Onset.Value, s.Onset.Start.Format("15:04"), s.Onset.Detected.Format("15:04"))
		}
	}
	// Output:
	// redis.commands_per_sec spike from 501 to 1961, started 04:40, confirmed 04:41
}
