package correlate

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/upstash/qstash-go"

	"github.com/upstash-ops/sdk/internal/clock"
	"github.com/upstash-ops/sdk/internal/qstashemu"
)

func newQStashEnv(t *testing.T, opts ...QStashOption) (*qstashemu.Server, *qstash.Client, *clock.Fake, *QStashCollector) {
	t.Helper()
	fake := clock.NewFake(start)
	emu := qstashemu.StartT(t, qstashemu.WithClock(fake))
	client := qstash.NewClientWith(qstash.Options{Url: emu.URL(), Token: emu.Token(), Client: emu.Client()})
	coll, err := NewQStashCollector(QStashClient(client), append([]QStashOption{WithQStashClock(fake)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return emu, client, fake, coll
}

func TestQStashCollectorQueuesAndRates(t *testing.T) {
	emu, client, fake, coll := newQStashEnv(t)
	ctx := context.Background()
	if err := client.Queues().Upsert(qstash.Queue{Name: "emails", Parallelism: 3}); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if _, err := client.Enqueue(qstash.EnqueueOptions{Queue: "emails", PublishOptions: qstash.PublishOptions{Url: "https://example.com/hook", Body: "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	fake.Advance(time.Second) // the polls below start after the enqueues
	for i := range 150 {
		emu.AddDLQ(qstashemu.DLQEntry{MessageID: fmt.Sprintf("dead-%d", i), URL: "https://example.com/hook", CreatedAt: start})
	}

	first, err := coll.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := samplesByName(first)
	if s[SignalQStashQueueLag+"{queue=emails}"] != 4 || s[SignalQStashParallel+"{queue=emails}"] != 3 {
		t.Errorf("queue samples = %v, want lag 4 and parallelism 3", s)
	}
	if s[SignalQStashDLQ] != 150 {
		t.Errorf("DLQ size = %v, want 150 (two pages)", s[SignalQStashDLQ])
	}
	if _, ok := s[SignalQStashPublish]; ok {
		t.Error("first poll reports a publish rate, want none")
	}

	// One minute: 30 messages published, 18 delivered, 2 attempts failed.
	base := fake.Now()
	add := func(n int, state string) {
		for i := range n {
			emu.AddEvent(qstashemu.Event{Time: base.Add(time.Duration(i+1) * time.Second), MessageID: fmt.Sprintf("%s-%d", state, i), State: state})
		}
	}
	add(30, qstashemu.StateCreated)
	add(18, qstashemu.StateDelivered)
	add(2, qstashemu.StateError)
	fake.Advance(time.Minute)
	got, err := coll.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s = samplesByName(got)
	if s[SignalQStashPublish] != 0.5 {
		t.Errorf("publish rate = %v/s, want 0.5", s[SignalQStashPublish])
	}
	if s[SignalQStashDelivered] != 0.9 {
		t.Errorf("delivery success ratio = %v, want 0.9", s[SignalQStashDelivered])
	}
}

func TestQStashCollectorTruncatedEvents(t *testing.T) {
	var logs bytes.Buffer
	emu, _, fake, coll := newQStashEnv(t, WithQStashPages(1, 1), WithQStashLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	ctx := context.Background()
	if _, err := coll.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	// 1,500 publishes over a minute, one every 40ms: 25 per second.
	base := fake.Now()
	for i := range 1500 {
		emu.AddEvent(qstashemu.Event{Time: base.Add(time.Duration(i) * 40 * time.Millisecond), MessageID: fmt.Sprintf("m%d", i), State: qstashemu.StateCreated})
	}
	fake.Advance(time.Minute)
	got, err := coll.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rate := samplesByName(got)[SignalQStashPublish]; rate < 24 || rate > 26 {
		t.Errorf("publish rate from the newest page = %v/s, want about 25", rate)
	}
	if !strings.Contains(logs.String(), "page limit") {
		t.Errorf("truncation not logged: %q", logs.String())
	}
}

func TestQStashCollectorErrorHidesToken(t *testing.T) {
	emu := qstashemu.StartT(t)
	const secret = "qstash-secret-token-5678"
	client := qstash.NewClientWith(qstash.Options{Url: emu.URL(), Token: secret, Client: emu.Client()})
	coll, err := NewQStashCollector(QStashClient(client))
	if err != nil {
		t.Fatal(err)
	}
	_, err = coll.Collect(context.Background())
	if err == nil {
		t.Fatal("Collect succeeded with a wrong token")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error reveals the token: %v", err)
	}
}
