package heal

import (
	"net/http"
	"strings"
	"time"
)

// Delivery is one failed QStash delivery, from the DLQ or from an error
// event of GET /v2/events.
type Delivery struct {
	MessageID string
	// DLQID is set for a message in the DLQ.
	DLQID      string
	ScheduleID string
	QueueName  string
	URL        string
	// State is the event state, such as "ERROR" or "FAILED"; empty for a
	// DLQ message.
	State          string
	ResponseStatus int
	ResponseHeader http.Header
	ResponseBody   string
	// Error is QStash's error text for a delivery that got no response,
	// such as "context deadline exceeded" or "unable to resolve host".
	Error string
	Time  time.Time
	// Body is the message body QStash tried to deliver.
	Body string
}

// DeliveryEvent turns a failed delivery into an event. Its Target is what
// a pause acts on: "schedule:" and the schedule id, "queue:" and the queue
// name, or the destination URL. Its RunID is the message id, so that the
// retries of one message count as one run. The event is marked Own, so a
// delivery that fails the same way again and again points at the app's
// endpoint rather than at a third party.
func DeliveryEvent(d Delivery) Event {
	target := d.URL
	switch {
	case d.ScheduleID != "":
		target = "schedule:" + d.ScheduleID
	case d.QueueName != "":
		target = "queue:" + d.QueueName
	}
	return Event{
		Target: target,
		RunID:  d.MessageID,
		Step:   "delivery",
		Failure: Failure{
			Status: d.ResponseStatus, Header: d.ResponseHeader, Body: d.ResponseBody,
			Message: d.Error, URL: d.URL,
		},
		Time:  d.Time,
		Input: excerpt(d.Body, maxReviewExcerpt),
		Own:   true,
	}
}

// failedEventState reports whether a QStash event state is a failed
// delivery: ERROR (a failed attempt that will be retried) or FAILED (the
// message moved to the DLQ).
func failedEventState(state string) bool {
	state = strings.ToUpper(state)
	return state == "ERROR" || state == "FAILED"
}
