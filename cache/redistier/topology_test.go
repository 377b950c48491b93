package redistier

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-smartproxy/smartproxy/internal/redistest"
)

// pairPort returns a loopback port p such that p and p+10000 (a cluster
// node's bus port) are both free.
func pairPort(t *testing.T) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if p+10000 > 65535 {
			continue
		}
		if l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000)); err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatal("no free port pair")
	return 0
}

// daemon runs a process until the test ends.
func daemon(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

// startCluster starts a three-node Redis Cluster (no replicas) on loopback
// and returns its addresses.
func startCluster(t *testing.T) []string {
	t.Helper()
	redistest.LookPath(t, "redis-server")
	redistest.LookPath(t, "redis-cli") // it creates the cluster
	dir := t.TempDir()
	var addrs []string
	for i := range 3 {
		p := strconv.Itoa(pairPort(t))
		daemon(t, "redis-server", "--port", p, "--bind", "127.0.0.1", "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", i)), "--dir", dir,
			"--save", "", "--appendonly", "no", "--loglevel", "warning")
		addrs = append(addrs, "127.0.0.1:"+p)
	}
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1, DisableIdentity: true})
		waitFor(t, 10*time.Second, a+" answers PING", func() bool { return c.Ping(context.Background()).Err() == nil })
		c.Close()
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	if out, err := exec.Command("redis-cli", append(args, "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, DisableIdentity: true})
	defer cc.Close()
	waitFor(t, 20*time.Second, "cluster_state:ok", func() bool {
		info, err := cc.ClusterInfo(context.Background()).Result()
		return err == nil && strings.Contains(info, "cluster_state:ok")
	})
	return addrs
}

// The tier on a Redis Cluster: a route's keys share one slot (its hash
// tag), so its scripts run; entries are shared and purges by every kind
// reach Redis and the other instance.
func TestTierOnCluster(t *testing.T) {
	addrs := startCluster(t)
	mk := func() *instance {
		c, err := New(Settings{Addresses: addrs, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return instanceOn(t, c, "srv0|a.example|default")
	}
	a, b := mk(), mk()
	be := &backend{kv: []string{"Surrogate-Key", "t1"}}
	for i := range 20 {
		get(t, a, be, fmt.Sprintf("http://a.example/c/%d", i))
	}
	for i := range 20 {
		if st, _ := get(t, b, be, fmt.Sprintf("http://a.example/c/%d", i)); st.String() != "shared-hit" {
			t.Fatalf("URL %d on the second instance: %v", i, st)
		}
	}
	if a.client.Down() || b.client.Down() {
		t.Fatalf("a client went down on the cluster (errors %d, %d)", a.client.Errors(), b.client.Errors())
	}
	a.cache.PurgePrefix("GET http://a.example/c/1") // 1, 10..19
	a.cache.PurgeTags("t1")                         // the rest
	waitFor(t, 5*time.Second, "the purges reach instance 2", func() bool { return b.cache.Stats().Entries == 0 })
	if a.client.Errors() != 0 {
		t.Fatalf("%d failed calls on the cluster", a.client.Errors())
	}
	before := be.calls.Load()
	get(t, b, be, "http://a.example/c/5")
	if be.calls.Load() != before+1 {
		t.Fatal("a purged URL was still in Redis")
	}
}

// The tier through a Sentinel: the client asks the Sentinel for the master
// and shares entries through it.
func TestTierThroughSentinel(t *testing.T) {
	master := redistest.Start(t)
	dir := t.TempDir()
	sp := freePort(t)
	host, port, _ := net.SplitHostPort(master.Addr)
	_, sport, _ := net.SplitHostPort(sp)
	conf := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster %s %s 1\n", sport, dir, host, port)), 0o600); err != nil {
		t.Fatal(err)
	}
	daemon(t, "redis-server", conf, "--sentinel")
	sc := redis.NewSentinelClient(&redis.Options{Addr: sp, MaxRetries: -1, DisableIdentity: true})
	defer sc.Close()
	waitFor(t, 10*time.Second, "the sentinel knows the master", func() bool {
		addr, err := sc.GetMasterAddrByName(context.Background(), "mymaster").Result()
		return err == nil && len(addr) == 2
	})
	mk := func() *instance {
		c, err := New(Settings{Addresses: []string{sp}, MasterName: "mymaster", Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return instanceOn(t, c, "s")
	}
	a, b := mk(), mk()
	be := &backend{}
	get(t, a, be, "http://a.example/s")
	if st, _ := get(t, b, be, "http://a.example/s"); st.String() != "shared-hit" {
		t.Fatalf("through the sentinel: %v (errors %d)", st, b.client.Errors())
	}
	if n, _ := master.Admin.Exists(context.Background(), a.tier.entryKey(hashOf("GET http://a.example/s"))).Result(); n != 1 {
		t.Fatal("the entry is not on the master")
	}
}
