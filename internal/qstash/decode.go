package qstash

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The types below decode what QStash sends with tolerance for the variants
// seen across API versions and SDKs: numbers sent as strings, durations as
// seconds or as text ("10s"), headers as lists or single strings, and
// CANCELLED for CANCELED. Field names match without regard to case, as
// encoding/json does, so "callerIp" and "callerIP" both decode. Unknown
// fields are ignored. A value of the wrong kind decodes as the zero value;
// only a body that is not JSON at all is an error.

// decodeWire decodes data into w and ignores values of the wrong kind, which
// encoding/json skips while it decodes the other fields.
func decodeWire(data []byte, w any) error {
	err := json.Unmarshal(data, w)
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return nil
	}
	return err
}

// flexInt is an integer sent as a JSON number or a numeric string.
type flexInt int64

func (n *flexInt) UnmarshalJSON(data []byte) error {
	text := strings.Trim(string(bytes.TrimSpace(data)), `"`)
	if v, err := strconv.ParseInt(text, 10, 64); err == nil {
		*n = flexInt(v)
		return nil
	}
	if f, err := strconv.ParseFloat(text, 64); err == nil && f > -9e18 && f < 9e18 {
		*n = flexInt(f)
		return nil
	}
	*n = 0
	return nil
}

// flexBool is a boolean sent as true/false or as a string.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	v, _ := strconv.ParseBool(strings.Trim(string(bytes.TrimSpace(data)), `"`))
	*b = flexBool(v)
	return nil
}

// flexDuration is a duration sent as a number of seconds or as Go-style text.
type flexDuration time.Duration

func (d *flexDuration) UnmarshalJSON(data []byte) error {
	text := strings.Trim(string(bytes.TrimSpace(data)), `"`)
	if secs, err := strconv.ParseFloat(text, 64); err == nil && secs >= 0 && secs < 1e9 {
		*d = flexDuration(time.Duration(secs * float64(time.Second)))
		return nil
	}
	if v, err := time.ParseDuration(text); err == nil {
		*d = flexDuration(v)
		return nil
	}
	*d = 0
	return nil
}

// flexHeader is a header map whose values are lists or single strings.
type flexHeader http.Header

func (h *flexHeader) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		*h = nil
		return nil
	}
	out := make(http.Header, len(raw))
	for k, v := range raw {
		var list []string
		if json.Unmarshal(v, &list) == nil {
			out[http.CanonicalHeaderKey(k)] = list
			continue
		}
		var one string
		if json.Unmarshal(v, &one) == nil {
			out[http.CanonicalHeaderKey(k)] = []string{one}
		}
	}
	*h = flexHeader(out)
	return nil
}

func millis(n flexInt) time.Time {
	if n <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(n)).UTC()
}

// decodeBase64 decodes a body the API sends base64-encoded. A value that is
// not base64 is kept as text.
func decodeBase64(s string) []byte {
	if s == "" {
		return nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b
		}
	}
	return []byte(s)
}

// normalizeState upper-cases a message state and maps British spellings.
func normalizeState(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	switch s {
	case "CANCELLED":
		return StateCanceled
	case "CANCEL_REQUESTED", "CANCELLATION_REQUESTED":
		return StateCancelRequested
	}
	return s
}
