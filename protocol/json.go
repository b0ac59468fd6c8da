package protocol

import (
	"encoding/json"
	"unicode/utf8"
)

// An event's data is checked twice per event on a node that publishes it
// (POST /publish, then its consumer off the stream) and once per event on
// every other node. encoding/json.Valid followed by utf8.Valid took about
// 1.5 us per 200-byte event on a busy node (issue 18's profiles); scanValue
// makes one pass that checks both, several times faster
// (BenchmarkValidJSON). FuzzValidJSON holds it to the pair's answer for
// every input.

// maxJSONDepth is how deeply arrays and objects may nest: encoding/json's
// limit, so that scanValue and json.Valid agree on every input.
const maxJSONDepth = 10000

// validJSON reports whether b is one JSON value (RFC 8259), optionally
// surrounded by whitespace, and valid UTF-8: json.Valid(b) && utf8.Valid(b).
func validJSON(b []byte) bool {
	end, ok := scanValue(b, skipWS(b, 0))
	return ok && skipWS(b, end) == len(b)
}

// scanValue checks the JSON value starting at b[i] (no leading whitespace)
// and returns the index just after it. Strings must be valid UTF-8; outside
// them only ASCII is valid JSON anyway.
func scanValue(b []byte, i int) (int, bool) {
	// open holds, per open array or object, whether it is an object: what
	// follows a value there (',' then a key, or '}') depends on it.
	var stack [32]bool
	open := stack[:0]
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return 0, false
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if len(open) == maxJSONDepth {
				return 0, false
			}
			obj := c == '{'
			open = append(open, obj)
			i = skipWS(b, i+1)
			if i < len(b) && (obj && b[i] == '}' || !obj && b[i] == ']') {
				i++ // empty: the container is a complete value
				open = open[:len(open)-1]
				break
			}
			if obj {
				var ok bool
				if i, ok = scanKey(b, i); !ok {
					return 0, false
				}
			}
			continue
		case c == '"':
			var ok bool
			if i, ok = scanString(b, i); !ok {
				return 0, false
			}
		case c == '-' || '0' <= c && c <= '9':
			var ok bool
			if i, ok = scanNumber(b, i); !ok {
				return 0, false
			}
		case c == 't':
			if !hasPrefix(b[i:], "true") {
				return 0, false
			}
			i += 4
		case c == 'f':
			if !hasPrefix(b[i:], "false") {
				return 0, false
			}
			i += 5
		case c == 'n':
			if !hasPrefix(b[i:], "null") {
				return 0, false
			}
			i += 4
		default:
			return 0, false
		}
		// A value ended at b[i]: close containers until one continues.
		for {
			if len(open) == 0 {
				return i, true
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return 0, false
			}
			obj := open[len(open)-1]
			if b[i] == ',' {
				i = skipWS(b, i+1)
				if obj {
					var ok bool
					if i, ok = scanKey(b, i); !ok {
						return 0, false
					}
				}
				break
			}
			if obj && b[i] != '}' || !obj && b[i] != ']' {
				return 0, false
			}
			i++
			open = open[:len(open)-1]
		}
	}
}

// scanKey checks an object member's name and colon at b[i] and returns
// the index of the value after them.
func scanKey(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	i, ok := scanString(b, i)
	if !ok {
		return 0, false
	}
	i = skipWS(b, i)
	if i >= len(b) || b[i] != ':' {
		return 0, false
	}
	return skipWS(b, i+1), true
}

// plainByte marks the bytes a string holds as they are: printable ASCII
// other than the quote and the backslash.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString checks the string starting at b[i] (a quote) and returns the
// index after its closing quote.
func scanString(b []byte, i int) (int, bool) {
	i++
	for {
		for i < len(b) && plainByte[b[i]] {
			i++
		}
		if i >= len(b) {
			return 0, false
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 >= len(b) {
				return 0, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return 0, false
				}
				i += 6
			default:
				return 0, false
			}
		case c < 0x20:
			return 0, false // a control character must be escaped
		default: // c >= 0x80: one UTF-8 sequence
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				return 0, false
			}
			i += n
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// scanNumber checks the number starting at b[i] and returns the index
// after it: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

// digits returns the index of the first non-digit at or after b[i].
func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// AppendJSONString appends s as a JSON string exactly as json.Marshal
// writes it: as it is when it is printable ASCII without characters
// encoding/json escapes (channel names, ids, the node's own messages), else
// through json.Marshal (escapes, <, > and & as \u003c..., invalid UTF-8 as
// U+FFFD).
func AppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !plainByte[c] || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
