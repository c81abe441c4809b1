package schedules

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// ErrScheduleNotFound is returned by a Controller for a schedule that does
// not exist. The Executor treats it as "already deleted".
var ErrScheduleNotFound = errors.New("schedules: schedule not found")

// Schedule is a QStash schedule with the fields the auditor uses.
type Schedule struct {
	ID          string
	CreatedAt   time.Time
	Cron        string
	Destination string
	Method      string
	Header      http.Header
	Body        []byte
	// Retries is how many times QStash retries a failed delivery.
	Retries          int
	Paused           bool
	LastScheduleTime time.Time
}

// Event is a state change of a message, from the QStash events API.
type Event struct {
	Time       time.Time
	MessageID  string
	ScheduleID string
	// State is one of CREATED, ACTIVE, RETRY, ERROR, DELIVERED, FAILED,
	// CANCEL_REQUESTED and CANCELED.
	State string
	// Error is the delivery error QStash recorded, such as a transport error.
	Error string
	// ResponseStatus, ResponseHeader and ResponseBody are the destination's
	// response to a delivery attempt; ResponseStatus is 0 without one.
	ResponseStatus int
	ResponseHeader http.Header
	ResponseBody   []byte
}

// DeadLetter is an entry of the QStash dead letter queue.
type DeadLetter struct {
	ID             string
	MessageID      string
	ScheduleID     string
	CreatedAt      time.Time
	ResponseStatus int
	ResponseBody   []byte
}

// Source reads schedules and their delivery history. QStash implements it
// over the QStash API; applications can plug in their own, for example a
// cache or a recorded history.
type Source interface {
	// ListSchedules returns every schedule.
	ListSchedules(ctx context.Context) ([]Schedule, error)
	// EachEvent calls fn for the events of one schedule at or after since,
	// newest first, until there are no more or fn returns false.
	EachEvent(ctx context.Context, scheduleID string, since time.Time, fn func(Event) bool) error
	// EachDeadLetter calls fn for every DLQ entry created at or after since,
	// until there are no more or fn returns false.
	EachDeadLetter(ctx context.Context, since time.Time, fn func(DeadLetter) bool) error
}

// Controller changes schedules. QStash implements it. Implementations
// return an error wrapping ErrScheduleNotFound for a missing schedule.
type Controller interface {
	Schedule(ctx context.Context, id string) (Schedule, error)
	Pause(ctx context.Context, id string) error
	Resume(ctx context.Context, id string) error
	Delete(ctx context.Context, id string) error
}

// InFlightCanceler is implemented by Controllers that can cancel the
// messages of a schedule that are still being delivered or retried. The
// Executor uses it after a pause, so that a paused schedule stops
// producing deliveries at once.
type InFlightCanceler interface {
	CancelInFlight(ctx context.Context, scheduleID string) (int, error)
}
