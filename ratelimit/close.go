package ratelimit

import (
	"errors"
	"fmt"
)

// ErrClosed reports that a Redis call was not made because the Limiter was
// closed. The failure policy decides the request, as for any failed call,
// and Result.Err is ErrClosed.
var ErrClosed = errors.New("ratelimit: limiter is closed")

// Close stops the goroutines that the limiter runs Redis calls on. Idle
// ones exit at once. Calls in flight run on, and Close waits for them for
// at most the per-call timeout (WithTimeout). Close does not close the
// Redis client, which belongs to the caller. It is safe to call more than
// once and concurrently with decisions.
//
// After Close the limiter makes no Redis call: each fails with ErrClosed,
// so AllowN returns the failure policy's decision (FailLocal by default),
// and Remaining, Reset, SetOverride, ClearOverride and Override return an
// error wrapping ErrClosed. Denials already in the deny cache are still
// served from it until they expire.
//
// Close returns an error when calls are still running after the timeout,
// which happens when Redis does not reply and the client does not honour
// context deadlines. Their goroutines exit when the client gives up on
// them, after its own read timeout.
func (l *Limiter) Close() error {
	if running := l.workers.close(l.cfg.timeout); running > 0 {
		return fmt.Errorf("ratelimit: close timed out after %s: %d redis calls still running, whose goroutines exit when the Redis client returns", l.cfg.timeout, running)
	}
	return nil
}
