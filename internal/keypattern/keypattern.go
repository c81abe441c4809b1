// Package keypattern turns Redis keys into key patterns by replacing the
// parts that vary per entity with placeholders, so that "user:8412:profile"
// and "user:17:profile" both count as "user:{id}:profile".
//
// A key is split into segments at the separators : / | . # = , ; @ { } and
// space, which are kept. Each segment is classified as a whole:
//
//	{id}     decimal digits, such as 8412 or a Unix timestamp
//	{uuid}   a canonical 8-4-4-4-12 UUID
//	{hash}   32, 40, 64 or 128 hex digits (MD5, SHA-1, SHA-256, SHA-512)
//	{hex}    8 or more hex digits that include a decimal digit
//	{token}  16 or more letters and digits that mix both, such as a ULID
//	{email}  an e-mail address, from the start of a segment to its domain's end
//	{bin}    any byte outside printable ASCII
//
// A segment that is none of these is split again at '-' and '_', and a word
// that ends in three or more digits keeps its letters ("user1000" becomes
// "user{id}"). Patterns longer than MaxLen bytes are cut at a segment
// boundary and end in "{...}".
package keypattern

// MaxLen is the maximum number of pattern bytes kept before the rest of the
// key is replaced by "{...}". It bounds the memory each pattern takes.
const MaxLen = 128

const truncated = "{...}"

// Normalize returns the pattern of key.
func Normalize(key string) string {
	var buf [MaxLen + len(truncated)]byte
	return string(Append(buf[:0], key))
}

// Append appends the pattern of key to dst and returns the extended slice.
// It does not allocate when dst has MaxLen+5 bytes of spare capacity, which
// lets a hot path normalise into a stack buffer.
func Append(dst []byte, key string) []byte {
	base := len(dst)
	var seg, word counts
	segRaw, segOut := 0, len(dst) // where the segment starts in key and in dst
	wordRaw := 0

	for i := 0; i <= len(key); i++ {
		// An e-mail address varies per user and is personal data, so a
		// segment that starts with one becomes a single placeholder.
		if i == segRaw && (i == 0 || key[i-1] != '.') {
			if j := emailEnd(key, i); j > i {
				dst = append(dst, "{email}"...)
				i = j - 1
				segRaw, wordRaw = j, j
				continue
			}
		}
		var c byte
		end := i == len(key)
		if !end {
			c = key[i]
			kind := classes[c]
			if kind&classBreak == 0 {
				word.add(kind)
				continue
			}
		}

		// End of a word: copy it, or its placeholder when it is an id.
		dst = appendWord(dst, key[wordRaw:i], &word)
		seg.merge(&word)
		word = counts{}
		wordRaw = i + 1
		if !end && classes[c]&classSeparator == 0 {
			dst = append(dst, c) // '-' or '_' inside a segment
			seg.add(classes[c])
			continue
		}

		// End of a segment: a whole-segment placeholder wins over the
		// per-word replacements made inside it.
		if p := seg.placeholder(key[segRaw:i]); p != "" {
			dst = append(dst[:segOut], p...)
		}
		// The separator that follows must fit too, so the cut pattern
		// stays within MaxLen+len(truncated) bytes.
		if n := len(dst) - base; n > MaxLen || !end && n == MaxLen {
			return append(dst[:segOut], truncated...)
		}
		if end {
			return dst
		}
		dst = append(dst, c)
		seg = counts{}
		segRaw, segOut = i+1, len(dst)
	}
	return dst
}

// Byte classes, looked up in classes so that the loop over a key does one
// table read per byte.
const (
	classDigit     = 1 << iota // 0-9
	classHex                   // 0-9, a-f, A-F
	classLetter                // a-z, A-Z
	classBinary                // outside printable ASCII
	classSeparator             // ends a segment
	classBreak                 // ends a word: separators, '-' and '_'
)

var classes = func() (t [256]uint8) {
	for b := 0; b < 256; b++ {
		c := byte(b)
		switch {
		case c < 0x21 || c > 0x7e:
			t[b] = classBinary
		case c >= '0' && c <= '9':
			t[b] = classDigit | classHex
		case c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F':
			t[b] = classHex | classLetter
		case c >= 'g' && c <= 'z' || c >= 'G' && c <= 'Z':
			t[b] = classLetter
		}
		if isSeparator(c) {
			t[b] = classSeparator | classBreak
		}
		if c == '-' || c == '_' {
			t[b] = classBreak
		}
	}
	return t
}()

func isSeparator(c byte) bool {
	switch c {
	case ':', '/', '|', '.', '#', '=', ',', ';', '@', '{', '}', ' ':
		return true
	}
	return false
}

// counts classifies the bytes of a segment or word as they are read.
type counts struct {
	n, digits, hex, letters int
	binary                  bool
}

func (c *counts) add(kind uint8) {
	c.n++
	c.digits += int(kind & classDigit)
	c.hex += int(kind&classHex) >> 1
	c.letters += int(kind&classLetter) >> 2
	if kind&classBinary != 0 {
		c.binary = true
	}
}

// merge adds the counts of a word to its segment's.
func (c *counts) merge(w *counts) {
	c.n += w.n
	c.digits += w.digits
	c.hex += w.hex
	c.letters += w.letters
	c.binary = c.binary || w.binary
}

// placeholder returns the placeholder for raw, whose bytes c counted, or ""
// when raw is a literal.
func (c *counts) placeholder(raw string) string {
	switch {
	case c.n == 0:
		return ""
	case c.binary:
		return "{bin}"
	case c.digits == c.n:
		return "{id}"
	case c.n == 36 && isUUID(raw):
		return "{uuid}"
	case c.hex == c.n && (c.n == 32 || c.n == 40 || c.n == 64 || c.n == 128):
		return "{hash}"
	case c.hex == c.n && c.n >= 8 && c.digits > 0:
		return "{hex}"
	case c.digits+c.letters == c.n && c.n >= 16 && c.digits > 0 && c.letters > 0:
		return "{token}"
	}
	return ""
}

// appendWord appends raw, or its placeholder when it is an id, and keeps
// the letters of a word that ends in three or more digits.
func appendWord(dst []byte, raw string, c *counts) []byte {
	if c.n == 0 {
		return append(dst, raw...)
	}
	if p := c.placeholder(raw); p != "" {
		return append(dst, p...)
	}
	if isTimeWord(raw) {
		return append(dst, "{id}"...)
	}
	digits := 0
	for digits < len(raw) && isDigit(raw[len(raw)-1-digits]) {
		digits++
	}
	if digits >= 3 {
		dst = append(dst, raw[:len(raw)-digits]...)
		return append(dst, "{id}"...)
	}
	return append(dst, raw...)
}

func isUUID(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if !isDigit(c) && !(c >= 'a' && c <= 'f') && !(c >= 'A' && c <= 'F') {
			return false
		}
	}
	return len(s) == 36
}

// isTimeWord reports whether raw is a piece of an ISO 8601 timestamp that
// the separators leave between digits, such as "05T12" or "00Z": digits
// with one T or Z after the first digit.
func isTimeWord(raw string) bool {
	if len(raw) < 3 || !isDigit(raw[0]) {
		return false
	}
	letters := 0
	for i := 1; i < len(raw); i++ {
		switch c := raw[i]; {
		case isDigit(c):
		case c == 'T' || c == 'Z' || c == 't' || c == 'z':
			letters++
		default:
			return false
		}
	}
	return letters == 1
}

// emailEnd returns the index just past the e-mail address that key has at
// start, or start when there is none. The domain must contain a dot and a
// letter, so that keys such as "lock@1" stay literal.
func emailEnd(key string, start int) int {
	i := start
	for i < len(key) && isLocalPartByte(key[i]) {
		i++
	}
	// The local part and the domain start with a letter or digit, as in
	// real addresses, which keeps "{bin}.@.x" from reading as one.
	if i == start || i+1 >= len(key) || key[i] != '@' || !isAlnum(key[start]) || !isAlnum(key[i+1]) {
		return start
	}
	domain := i + 1
	dot, letter := false, false
	for i = domain; i < len(key); i++ {
		c := key[i]
		if c == '.' {
			dot = true
			continue
		}
		if c == '-' || isDigit(c) {
			continue
		}
		if c|0x20 >= 'a' && c|0x20 <= 'z' {
			letter = true
			continue
		}
		break
	}
	if i == domain || !dot || !letter || key[i-1] == '.' {
		return start
	}
	return i
}

func isAlnum(c byte) bool { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'z' }

func isLocalPartByte(c byte) bool {
	switch {
	case isDigit(c), c|0x20 >= 'a' && c|0x20 <= 'z':
		return true
	}
	switch c {
	case '.', '_', '%', '+', '-':
		return true
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
