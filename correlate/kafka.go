package correlate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/upstash-ops/sdk/internal/clock"
)

// Verdict is a consumer-lag evaluation in the spirit of LinkedIn Burrow's
// rules, adapted to offsets polled at intervals.
type Verdict int

// The verdicts, from best to worst.
const (
	// VerdictOK: the consumer caught up at least once in the window, or is
	// committing and its lag is not growing steadily.
	VerdictOK Verdict = iota
	// VerdictWarn: the consumer commits, but its lag grew at every poll of
	// the window: it is falling behind.
	VerdictWarn
	// VerdictStall: the group has members, but the committed offset has not
	// moved over the window while messages wait.
	VerdictStall
	// VerdictStop: the group has no active member and the committed offset
	// has not moved over the window while messages wait.
	VerdictStop
	// VerdictRewind: the committed offset went backward between two polls.
	VerdictRewind
)

func (v Verdict) String() string {
	switch v {
	case VerdictOK:
		return "OK"
	case VerdictWarn:
		return "WARN"
	case VerdictStall:
		return "STALL"
	case VerdictStop:
		return "STOP"
	case VerdictRewind:
		return "REWIND"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// PartitionLag is the state of one partition for one consumer group.
type PartitionLag struct {
	Topic     string
	Partition int
	// Committed is the group's committed offset, or -1 when the group has
	// never committed on this partition (not started).
	Committed int64
	Start     int64 // first offset still in the log
	End       int64 // offset of the next message to be written
	// Lag is End - Committed, clamped at 0 because the two are read at
	// slightly different times. For a partition that has not started it
	// is End - Start, the messages a consumer reading from the earliest
	// offset would find.
	Lag     int64
	Started bool
	Member  string // ID of the member it is assigned to, if any
	Verdict Verdict
	// Since is the first poll of the window that shows the verdict's cause:
	// the committed offset stuck at its value for STALL and STOP, the
	// offset going back for REWIND. It is zero for OK and WARN.
	Since time.Time
}

// GroupLag is the state of one consumer group.
type GroupLag struct {
	Group      string
	State      string // the broker's group state, for example "Stable" or "Empty"
	Members    int
	Partitions []PartitionLag
	TotalLag   int64
	// ConsumeRate is committed messages per second since the last poll; it
	// is 0 on the first poll that sees the group, and Samples leaves it out
	// then.
	ConsumeRate float64
	rateKnown   bool
	// Assigned counts partitions per member ID: the partition distribution.
	Assigned map[string]int
	// Skewed lists partitions whose lag is above 4 times the mean of the
	// group's other partitions and above 100 messages.
	Skewed  []PartitionLag
	Verdict Verdict // the worst partition verdict
}

// KafkaSnapshot is one poll of the cluster.
type KafkaSnapshot struct {
	Time   time.Time
	Groups []GroupLag
	// ProduceRate is messages per second written to each topic since the
	// last poll.
	ProduceRate map[string]float64
}

// KafkaOption configures a KafkaCollector.
type KafkaOption interface{ applyKafka(*KafkaCollector) }

type kafkaOptionFunc func(*KafkaCollector)

func (f kafkaOptionFunc) applyKafka(k *KafkaCollector) { f(k) }

// WithGroups limits the collector to these consumer groups. By default it
// lists the groups on every poll.
func WithGroups(groups ...string) KafkaOption {
	return kafkaOptionFunc(func(k *KafkaCollector) { k.groups = slices.Clone(groups) })
}

// WithLagWindow sets how many polls the verdicts look back over. Default 5;
// a partition is OK until the window is full.
func WithLagWindow(n int) KafkaOption {
	return kafkaOptionFunc(func(k *KafkaCollector) { k.window = max(2, n) })
}

// WithKafkaClock sets the clock that stamps polls. Default the system clock.
func WithKafkaClock(c clock.Clock) KafkaOption {
	return kafkaOptionFunc(func(k *KafkaCollector) { k.clock = c })
}

// KafkaCollector polls consumer lag, group state and rates from any Kafka
// cluster through kafka-go's Client (Metadata, ListOffsets, OffsetFetch,
// ListGroups, DescribeGroups). It is safe for concurrent use; polls are
// serialised.
//
// Memory is bounded by the cluster: the collector keeps the last window
// polls (5 by default) of committed and end offsets for each partition of
// each group seen in the latest poll, one total per topic and per group of
// the latest poll, and drops partitions, topics and groups that leave.
type KafkaCollector struct {
	client *kafka.Client
	groups []string
	window int
	clock  clock.Clock

	mu       sync.Mutex
	last     time.Time
	history  map[partitionKey][]offsets
	ends     map[string]int64   // sum of end offsets per topic at the last poll
	consumed map[string]int64   // sum of committed offsets per group at the last poll
	verdicts map[string]Verdict // group verdicts at the last Collect
	pending  []Anomaly
}

type partitionKey struct {
	group, topic string
	partition    int
}

type offsets struct {
	at             time.Time
	committed, end int64
}

// NewKafkaCollector returns a collector that uses client; client.Addr must
// name a bootstrap broker.
func NewKafkaCollector(client *kafka.Client, opts ...KafkaOption) (*KafkaCollector, error) {
	if client == nil || client.Addr == nil {
		return nil, errors.New("correlate: kafka client with a broker address is missing: set kafka.Client.Addr")
	}
	k := &KafkaCollector{client: client, window: 5, clock: clock.Real,
		history: make(map[partitionKey][]offsets), ends: make(map[string]int64), consumed: make(map[string]int64)}
	for _, o := range opts {
		o.applyKafka(k)
	}
	return k, nil
}

// Collect polls the cluster and returns its samples: lag per group and
// topic, consume rate per group and produce rate per topic. Groups whose
// verdict became STALL, STOP or REWIND in this poll are kept for Anomalies.
func (k *KafkaCollector) Collect(ctx context.Context) ([]Sample, error) {
	snap, err := k.Poll(ctx)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	verdicts := make(map[string]Verdict, len(snap.Groups))
	for _, g := range snap.Groups {
		verdicts[g.Group] = g.Verdict
	}
	k.pending = k.pending[:0]
	for _, a := range snap.Anomalies() {
		group := strings.TrimSuffix(strings.TrimPrefix(a.Series, SignalKafkaLag+"{group="), "}")
		if k.verdicts[group] != verdicts[group] {
			k.pending = append(k.pending, a)
		}
	}
	k.verdicts = verdicts
	return snap.Samples(), nil
}

// Anomalies returns the lag anomalies of the last Collect: groups whose
// verdict changed to STALL, STOP or REWIND. A verdict that persists is
// reported once.
func (k *KafkaCollector) Anomalies() []Anomaly {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.pending)
}

// Samples turns a snapshot into series samples.
func (s KafkaSnapshot) Samples() []Sample {
	var out []Sample
	for _, g := range s.Groups {
		byTopic := map[string]int64{}
		for _, p := range g.Partitions {
			byTopic[p.Topic] += p.Lag
		}
		for _, topic := range sortedKeys(byTopic) {
			out = append(out, Sample{Series: fmt.Sprintf("%s{group=%s,topic=%s}", SignalKafkaLag, g.Group, topic), Time: s.Time, Value: float64(byTopic[topic])})
		}
		if g.rateKnown {
			out = append(out, Sample{Series: fmt.Sprintf("%s{group=%s}", SignalKafkaConsume, g.Group), Time: s.Time, Value: g.ConsumeRate})
		}
	}
	for _, topic := range sortedKeys(s.ProduceRate) {
		out = append(out, Sample{Series: fmt.Sprintf("%s{topic=%s}", SignalKafkaProduce, topic), Time: s.Time, Value: s.ProduceRate[topic]})
	}
	return out
}

// Anomalies returns a KindLag anomaly for every group whose verdict is
// STALL, STOP or REWIND.
func (s KafkaSnapshot) Anomalies() []Anomaly {
	var out []Anomaly
	for _, g := range s.Groups {
		if g.Verdict < VerdictStall {
			continue
		}
		begin := s.Time
		for _, p := range g.Partitions {
			if p.Verdict == g.Verdict && !p.Since.IsZero() {
				begin = minTime(begin, p.Since)
			}
		}
		out = append(out, Anomaly{Series: fmt.Sprintf("%s{group=%s}", SignalKafkaLag, g.Group), Kind: KindLag,
			Start: begin, Detected: s.Time, Value: float64(g.TotalLag), Detail: g.Verdict.String()})
	}
	return out
}

// Poll reads offsets and group state once and evaluates every partition.
func (k *KafkaCollector) Poll(ctx context.Context) (KafkaSnapshot, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := clock.Or(k.clock).Now()

	topics, err := k.topicPartitions(ctx)
	if err != nil {
		return KafkaSnapshot{}, err
	}
	bounds, err := k.logBounds(ctx, topics)
	if err != nil {
		return KafkaSnapshot{}, err
	}
	// A topic deleted since the metadata was read has no bounds: leave it
	// out, so that OffsetFetch is not asked about it. kafka-go v0.4.51's
	// Transport caches metadata for up to 6 seconds by default.
	for topic := range topics {
		if len(bounds[topic]) == 0 {
			delete(topics, topic)
		}
	}
	groups, err := k.groupIDs(ctx)
	if err != nil {
		return KafkaSnapshot{}, err
	}
	described, err := k.describe(ctx, groups)
	if err != nil {
		return KafkaSnapshot{}, err
	}

	snap := KafkaSnapshot{Time: now, ProduceRate: map[string]float64{}}
	elapsed := now.Sub(k.last).Seconds()
	seen := map[partitionKey]bool{}
	for _, id := range groups {
		g, err := k.group(ctx, now, id, described[id], topics, bounds, seen)
		if err != nil {
			return KafkaSnapshot{}, err
		}
		if prev, ok := k.consumed[id]; ok && elapsed > 0 {
			g.ConsumeRate = max(0, float64(committedSum(g)-prev)/elapsed)
			g.rateKnown = true
		}
		k.consumed[id] = committedSum(g)
		snap.Groups = append(snap.Groups, g)
	}
	for topic, parts := range bounds {
		var sum int64
		for _, b := range parts {
			sum += b.end
		}
		if prev, ok := k.ends[topic]; ok && elapsed > 0 {
			snap.ProduceRate[topic] = max(0, float64(sum-prev)/elapsed)
		}
		k.ends[topic] = sum
	}
	for key := range k.history {
		if !seen[key] {
			delete(k.history, key)
		}
	}
	for topic := range k.ends {
		if _, ok := bounds[topic]; !ok {
			delete(k.ends, topic)
		}
	}
	for id := range k.consumed {
		if !slices.Contains(groups, id) {
			delete(k.consumed, id)
		}
	}
	k.last = now
	return snap, nil
}

type logBound struct{ start, end int64 }

func (k *KafkaCollector) topicPartitions(ctx context.Context) (map[string][]int, error) {
	meta, err := k.client.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return nil, fmt.Errorf("correlate: kafka metadata: %w", err)
	}
	out := map[string][]int{}
	for _, t := range meta.Topics {
		if t.Internal || t.Error != nil || strings.HasPrefix(t.Name, "__") {
			continue
		}
		for _, p := range t.Partitions {
			out[t.Name] = append(out[t.Name], p.ID)
		}
		slices.Sort(out[t.Name])
	}
	return out, nil
}

func (k *KafkaCollector) logBounds(ctx context.Context, topics map[string][]int) (map[string]map[int]logBound, error) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for topic, parts := range topics {
		for _, p := range parts {
			req.Topics[topic] = append(req.Topics[topic], kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
		}
	}
	if len(req.Topics) == 0 {
		return map[string]map[int]logBound{}, nil
	}
	resp, err := k.client.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("correlate: kafka list offsets: %w", err)
	}
	out := map[string]map[int]logBound{}
	for topic, parts := range resp.Topics {
		out[topic] = map[int]logBound{}
		for _, p := range parts {
			if errors.Is(p.Error, kafka.UnknownTopicOrPartition) {
				continue // deleted since the metadata was read
			}
			if p.Error != nil {
				return nil, fmt.Errorf("correlate: kafka list offsets of %s/%d: %w", topic, p.Partition, p.Error)
			}
			out[topic][p.Partition] = logBound{start: p.FirstOffset, end: p.LastOffset}
		}
		if len(out[topic]) == 0 {
			delete(out, topic)
		}
	}
	return out, nil
}

func (k *KafkaCollector) groupIDs(ctx context.Context) ([]string, error) {
	if len(k.groups) > 0 {
		return k.groups, nil
	}
	resp, err := k.client.ListGroups(ctx, &kafka.ListGroupsRequest{})
	if err != nil {
		return nil, fmt.Errorf("correlate: kafka list groups: %w", err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("correlate: kafka list groups: %w", resp.Error)
	}
	var ids []string
	for _, g := range resp.Groups {
		ids = append(ids, g.GroupID)
	}
	slices.Sort(ids)
	return ids, nil
}

func (k *KafkaCollector) describe(ctx context.Context, groups []string) (map[string]kafka.DescribeGroupsResponseGroup, error) {
	out := map[string]kafka.DescribeGroupsResponseGroup{}
	if len(groups) == 0 {
		return out, nil
	}
	resp, err := k.client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: groups})
	if err != nil {
		return nil, fmt.Errorf("correlate: kafka describe groups: %w", err)
	}
	for _, g := range resp.Groups {
		if g.Error != nil {
			return nil, fmt.Errorf("correlate: kafka describe group %q: %w", g.GroupID, g.Error)
		}
		out[g.GroupID] = g
	}
	return out, nil
}

// group fetches the committed offsets of one group and evaluates it.
func (k *KafkaCollector) group(ctx context.Context, now time.Time, id string, desc kafka.DescribeGroupsResponseGroup,
	topics map[string][]int, bounds map[string]map[int]logBound, seen map[partitionKey]bool) (GroupLag, error) {
	g := GroupLag{Group: id, State: desc.GroupState, Members: len(desc.Members), Assigned: map[string]int{}}
	owner := map[string]map[int]string{}
	for _, m := range desc.Members {
		for _, t := range m.MemberAssignments.Topics {
			if owner[t.Topic] == nil {
				owner[t.Topic] = map[int]string{}
			}
			for _, p := range t.Partitions {
				owner[t.Topic][p] = m.MemberID
				g.Assigned[m.MemberID]++
			}
		}
	}

	resp, err := k.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: id, Topics: topics})
	if err != nil {
		return GroupLag{}, fmt.Errorf("correlate: kafka offset fetch for group %q: %w", id, err)
	}
	if resp.Error != nil {
		return GroupLag{}, fmt.Errorf("correlate: kafka offset fetch for group %q: %w", id, resp.Error)
	}
	for _, topic := range sortedKeys(resp.Topics) {
		parts := resp.Topics[topic]
		sort.Slice(parts, func(i, j int) bool { return parts[i].Partition < parts[j].Partition })
		groupConsumes := false
		for _, p := range parts {
			groupConsumes = groupConsumes || p.CommittedOffset >= 0 || owner[topic][p.Partition] != ""
		}
		if !groupConsumes {
			continue // the group has never touched this topic
		}
		for _, p := range parts {
			if p.Error != nil {
				return GroupLag{}, fmt.Errorf("correlate: kafka offset of group %q on %s/%d: %w", id, topic, p.Partition, p.Error)
			}
			b := bounds[topic][p.Partition]
			pl := PartitionLag{Topic: topic, Partition: p.Partition, Committed: p.CommittedOffset, Start: b.start, End: b.end,
				Started: p.CommittedOffset >= 0, Member: owner[topic][p.Partition]}
			if pl.Started {
				pl.Lag = max(0, b.end-p.CommittedOffset)
			} else {
				pl.Lag = max(0, b.end-b.start)
			}
			key := partitionKey{id, topic, p.Partition}
			seen[key] = true
			h := append(k.history[key], offsets{at: now, committed: p.CommittedOffset, end: b.end})
			if len(h) > k.window {
				h = h[len(h)-k.window:]
			}
			k.history[key] = h
			pl.Verdict = evaluate(h, k.window, g.Members > 0 && !strings.EqualFold(g.State, "Empty"))
			pl.Since = verdictSince(h, pl.Verdict)
			g.Partitions = append(g.Partitions, pl)
			g.TotalLag += pl.Lag
			g.Verdict = max(g.Verdict, pl.Verdict)
		}
	}
	g.Skewed = skewed(g.Partitions)
	return g, nil
}

// evaluate applies the lag rules to the last polls of one partition, oldest
// first. A partition that has not started is OK: nothing is committed to
// judge.
func evaluate(h []offsets, window int, active bool) Verdict {
	last := h[len(h)-1]
	if last.committed < 0 {
		return VerdictOK
	}
	for i := 1; i < len(h); i++ {
		if h[i-1].committed >= 0 && h[i].committed < h[i-1].committed {
			return VerdictRewind
		}
	}
	if len(h) < window {
		return VerdictOK
	}
	lag := func(o offsets) int64 { return max(0, o.end-o.committed) }
	for _, o := range h {
		if lag(o) == 0 {
			return VerdictOK
		}
	}
	if h[0].committed == last.committed {
		if active {
			return VerdictStall
		}
		return VerdictStop
	}
	for i := 1; i < len(h); i++ {
		if lag(h[i]) <= lag(h[i-1]) {
			return VerdictOK
		}
	}
	return VerdictWarn
}

// verdictSince returns the first poll in h that shows the cause of v. For
// REWIND it is the latest backward step. For STALL and STOP it is the
// window's first poll, because the offset did not move within the window.
func verdictSince(h []offsets, v Verdict) time.Time {
	switch v {
	case VerdictRewind:
		for i := len(h) - 1; i > 0; i-- {
			if h[i-1].committed >= 0 && h[i].committed < h[i-1].committed {
				return h[i].at
			}
		}
	case VerdictStall, VerdictStop:
		return h[0].at
	}
	return time.Time{}
}

// skewed returns the partitions whose lag is above 4 times the mean lag of
// the group's other partitions and above 100 messages.
func skewed(parts []PartitionLag) []PartitionLag {
	if len(parts) < 2 {
		return nil
	}
	var total int64
	for _, p := range parts {
		total += p.Lag
	}
	var out []PartitionLag
	for _, p := range parts {
		others := float64(total-p.Lag) / float64(len(parts)-1)
		if p.Lag > 100 && float64(p.Lag) > 4*others {
			out = append(out, p)
		}
	}
	return out
}

func committedSum(g GroupLag) int64 {
	var sum int64
	for _, p := range g.Partitions {
		if p.Committed > 0 {
			sum += p.Committed
		}
	}
	return sum
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Name returns "kafka", the collector's name in Monitor logs and errors.
func (*KafkaCollector) Name() string { return "kafka" }
