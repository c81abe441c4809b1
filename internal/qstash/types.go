package qstash

import (
	"net/http"
	"time"
)

// Message states of the events API.
const (
	StateCreated         = "CREATED"
	StateActive          = "ACTIVE"
	StateRetry           = "RETRY"
	StateError           = "ERROR"
	StateDelivered       = "DELIVERED"
	StateFailed          = "FAILED"
	StateCancelRequested = "CANCEL_REQUESTED"
	StateCanceled        = "CANCELED"
)

// Schedule is a QStash schedule.
type Schedule struct {
	ID                 string
	CreatedAt          time.Time
	Cron               string
	Destination        string
	Method             string
	Header             http.Header
	Body               []byte
	Retries            int
	Delay              time.Duration
	Timeout            time.Duration
	Callback           string
	FailureCallback    string
	LastScheduleTime   time.Time
	NextScheduleTime   time.Time
	LastScheduleStates map[string]string
	CallerIP           string
	Paused             bool
}

type scheduleWire struct {
	ScheduleID         string            `json:"scheduleId"`
	CreatedAt          flexInt           `json:"createdAt"`
	Cron               string            `json:"cron"`
	Destination        string            `json:"destination"`
	Method             string            `json:"method"`
	Header             flexHeader        `json:"header"`
	Body               string            `json:"body"`
	BodyBase64         string            `json:"bodyBase64"`
	Retries            flexInt           `json:"retries"`
	Delay              flexDuration      `json:"delay"`
	Timeout            flexDuration      `json:"timeout"`
	Callback           string            `json:"callback"`
	FailureCallback    string            `json:"failureCallback"`
	LastScheduleTime   flexInt           `json:"lastScheduleTime"`
	NextScheduleTime   flexInt           `json:"nextScheduleTime"`
	LastScheduleStates map[string]string `json:"lastScheduleStates"`
	CallerIP           string            `json:"callerIP"`
	IsPaused           flexBool          `json:"isPaused"`
}

// UnmarshalJSON decodes the v2 API form of a schedule.
func (s *Schedule) UnmarshalJSON(data []byte) error {
	var w scheduleWire
	if err := decodeWire(data, &w); err != nil {
		return err
	}
	*s = Schedule{
		ID: w.ScheduleID, CreatedAt: millis(w.CreatedAt), Cron: w.Cron, Destination: w.Destination,
		Method: w.Method, Header: http.Header(w.Header), Body: []byte(w.Body), Retries: int(w.Retries),
		Delay: time.Duration(w.Delay), Timeout: time.Duration(w.Timeout), Callback: w.Callback,
		FailureCallback: w.FailureCallback, LastScheduleTime: millis(w.LastScheduleTime),
		NextScheduleTime: millis(w.NextScheduleTime), CallerIP: w.CallerIP, Paused: bool(w.IsPaused),
	}
	if w.BodyBase64 != "" {
		s.Body = decodeBase64(w.BodyBase64)
	}
	if len(w.LastScheduleStates) > 0 {
		s.LastScheduleStates = make(map[string]string, len(w.LastScheduleStates))
		for k, v := range w.LastScheduleStates {
			s.LastScheduleStates[k] = normalizeState(v)
		}
	}
	if s.Method == "" {
		s.Method = http.MethodPost
	}
	return nil
}

// Event is one entry of the events (logs) API: a state change of a message.
type Event struct {
	Time             time.Time
	MessageID        string
	State            string
	Error            string
	NextDeliveryTime time.Time
	URL              string
	TopicName        string
	EndpointName     string
	API              string
	QueueName        string
	ScheduleID       string
	Method           string
	MaxRetries       int
	// ResponseStatus is the destination's HTTP status for delivery events,
	// 0 when the attempt got no response.
	ResponseStatus  int
	ResponseBody    []byte
	ResponseHeaders http.Header
}

type eventWire struct {
	Time             flexInt    `json:"time"`
	MessageID        string     `json:"messageId"`
	State            string     `json:"state"`
	Error            string     `json:"error"`
	NextDeliveryTime flexInt    `json:"nextDeliveryTime"`
	URL              string     `json:"url"`
	TopicName        string     `json:"topicName"`
	EndpointName     string     `json:"endpointName"`
	API              string     `json:"api"`
	QueueName        string     `json:"queueName"`
	ScheduleID       string     `json:"scheduleId"`
	Method           string     `json:"method"`
	MaxRetries       flexInt    `json:"maxRetries"`
	ResponseStatus   flexInt    `json:"responseStatus"`
	ResponseBody     string     `json:"responseBody"`
	ResponseHeaders  flexHeader `json:"responseHeaders"`
}

// UnmarshalJSON decodes the v2 API form of an event. The response body is
// base64 in that API.
func (e *Event) UnmarshalJSON(data []byte) error {
	var w eventWire
	if err := decodeWire(data, &w); err != nil {
		return err
	}
	*e = Event{
		Time: millis(w.Time), MessageID: w.MessageID, State: normalizeState(w.State), Error: w.Error,
		NextDeliveryTime: millis(w.NextDeliveryTime), URL: w.URL, TopicName: w.TopicName,
		EndpointName: w.EndpointName, API: w.API, QueueName: w.QueueName, ScheduleID: w.ScheduleID,
		Method: w.Method, MaxRetries: int(w.MaxRetries), ResponseStatus: int(w.ResponseStatus),
		ResponseBody: decodeBase64(w.ResponseBody), ResponseHeaders: http.Header(w.ResponseHeaders),
	}
	return nil
}

// DLQMessage is an entry of the dead letter queue.
type DLQMessage struct {
	DLQID          string
	MessageID      string
	ScheduleID     string
	QueueName      string
	URL            string
	Method         string
	CreatedAt      time.Time
	MaxRetries     int
	ResponseStatus int
	ResponseHeader http.Header
	ResponseBody   []byte
}

type dlqWire struct {
	DLQID              string     `json:"dlqId"`
	MessageID          string     `json:"messageId"`
	ScheduleID         string     `json:"scheduleId"`
	QueueName          string     `json:"queueName"`
	URL                string     `json:"url"`
	Method             string     `json:"method"`
	CreatedAt          flexInt    `json:"createdAt"`
	MaxRetries         flexInt    `json:"maxRetries"`
	ResponseStatus     flexInt    `json:"responseStatus"`
	ResponseHeader     flexHeader `json:"responseHeader"`
	ResponseHeaders    flexHeader `json:"responseHeaders"`
	ResponseBody       string     `json:"responseBody"`
	ResponseBodyBase64 string     `json:"responseBodyBase64"`
}

// UnmarshalJSON decodes the v2 API form of a DLQ entry. The response body
// is text, or base64 in responseBodyBase64 when it is not UTF-8.
func (d *DLQMessage) UnmarshalJSON(data []byte) error {
	var w dlqWire
	if err := decodeWire(data, &w); err != nil {
		return err
	}
	*d = DLQMessage{
		DLQID: w.DLQID, MessageID: w.MessageID, ScheduleID: w.ScheduleID, QueueName: w.QueueName,
		URL: w.URL, Method: w.Method, CreatedAt: millis(w.CreatedAt), MaxRetries: int(w.MaxRetries),
		ResponseStatus: int(w.ResponseStatus), ResponseHeader: http.Header(w.ResponseHeader),
		ResponseBody: []byte(w.ResponseBody),
	}
	if d.ResponseHeader == nil {
		d.ResponseHeader = http.Header(w.ResponseHeaders)
	}
	if w.ResponseBodyBase64 != "" {
		d.ResponseBody = decodeBase64(w.ResponseBodyBase64)
	}
	return nil
}
