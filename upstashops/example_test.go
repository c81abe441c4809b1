package upstashops_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/upstash-ops/sdk/upstashops"
)

// A job reports findings; RunOnce runs it now and returns them, most
// severe first once stored.
func ExampleOperator_RunOnce() {
	job := upstashops.NewJob("zombies", func(ctx context.Context) (upstashops.Result, error) {
		return upstashops.Result{Findings: []upstashops.Finding{{
			Kind:           "schedule.zombie",
			Subject:        "scd_123",
			Severity:       upstashops.Warning,
			Summary:        "Schedule scd_123 has failed every delivery for 30 days",
			Recommendation: "Delete the schedule.",
			SavingsUSD:     4.2,
			Actions:        []upstashops.Action{{Class: upstashops.ActionDeleteSchedule, Target: "scd_123"}},
		}}}, nil
	})
	op, err := upstashops.New(upstashops.WithJob(job))
	if err != nil {
		panic(err)
	}
	defer op.Close(context.Background())

	if _, err := op.RunOnce(context.Background(), "zombies"); err != nil {
		panic(err)
	}
	for _, f := range op.Findings() {
		fmt.Println(f.ID, f.Severity, f.Summary)
	}
	fmt.Println(op.Narrative(context.Background(), op.Findings()))
	// Output:
	// schedule.zombie-68cf285c6af9bf6b warning Schedule scd_123 has failed every delivery for 30 days
	// 1 open finding (1 warning). Following the recommendations would save an estimated $4.20 per month. Most urgent: Schedule scd_123 has failed every delivery for 30 days; delete the schedule.
}

// Deletes stay behind an approval even in a policy that makes everything
// else autonomous.
func ExamplePolicy_For() {
	p := upstashops.Policy{Default: upstashops.Autonomous}
	fmt.Println(p.For(upstashops.ActionPauseSchedule))
	fmt.Println(p.For(upstashops.ActionDeleteSchedule))
	fmt.Println(upstashops.ObserveOnly.For(upstashops.ActionPauseSchedule))
	// Output:
	// autonomous
	// approval
	// recommend
}

// A receiver of Webhook notifications checks the signature and age of each
// request before trusting its body.
func ExampleVerifyWebhookSignature() {
	secret := []byte("whsec-example")
	body := []byte(`{"event":"alert"}`)
	h := http.Header{}
	h.Set(upstashops.WebhookTimestampHeader, "1767225600")
	h.Set(upstashops.WebhookSignatureHeader, "v1=5f3d0b2f1f5e0f2a") // not the real HMAC
	now := time.Unix(1767225630, 0)
	fmt.Println(upstashops.VerifyWebhookSignature(secret, h, body, now, 5*time.Minute))
	// Output:
	// upstashops: webhook signature is missing, invalid or too old
}
