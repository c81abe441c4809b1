package redistest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClusterSlots is the number of hash slots in a Redis Cluster.
const ClusterSlots = 16384

// clusterReadyTimeout bounds the whole setup of a cluster after its nodes
// reply to PING: slot assignment, MEET and the gossip until every node
// agrees. On loopback this takes two to three seconds, most of it the
// delay described at StartCluster.
const clusterReadyTimeout = 30 * time.Second

// Cluster is a Redis Cluster of redis-server processes on loopback ports.
// Every node is a primary without replicas and serves one contiguous range
// of the hash slots, which never moves: node i of n serves the slots from
// i*16384/n up to (i+1)*16384/n - 1. Its methods are safe for concurrent use.
type Cluster struct {
	nodes []*Server
	// firstSlots[i] is the first slot that nodes[i] serves.
	firstSlots []int
}

// StartCluster starts a cluster of nodes primaries for tb and stops it when
// tb ends. Options apply to every node. It fails tb when redis-server is
// not installed, a node does not start, or the nodes do not agree on the
// cluster within 30 seconds.
//
// A start takes two to three seconds, because a Redis 7 primary waits 2
// seconds after it starts before it reports cluster_state:ok
// (CLUSTER_WRITABLE_DELAY in src/cluster.c of Redis 7.0), so tests should
// share one cluster where they can.
func StartCluster(tb testing.TB, nodes int, opts ...Option) *Cluster {
	tb.Helper()
	c, err := StartClusterProcess(nodes, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// StartClusterProcess starts a cluster of nodes primaries that runs until
// Close. It returns once every node reports cluster_state:ok and lists
// every other node with a connected link.
func StartClusterProcess(nodes int, opts ...Option) (*Cluster, error) {
	if nodes < 1 || nodes > ClusterSlots {
		return nil, fmt.Errorf("redistest: invalid cluster size %d: it must be between 1 and %d", nodes, ClusterSlots)
	}
	// The full slice expression keeps append from writing into the
	// caller's array.
	opts = append(opts[:len(opts):len(opts)], func(c *config) { c.cluster = true })
	c := &Cluster{firstSlots: make([]int, nodes)}
	for i := range nodes {
		s, err := StartProcess(opts...)
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		c.nodes = append(c.nodes, s)
		c.firstSlots[i] = i * ClusterSlots / nodes
	}

	ctx, cancel := context.WithTimeout(context.Background(), clusterReadyTimeout)
	defer cancel()
	if err := c.join(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	if err := c.waitReady(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// join assigns each node its slots and a distinct config epoch, then has
// the first node MEET the others. Gossip then spreads every node's address
// to the rest.
func (c *Cluster) join(ctx context.Context) error {
	for i, s := range c.nodes {
		err := withNodeClient(s, func(rdb *redis.Client) error {
			// Distinct epochs spare the nodes the collision handling they
			// would otherwise go through before they agree.
			if err := rdb.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", i+1).Err(); err != nil {
				return fmt.Errorf("CLUSTER SET-CONFIG-EPOCH: %w", err)
			}
			first, last := c.slotRange(i)
			if err := rdb.ClusterAddSlotsRange(ctx, first, last).Err(); err != nil {
				return fmt.Errorf("CLUSTER ADDSLOTSRANGE %d %d: %w", first, last, err)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("redistest: set up cluster node %s: %w", s.addr, err)
		}
	}
	return withNodeClient(c.nodes[0], func(rdb *redis.Client) error {
		for _, s := range c.nodes[1:] {
			port := s.addr[strings.LastIndexByte(s.addr, ':')+1:]
			if err := rdb.Do(ctx, "CLUSTER", "MEET", "127.0.0.1", port, s.busPort).Err(); err != nil {
				return fmt.Errorf("redistest: CLUSTER MEET %s from %s: %w", s.addr, c.nodes[0].addr, err)
			}
		}
		return nil
	})
}

// waitReady polls every node until all of them are ready or ctx ends, and
// then returns the last reason a node gave for not being ready.
func (c *Cluster) waitReady(ctx context.Context) error {
	for {
		var notReady error
		for _, s := range c.nodes {
			if notReady = withNodeClient(s, func(rdb *redis.Client) error {
				return nodeReady(ctx, rdb, len(c.nodes))
			}); notReady != nil {
				notReady = fmt.Errorf("node %s: %w", s.addr, notReady)
				break
			}
		}
		if notReady == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redistest: cluster of %d nodes not ready within %s: %w", len(c.nodes), clusterReadyTimeout, notReady)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// nodeReady returns nil when the node reports cluster_state:ok with every
// slot served, and its CLUSTER NODES reply lists exactly nodes nodes,
// itself included, all on 127.0.0.1 with a connected link and no handshake
// or failure flag.
func nodeReady(ctx context.Context, rdb *redis.Client, nodes int) error {
	info, err := rdb.ClusterInfo(ctx).Result()
	if err != nil {
		return fmt.Errorf("CLUSTER INFO: %w", err)
	}
	fields := parseInfo(info)
	want := map[string]string{
		"cluster_state":       "ok",
		"cluster_slots_ok":    strconv.Itoa(ClusterSlots),
		"cluster_known_nodes": strconv.Itoa(nodes),
	}
	for name, value := range want {
		if fields[name] != value {
			return fmt.Errorf("CLUSTER INFO reports %s:%s, expected %s", name, fields[name], value)
		}
	}

	text, err := rdb.ClusterNodes(ctx).Result()
	if err != nil {
		return fmt.Errorf("CLUSTER NODES: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != nodes {
		return fmt.Errorf("CLUSTER NODES lists %d nodes, expected %d", len(lines), nodes)
	}
	for _, line := range lines {
		// <id> <ip:port@cport> <flags> <primary> <ping-sent> <pong-recv>
		// <config-epoch> <link-state> <slot>...
		f := strings.Fields(line)
		if len(f) < 8 {
			return fmt.Errorf("CLUSTER NODES line %q has %d fields, expected at least 8", line, len(f))
		}
		if !strings.HasPrefix(f[1], "127.0.0.1:") {
			return fmt.Errorf("CLUSTER NODES lists %s, expected an address on 127.0.0.1", f[1])
		}
		for _, flag := range strings.Split(f[2], ",") {
			switch flag {
			case "handshake", "noaddr", "fail", "fail?":
				return fmt.Errorf("CLUSTER NODES lists %s with flag %s", f[1], flag)
			}
		}
		if f[7] != "connected" {
			return fmt.Errorf("CLUSTER NODES lists %s with link %s", f[1], f[7])
		}
	}
	return nil
}

// parseInfo splits "name:value" lines of an INFO-style reply into a map.
func parseInfo(text string) map[string]string {
	fields := make(map[string]string)
	for _, line := range strings.Split(text, "\n") {
		name, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok {
			fields[name] = value
		}
	}
	return fields
}

// withNodeClient runs f with a client of the single node s, which honours
// context deadlines.
func withNodeClient(s *Server, f func(*redis.Client) error) error {
	rdb := redis.NewClient(&redis.Options{Addr: s.addr, DisableIdentity: true, ContextTimeoutEnabled: true})
	defer rdb.Close()
	return f(rdb)
}

// slotRange returns the first and last slot that node i serves.
func (c *Cluster) slotRange(i int) (first, last int) {
	last = ClusterSlots - 1
	if i+1 < len(c.firstSlots) {
		last = c.firstSlots[i+1] - 1
	}
	return c.firstSlots[i], last
}

// Addrs returns the host:port of every node on 127.0.0.1, in the order of
// their slot ranges.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, s := range c.nodes {
		addrs[i] = s.addr
	}
	return addrs
}

// Nodes returns the cluster's nodes, in the order of their slot ranges.
// A client of one node (Server.Client) reads and writes only the keys of
// that node's slots.
func (c *Cluster) Nodes() []*Server {
	return append([]*Server(nil), c.nodes...)
}

// AddrForSlot returns the address of the node that serves slot, or "" when
// slot is outside [0, 16383].
func (c *Cluster) AddrForSlot(slot int) string {
	if slot < 0 || slot >= ClusterSlots {
		return ""
	}
	for i := len(c.firstSlots) - 1; i >= 0; i-- {
		if slot >= c.firstSlots[i] {
			return c.nodes[i].addr
		}
	}
	return ""
}

// Client returns a go-redis cluster client for the cluster that tb closes
// when it ends. Options may change the client's settings, except Addrs,
// which is always the cluster's.
func (c *Cluster) Client(tb testing.TB, opts ...func(*redis.ClusterOptions)) *redis.ClusterClient {
	tb.Helper()
	o := &redis.ClusterOptions{DisableIdentity: true}
	for _, opt := range opts {
		opt(o)
	}
	o.Addrs = c.Addrs()
	rdb := redis.NewClusterClient(o)
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// FlushAll deletes every key and resets the statistics on every node.
func (c *Cluster) FlushAll(ctx context.Context) error {
	var errs []error
	for _, s := range c.nodes {
		errs = append(errs, s.FlushAll(ctx))
	}
	return errors.Join(errs...)
}

// Close stops every node and removes their data directories. It is safe to
// call more than once.
func (c *Cluster) Close() error {
	for _, s := range c.nodes {
		_ = s.Close()
	}
	return nil
}
