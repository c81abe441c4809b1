package redistest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestStartCluster shares one cluster between its subtests, because a
// start takes two to three seconds.
func TestStartCluster(t *testing.T) {
	c := StartCluster(t, 3)
	t.Run("spreads_keys", func(t *testing.T) { testClusterSpreadsKeys(t, c) })
	t.Run("nodes_agree", func(t *testing.T) { testClusterNodesAgree(t, c) })
	// This subtest runs last because it stops the cluster, and the cleanup
	// of StartCluster then calls Close a second time.
	t.Run("close_stops_nodes", func(t *testing.T) { testClusterCloseStopsNodes(t, c) })
}

func testClusterSpreadsKeys(t *testing.T, c *Cluster) {
	rdb := c.Client(t)
	ctx := context.Background()

	keysPerNode := make(map[string]int)
	for i := range 60 {
		key := fmt.Sprintf("key-%d", i)
		if err := rdb.Set(ctx, key, i, 0).Err(); err != nil {
			t.Fatalf("SET %s through the cluster client: %v", key, err)
		}
		slot, err := rdb.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %s: %v", key, err)
		}
		owner := c.AddrForSlot(int(slot))
		keysPerNode[owner]++

		// The key is stored on the node that AddrForSlot names.
		node := redis.NewClient(&redis.Options{Addr: owner, DisableIdentity: true})
		n, err := node.Exists(ctx, key).Result()
		node.Close()
		if err != nil {
			t.Fatalf("EXISTS %s on %s: %v", key, owner, err)
		}
		if n != 1 {
			t.Errorf("key %s (slot %d) is not on %s, the node AddrForSlot names", key, slot, owner)
		}
	}
	for _, addr := range c.Addrs() {
		if keysPerNode[addr] == 0 {
			t.Errorf("node %s holds none of 60 keys: %v", addr, keysPerNode)
		}
	}
}

func testClusterNodesAgree(t *testing.T, c *Cluster) {
	ctx := context.Background()
	if got := len(c.Nodes()); got != 3 {
		t.Fatalf("Nodes() has %d nodes, want 3", got)
	}
	for _, s := range c.Nodes() {
		info, err := s.Client(t).ClusterInfo(ctx).Result()
		if err != nil {
			t.Fatalf("CLUSTER INFO on %s: %v", s.Addr(), err)
		}
		fields := parseInfo(info)
		if fields["cluster_state"] != "ok" {
			t.Errorf("%s: cluster_state = %q, want ok", s.Addr(), fields["cluster_state"])
		}
		if fields["cluster_known_nodes"] != "3" {
			t.Errorf("%s: cluster_known_nodes = %q, want 3", s.Addr(), fields["cluster_known_nodes"])
		}
	}

	// The slot ranges cover every slot, with node i before node i+1.
	addrs := c.Addrs()
	for _, tc := range []struct {
		slot int
		want string
	}{
		{0, addrs[0]},
		{5460, addrs[0]},
		{5461, addrs[1]},
		{10921, addrs[1]},
		{10922, addrs[2]},
		{16383, addrs[2]},
		{-1, ""},
		{16384, ""},
	} {
		if got := c.AddrForSlot(tc.slot); got != tc.want {
			t.Errorf("AddrForSlot(%d) = %q, want %q", tc.slot, got, tc.want)
		}
	}
}

func TestStartClusterRejectsInvalidSize(t *testing.T) {
	for _, n := range []int{0, -1, ClusterSlots + 1} {
		c, err := StartClusterProcess(n)
		if err == nil {
			c.Close()
			t.Errorf("StartClusterProcess(%d) succeeded, want an error", n)
			continue
		}
		if !strings.Contains(err.Error(), "invalid cluster size") {
			t.Errorf("StartClusterProcess(%d) error = %v, want one naming the invalid size", n, err)
		}
	}
}

func testClusterCloseStopsNodes(t *testing.T, c *Cluster) {
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, addr := range c.Addrs() {
		if err := pingOnce(addr); err == nil {
			t.Errorf("node %s still answers PING after Close", addr)
		}
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
