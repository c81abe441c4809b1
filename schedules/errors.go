package schedules

import "github.com/upstash-ops/sdk/internal/qstash"

// Errors of the QStash source, for errors.Is and errors.As.
var (
	// ErrMissingToken is returned by NewQStash for an empty token.
	ErrMissingToken = qstash.ErrMissingToken
	// ErrUnauthorized matches a 401 or 403 from the QStash API.
	ErrUnauthorized = qstash.ErrUnauthorized
	// ErrRateLimited matches a 429 that outlasted the retries or whose reset
	// was too far away to wait for.
	ErrRateLimited = qstash.ErrRateLimited
	// ErrInvalidResponse matches a QStash response body that is not the
	// documented JSON, such as a truncated one.
	ErrInvalidResponse = qstash.ErrDecode
	// ErrCursorRepeated matches a listing of events or dead letters that
	// stopped because the API sent a page cursor it had sent before.
	ErrCursorRepeated = qstash.ErrCursorRepeated
)

// APIError is an error status from the QStash API. It carries the method,
// the path, the HTTP status, the API's message and, for 429, the announced
// wait in RetryAfter.
type APIError = qstash.APIError
