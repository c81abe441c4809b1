package redisinfo_test

import (
	"fmt"

	"github.com/upstash-ops/sdk/internal/redisinfo"
)

func ExampleParse() {
	info, err := redisinfo.Parse("# Stats\r\nkeyspace_hits:90\r\nkeyspace_misses:10\r\n\r\n" +
		"# Commandstats\r\ncmdstat_get:calls=100,usec=50,usec_per_call=0.50\r\n")
	if err != nil {
		panic(err)
	}
	ratio, _ := info.Stats().HitRatio()
	fmt.Printf("hit ratio %.2f\n", ratio)
	for _, c := range info.CommandStats() {
		fmt.Printf("%s: %d calls\n", c.Name, c.Calls)
	}
	// Output:
	// hit ratio 0.90
	// get: 100 calls
}
