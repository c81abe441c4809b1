package main

import (
	"context"
	"os"
)

// Example runs the program and checks its whole output.
func Example() {
	if err := run(context.Background(), os.Stdout); err != nil {
		panic(err)
	}
	// Output:
	// == reading the workflow logs
	// report-1   after "fetch rows"   -> transient (timeout, 1 run(s))
	// checkout-1 charge card          -> transient (http-503, 1 run(s))
	// invoice-1  create invoice       -> logical (http-422, 1 run(s))
	//     REVIEW invoice run invoice-1 step "create invoice": status 422, input {"amount":-5}, response {"errors":{"amount":"must be greater than 0"}}, error "invoice rejected"
	// report-2   after "fetch rows"   -> transient (timeout, 2 run(s))
	// checkout-2 charge card          -> transient (http-503, 2 run(s))
	// report-3   after "fetch rows"   -> configuration (timeout, 3 run(s))
	//     PAUSE  report
	//     ALERT  report: the endpoint did not answer in time: raise the timeout or split the step into shorter ones
	// checkout-3 charge card          -> dependency (http-503, 3 run(s))
	//     PAUSE  checkout
	//     ALERT  checkout: the third party at vendor.test fails in every run: pause what depends on it until it recovers, and check its status page
	// onboard-2  after "init"         -> configuration (signature, 1 run(s))
	//     PAUSE  onboard
	//     ALERT  onboard: the Upstash signature no longer verifies: check that the endpoint has the current and next signing keys, and verify the raw body before any parser reads it, because a changed Content-Type or body parser alters the body hash
	//
	// == probing the vendor while checkout is paused
	// probe: healthy=false, 0 healthy in a row
	// probe: healthy=true, 1 healthy in a row
	// probe: healthy=true, 2 healthy in a row
	//     RESUME checkout
	//
	// == still paused
	// onboard, report
}
