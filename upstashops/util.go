package upstashops

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// redactError removes URLs from err's message: net/http's *url.Error
// embeds the request URL, and a Slack webhook URL is itself the
// credential. The result keeps err in its chain.
func redactError(err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return &redacted{msg: fmt.Sprintf("%s [redacted URL]: %v", ue.Op, ue.Err), err: err}
	}
	return err
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

// randDuration returns a random duration in [0, d).
func randDuration(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d)))
}

func jobAttr(name JobName) attribute.KeyValue { return attribute.String("job", string(name)) }

func outcomeAttr(err error) attribute.KeyValue {
	switch {
	case err == nil:
		return attribute.String("outcome", "ok")
	case errors.Is(err, ErrJobBusy):
		return attribute.String("outcome", "busy")
	case errors.Is(err, ErrJobTimeout):
		return attribute.String("outcome", "timeout")
	case errors.Is(err, ErrJobPanicked):
		return attribute.String("outcome", "panic")
	}
	return attribute.String("outcome", "error")
}
