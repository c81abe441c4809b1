package correlate

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/upstash-ops/sdk/internal/clock"
)

type kafkaEnv struct {
	t      *testing.T
	client *kafka.Client
	clock  *clock.Fake
	coll   *KafkaCollector
}

func newKafkaEnv(t *testing.T, groups ...string) *kafkaEnv {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	client := &kafka.Client{Addr: kafka.TCP(cluster.ListenAddrs()...), Timeout: 10 * time.Second}
	fake := clock.NewFake(start)
	coll, err := NewKafkaCollector(client, WithGroups(groups...), WithKafkaClock(fake), WithLagWindow(3))
	if err != nil {
		t.Fatal(err)
	}
	return &kafkaEnv{t: t, client: client, clock: fake, coll: coll}
}

func (e *kafkaEnv) produce(partition, n int) {
	e.t.Helper()
	records := make([]kafka.Record, n)
	for i := range records {
		records[i] = kafka.Record{Value: kafka.NewBytes([]byte(fmt.Sprintf("m%d", i)))}
	}
	resp, err := e.client.Produce(context.Background(), &kafka.ProduceRequest{
		Topic: "orders", Partition: partition, RequiredAcks: kafka.RequireAll, Records: kafka.NewRecordReader(records...),
	})
	if err != nil || resp.Error != nil {
		e.t.Fatalf("produce to partition %d: %v %v", partition, err, resp)
	}
}

func (e *kafkaEnv) commit(group string, offsets map[int]int64) {
	e.t.Helper()
	var commits []kafka.OffsetCommit
	for p, off := range offsets {
		commits = append(commits, kafka.OffsetCommit{Partition: p, Offset: off})
	}
	resp, err := e.client.OffsetCommit(context.Background(), &kafka.OffsetCommitRequest{
		GroupID: group, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{"orders": commits},
	})
	if err != nil {
		e.t.Fatalf("commit for group %s: %v", group, err)
	}
	for _, p := range resp.Topics["orders"] {
		if p.Error != nil {
			e.t.Fatalf("commit for group %s partition %d: %v", group, p.Partition, p.Error)
		}
	}
}

func (e *kafkaEnv) poll() KafkaSnapshot {
	e.t.Helper()
	e.clock.Advance(time.Minute)
	snap, err := e.coll.Poll(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return snap
}

func groupOf(t *testing.T, snap KafkaSnapshot, id string) GroupLag {
	t.Helper()
	for _, g := range snap.Groups {
		if g.Group == id {
			return g
		}
	}
	t.Fatalf("group %q not in snapshot %+v", id, snap)
	return GroupLag{}
}

func TestKafkaNotStartedPartitions(t *testing.T) {
	e := newKafkaEnv(t, "fresh")
	for p := range 3 {
		e.produce(p, 10)
	}
	e.commit("fresh", map[int]int64{0: 4}) // partitions 1 and 2 never committed
	g := groupOf(t, e.poll(), "fresh")

	if len(g.Partitions) != 3 {
		t.Fatalf("got %d partitions, want 3: %+v", len(g.Partitions), g.Partitions)
	}
	p0, p1 := g.Partitions[0], g.Partitions[1]
	if !p0.Started || p0.Lag != 6 {
		t.Errorf("partition 0 = %+v, want started with lag 6", p0)
	}
	if p1.Started || p1.Committed != -1 {
		t.Errorf("partition 1 = %+v, want not started with committed -1", p1)
	}
	if p1.Lag != 10 {
		t.Errorf("partition 1 lag = %d, want 10 (the whole log)", p1.Lag)
	}
	if g.Verdict != VerdictOK {
		t.Errorf("verdict = %v, want OK", g.Verdict)
	}
}

func TestKafkaSteadyConsumer(t *testing.T) {
	e := newKafkaEnv(t, "steady")
	var end int64
	var g GroupLag
	for range 4 {
		for p := range 3 {
			e.produce(p, 20)
		}
		end += 20
		e.commit("steady", map[int]int64{0: end, 1: end, 2: end})
		g = groupOf(t, e.poll(), "steady")
	}
	if g.Verdict != VerdictOK || g.TotalLag != 0 {
		t.Errorf("verdict %v with lag %d, want OK with 0", g.Verdict, g.TotalLag)
	}
	// 60 messages a minute across three partitions.
	if g.ConsumeRate != 1 {
		t.Errorf("consume rate = %v/s, want 1", g.ConsumeRate)
	}
}

func TestKafkaStoppedConsumer(t *testing.T) {
	e := newKafkaEnv(t, "stuck")
	e.produce(0, 10)
	e.commit("stuck", map[int]int64{0: 5, 1: 0, 2: 0})
	var snap KafkaSnapshot
	for range 3 {
		e.produce(0, 10)
		snap = e.poll()
	}
	g := groupOf(t, snap, "stuck")
	if g.Partitions[0].Verdict != VerdictStop {
		t.Errorf("partition 0 verdict = %v, want STOP (no members, offset unchanged)", g.Partitions[0].Verdict)
	}
	if g.Partitions[1].Verdict != VerdictOK {
		t.Errorf("partition 1 verdict = %v, want OK (nothing to read)", g.Partitions[1].Verdict)
	}
	if got := snap.Anomalies(); len(got) != 1 || got[0].Detail != "STOP" || got[0].Value != 35 {
		t.Errorf("Anomalies() = %+v, want one STOP with lag 35", got)
	}
	if rate := snap.ProduceRate["orders"]; rate != 10.0/60 {
		t.Errorf("produce rate = %v/s, want %v", rate, 10.0/60)
	}
}

func TestKafkaSkewedPartition(t *testing.T) {
	e := newKafkaEnv(t, "skew")
	var end int64
	var g GroupLag
	for range 3 {
		for p := range 3 {
			e.produce(p, 200)
		}
		end += 200
		// Partitions 0 and 1 keep up; partition 2 moves, but falls behind.
		e.commit("skew", map[int]int64{0: end, 1: end, 2: end / 4})
		g = groupOf(t, e.poll(), "skew")
	}
	if len(g.Skewed) != 1 || g.Skewed[0].Partition != 2 {
		t.Fatalf("skewed = %+v, want partition 2", g.Skewed)
	}
	if v := g.Partitions[2].Verdict; v != VerdictWarn {
		t.Errorf("partition 2 verdict = %v, want WARN (committing, lag growing)", v)
	}
	if v := g.Partitions[0].Verdict; v != VerdictOK {
		t.Errorf("partition 0 verdict = %v, want OK", v)
	}
}

func TestKafkaRewind(t *testing.T) {
	e := newKafkaEnv(t, "rewind")
	e.produce(0, 50)
	e.commit("rewind", map[int]int64{0: 40})
	e.poll()
	e.commit("rewind", map[int]int64{0: 10})
	rewound := e.poll()
	if g := groupOf(t, rewound, "rewind"); g.Verdict != VerdictRewind {
		t.Errorf("verdict = %v, want REWIND", g.Verdict)
	}

	// One poll later the anomaly still starts at the poll that saw the
	// offset go back.
	got := e.poll().Anomalies()
	if len(got) != 1 || got[0].Detail != "REWIND" {
		t.Fatalf("Anomalies() = %+v, want one REWIND", got)
	}
	if !got[0].Start.Equal(rewound.Time) {
		t.Errorf("rewind starts at %v, want %v", got[0].Start, rewound.Time)
	}
}

func TestEvaluateRules(t *testing.T) {
	tests := []struct {
		name   string
		h      []offsets
		active bool
		want   Verdict
	}{
		{"window not full", []offsets{{committed: 5, end: 10}, {committed: 5, end: 20}}, true, VerdictOK},
		{"caught up once", []offsets{{committed: 5, end: 10}, {committed: 20, end: 20}, {committed: 20, end: 30}}, true, VerdictOK},
		{"stalled with members", []offsets{{committed: 5, end: 10}, {committed: 5, end: 20}, {committed: 5, end: 30}}, true, VerdictStall},
		{"stopped without members", []offsets{{committed: 5, end: 10}, {committed: 5, end: 20}, {committed: 5, end: 30}}, false, VerdictStop},
		{"falling behind", []offsets{{committed: 5, end: 10}, {committed: 8, end: 20}, {committed: 10, end: 30}}, true, VerdictWarn},
		{"keeping pace", []offsets{{committed: 5, end: 10}, {committed: 15, end: 20}, {committed: 25, end: 30}}, true, VerdictOK},
		{"rewound", []offsets{{committed: 15, end: 20}, {committed: 5, end: 20}}, true, VerdictRewind},
		{"not started", []offsets{{committed: -1, end: 20}, {committed: -1, end: 30}, {committed: -1, end: 40}}, false, VerdictOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := evaluate(tt.h, 3, tt.active); got != tt.want {
				t.Errorf("evaluate() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKafkaStalledConsumer(t *testing.T) {
	e := newKafkaEnv(t, "live")
	for p := range 3 {
		e.produce(p, 10)
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{e.client.Addr.String()}, GroupID: "live", Topic: "orders",
		StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond,
	})
	t.Cleanup(func() { r.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The member reads and commits one message, then stops making
	// progress while it stays in the group.
	m, err := r.FetchMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.CommitMessages(ctx, m); err != nil {
		t.Fatal(err)
	}
	var g GroupLag
	for range 3 {
		e.produce(m.Partition, 10)
		g = groupOf(t, e.poll(), "live")
	}
	if g.Members != 1 {
		t.Fatalf("group has %d members in state %q, want 1", g.Members, g.State)
	}
	stalled := g.Partitions[m.Partition]
	if stalled.Verdict != VerdictStall {
		t.Errorf("partition %d verdict = %v, want STALL: %+v", m.Partition, stalled.Verdict, stalled)
	}
	if stalled.Member == "" {
		t.Errorf("partition %d has no member assigned", m.Partition)
	}
	if g.Verdict != VerdictStall {
		t.Errorf("group verdict = %v, want STALL", g.Verdict)
	}
}

func TestKafkaListsGroups(t *testing.T) {
	e := newKafkaEnv(t)
	e.produce(0, 10)
	e.commit("alpha", map[int]int64{0: 10})
	e.commit("beta", map[int]int64{0: 3})
	snap := e.poll()
	if len(snap.Groups) != 2 || snap.Groups[0].Group != "alpha" || snap.Groups[1].Group != "beta" {
		t.Fatalf("groups = %+v, want alpha and beta", snap.Groups)
	}
	if lag := snap.Groups[1].TotalLag; lag != 7 {
		t.Errorf("beta lag = %d, want 7", lag)
	}
}

// The per-topic and per-group totals that rates are taken from must follow
// the cluster: a deleted topic or group is forgotten, so that topics and
// groups created and dropped over time do not grow the collector forever.
// The poll right after the deletion must succeed too, although kafka-go's
// cached metadata still lists the topic and ListOffsets rejects it.
func TestKafkaForgetsDeletedTopicsAndGroups(t *testing.T) {
	e := newKafkaEnv(t) // no WithGroups: groups are listed on every poll
	ctx := context.Background()
	resp, err := e.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: "scratch", NumPartitions: 1, ReplicationFactor: 1},
	}})
	if err != nil || resp.Errors["scratch"] != nil {
		t.Fatalf("create topic: %v %v", err, resp)
	}
	e.produce(0, 5)
	e.commit("short-lived", map[int]int64{0: 2})
	e.poll()
	e.coll.mu.Lock()
	_, hasTopic := e.coll.ends["scratch"]
	_, hasGroup := e.coll.consumed["short-lived"]
	e.coll.mu.Unlock()
	if !hasTopic || !hasGroup {
		t.Fatalf("first poll did not record the topic (%v) or the group (%v)", hasTopic, hasGroup)
	}

	if resp, err := e.client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{"scratch"}}); err != nil || resp.Errors["scratch"] != nil {
		t.Fatalf("delete topic: %v %v", err, resp)
	}
	if resp, err := e.client.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: []string{"short-lived"}}); err != nil || resp.Errors["short-lived"] != nil {
		t.Fatalf("delete group: %v %v", err, resp)
	}
	e.poll()
	e.coll.mu.Lock()
	defer e.coll.mu.Unlock()
	if _, ok := e.coll.ends["scratch"]; ok {
		t.Error("collector still keeps the end offsets of the deleted topic")
	}
	if _, ok := e.coll.consumed["short-lived"]; ok {
		t.Error("collector still keeps the committed total of the deleted group")
	}
}

// A committed offset past the log end (the offsets are read at slightly
// different times, or the topic was recreated) gives lag 0, not a
// negative lag that would cancel other partitions' lag in the total.
func TestKafkaClampsNegativeLag(t *testing.T) {
	e := newKafkaEnv(t, "ahead")
	for p := range 3 {
		e.produce(p, 10)
	}
	e.commit("ahead", map[int]int64{0: 500, 1: 4, 2: 10})
	var g GroupLag
	for range 3 {
		g = groupOf(t, e.poll(), "ahead")
	}
	if p0 := g.Partitions[0]; p0.Lag != 0 || !p0.Started {
		t.Errorf("partition 0 = %+v, want started with lag 0", p0)
	}
	if g.TotalLag != 6 {
		t.Errorf("total lag = %d, want 6 (partition 1 only)", g.TotalLag)
	}
	if v := g.Partitions[0].Verdict; v != VerdictOK {
		t.Errorf("partition 0 verdict = %v, want OK: it has no lag", v)
	}
	for _, s := range (KafkaSnapshot{Groups: []GroupLag{g}, Time: start}).Samples() {
		if s.Value < 0 {
			t.Errorf("sample %s = %v, want no negative values", s.Series, s.Value)
		}
	}
}

// A lag anomaly starts when the partition stopped moving, not at the poll
// that fills the verdict window. Otherwise a stalled consumer's anomaly
// starts after the buffers it fills, and the correlator makes the buffers
// the root of the incident.
func TestKafkaLagAnomalyStartsAtStall(t *testing.T) {
	e := newKafkaEnv(t, "stuck")
	e.produce(0, 10)
	e.commit("stuck", map[int]int64{0: 5})
	var polls []time.Time
	var snap KafkaSnapshot
	for range 3 {
		e.produce(0, 10)
		snap = e.poll()
		polls = append(polls, snap.Time)
	}
	got := snap.Anomalies()
	if len(got) != 1 {
		t.Fatalf("Anomalies() = %+v, want one STOP", got)
	}
	if !got[0].Start.Equal(polls[0]) {
		t.Errorf("anomaly starts at %v, want the first poll that saw the offset stuck (%v)", got[0].Start, polls[0])
	}
	if !got[0].Detected.Equal(polls[2]) {
		t.Errorf("anomaly detected at %v, want the poll that filled the window (%v)", got[0].Detected, polls[2])
	}
}

// Rates need two polls: the first Collect returns no rate samples, as the
// Collector contract says, instead of a consume rate of 0 that would make
// the next real rate look like a jump.
func TestKafkaFirstCollectHasNoRates(t *testing.T) {
	e := newKafkaEnv(t, "fresh")
	e.produce(0, 10)
	e.commit("fresh", map[int]int64{0: 4})
	e.clock.Advance(time.Minute)
	first, err := e.coll.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range first {
		if signal := SignalOf(s.Series); signal == SignalKafkaConsume || signal == SignalKafkaProduce {
			t.Errorf("first Collect returned the rate %s = %v, want no rate samples", s.Series, s.Value)
		}
	}

	e.commit("fresh", map[int]int64{0: 10})
	e.clock.Advance(time.Minute)
	second, err := e.coll.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := samplesByName(second)[SignalKafkaConsume+"{group=fresh}"]; got != 0.1 {
		t.Errorf("second consume rate = %v/s, want 0.1 (6 messages in 60 s)", got)
	}
}
