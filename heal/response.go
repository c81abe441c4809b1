package heal

import (
	"io"
	"net/http"
)

// maxBodyExcerpt is how many bytes of a response body a Failure keeps.
const maxBodyExcerpt = 4 << 10

// FromResponse builds a Failure from the result of an HTTP call: the error,
// or the response's status, header, request URL and the first 4 KiB of its
// body. It reads and closes resp.Body. A 2xx response with a nil err gives a
// Failure that classifies as Unknown, so callers check the status first.
func FromResponse(resp *http.Response, err error) Failure {
	f := Failure{Err: err}
	if resp == nil {
		return f
	}
	f.Status = resp.StatusCode
	f.Header = resp.Header
	if resp.Request != nil && resp.Request.URL != nil {
		f.URL = redactURL(resp.Request.URL.String())
	}
	if resp.Body != nil {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxBodyExcerpt))
		_ = resp.Body.Close()
		f.Body = string(b)
	}
	return f
}
