package schedules

import (
	"net/url"
	"regexp"
)

var (
	// Query parameters whose values are credentials by their name.
	secretParamPattern = regexp.MustCompile(`(?i)token|key|secret|sig|pass|pwd|auth|credential|session|code`)
	// URLs inside free text such as delivery errors and response bodies.
	urlInTextPattern = regexp.MustCompile(`https?://[^\s"'<>\x60]+`)
)

// redactedValue replaces a credential in a URL.
const redactedValue = "REDACTED"

// redactURL returns raw with the password of its user info and the values
// of credential-like query parameters (token, key, secret, sig...) replaced,
// so that a report can name a destination without handing out access to
// it. A value that does not parse as a URL is returned unchanged.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	changed := false
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), redactedValue)
		changed = true
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			// A query that does not parse cannot be checked name by name.
			u.RawQuery = redactedValue
			changed = true
		}
		for name, values := range q {
			if secretParamPattern.MatchString(name) {
				for i := range values {
					values[i] = redactedValue
				}
				changed = true
			}
		}
		if err == nil && changed {
			u.RawQuery = q.Encode()
		}
	}
	if !changed {
		return raw
	}
	return u.String()
}

// redactText applies redactURL to every http(s) URL in s.
func redactText(s string) string {
	return urlInTextPattern.ReplaceAllStringFunc(s, redactURL)
}
