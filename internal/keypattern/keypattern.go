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

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
