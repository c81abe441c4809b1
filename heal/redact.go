package heal

import (
	"net/url"
	"regexp"
	"strings"
)

// redactURL removes user info and query values from a URL, because both
// often carry tokens. A string without "://", such as a job name or
// "schedule:" and an id, is not a URL: it keeps its text and loses only
// the values secretPattern matches. A URL that does not parse is replaced
// whole.
func redactURL(raw string) string {
	if !strings.Contains(raw, "://") {
		return redactPairs(raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparsable URL]"
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q.Set(k, "REDACTED")
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// secretPattern matches the secret-carrying parts of error text and bodies:
// bearer tokens, basic credentials, and key=value pairs whose key names a
// secret.
var secretPattern = regexp.MustCompile(`(?i)(bearer\s+|basic\s+)[A-Za-z0-9._~+/=-]+|((?:token|secret|password|passwd|api[_-]?key|signing[_-]?key|authorization)["']?\s*[:=]\s*["']?)(?:(?:bearer|basic)\s+)?[^\s"'&,}]+`)

// secretWords are the lower-case words secretPattern needs to match, so
// that text without any of them skips the regular expression.
var secretWords = []string{"bearer", "basic", "token", "secret", "passw", "key", "authorization"}

// urlPattern matches an absolute URL in free text, such as the request URL
// that a *url.Error of net/http quotes.
var urlPattern = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)

// redactText replaces secrets in free text with REDACTED: the user info and
// query values of URLs, and the values that secretPattern matches.
func redactText(s string) string {
	if strings.Contains(s, "://") {
		s = urlPattern.ReplaceAllStringFunc(s, redactURL)
	}
	return redactPairs(s)
}

// redactPairs replaces the values that secretPattern matches with
// REDACTED.
func redactPairs(s string) string {
	lower := strings.ToLower(s)
	found := false
	for _, w := range secretWords {
		if strings.Contains(lower, w) {
			found = true
			break
		}
	}
	if !found {
		return s
	}
	return secretPattern.ReplaceAllStringFunc(s, func(m string) string {
		sub := secretPattern.FindStringSubmatch(m)
		if sub[1] != "" {
			return sub[1] + "REDACTED"
		}
		return sub[2] + "REDACTED"
	})
}

// clip redacts secrets in s and cuts it to at most n bytes, for evidence
// and review excerpts.
func clip(s string, n int) string {
	return excerpt(redactText(s), n)
}
