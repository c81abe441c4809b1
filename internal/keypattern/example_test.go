package keypattern_test

import (
	"fmt"

	"github.com/upstash-ops/sdk/internal/keypattern"
)

func ExampleNormalize() {
	for _, key := range []string{
		"user:8412:profile",
		"session:3f2504e0-4f89-11d3-9a0c-0305e82c3301",
		"blob:da39a3ee5e6b4b0d3255bfef95601890afd80709",
		"rl_2026_12_04:ip",
	} {
		fmt.Println(keypattern.Normalize(key))
	}
	// Output:
	// user:{id}:profile
	// session:{uuid}
	// blob:{hash}
	// rl_{id}_{id}_{id}:ip
}
