package heal

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestDeliveryEventTargets(t *testing.T) {
	tests := []struct {
		delivery Delivery
		want     string
	}{
		{Delivery{MessageID: "m1", ScheduleID: "scd_1", URL: "https://app.example.com/cron"}, "schedule:scd_1"},
		{Delivery{MessageID: "m2", QueueName: "emails", URL: "https://app.example.com/send"}, "queue:emails"},
		{Delivery{MessageID: "m3", URL: "https://app.example.com/hook"}, "https://app.example.com/hook"},
	}
	for _, tt := range tests {
		ev := DeliveryEvent(tt.delivery)
		if ev.Target != tt.want || ev.RunID != tt.delivery.MessageID || !ev.Own {
			t.Errorf("DeliveryEvent(%+v) = target %q run %q own %v, want %q", tt.delivery, ev.Target, ev.RunID, ev.Own, tt.want)
		}
	}
}

func TestDeliveryTimeoutsPointAtOwnEndpoint(t *testing.T) {
	m, _, clk := newTestMonitor(t, DryRun)
	var d Decision
	for i := range 3 {
		var err error
		d, err = m.Observe(context.Background(), DeliveryEvent(Delivery{
			MessageID: fmt.Sprintf("msg_%d", i), ScheduleID: "scd_nightly", URL: "https://hooks.example.net/nightly",
			State: "FAILED", Error: "context deadline exceeded", Time: clk.Now(),
		}))
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
	}
	if d.Verdict.Class != Configuration {
		t.Errorf("class = %v, want configuration for a delivery that times out every time", d.Verdict.Class)
	}
}

func TestFailedEventState(t *testing.T) {
	for state, want := range map[string]bool{"ERROR": true, "FAILED": true, "failed": true, "DELIVERED": false, "RETRY": false, "": false} {
		if got := failedEventState(state); got != want {
			t.Errorf("failedEventState(%q) = %v, want %v", state, got, want)
		}
	}
}
