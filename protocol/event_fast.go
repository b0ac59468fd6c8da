package protocol

import "encoding/json"

// decodeEventFast parses the event form publishers send in practice (the
// five known keys, each once, spelled exactly; plain ASCII strings without
// escapes; public true or false) without reflection, about twice as fast as
// encoding/json (BenchmarkDecodeEvent against BenchmarkDecodeEventJSON):
// once per event in POST /publish and again per event per
// node off the stream. ok is false for anything else, valid or not, which
// then takes decodeEventJSON, so errors and the result for every input are
// encoding/json's (FuzzDecodeEvent compares the two).
func decodeEventFast(b []byte, keep bool) (ev *Event, ok bool) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	ev = &Event{}
	var seen [5]bool
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			key, j, ok := plainString(b, i) // compared, not kept: no copy
			if !ok {
				return nil, false
			}
			i = skipWS(b, j)
			if i >= len(b) || b[i] != ':' {
				return nil, false
			}
			i = skipWS(b, i+1)
			k := -1
			switch string(key) {
			case "type":
				k = 0
			case "channel":
				k = 1
			case "user":
				k = 2
			case "public":
				k = 3
			case "data":
				k = 4
			}
			if k < 0 || seen[k] {
				return nil, false
			}
			seen[k] = true
			switch k {
			case 0, 1, 2:
				v, j, ok := plainString(b, i)
				if !ok {
					return nil, false
				}
				switch k {
				case 0:
					ev.Type = knownType(v)
				case 1:
					ev.Channel = string(v)
				case 2:
					ev.User = string(v)
				}
				i = j
			case 3:
				switch {
				case hasPrefix(b[i:], "true"):
					ev.Public, i = true, i+4
				case hasPrefix(b[i:], "false"):
					i += 5
				default:
					return nil, false
				}
			case 4:
				end, ok := scanValue(b, i) // JSON and UTF-8
				if !ok {
					return nil, false
				}
				if keep {
					ev.Data = json.RawMessage(b[i:end:end])
				} else {
					ev.Data = append(json.RawMessage(nil), b[i:end]...)
				}
				i = end
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return nil, false
			}
			if b[i] == '}' {
				i++
				break
			}
			if b[i] != ',' {
				return nil, false
			}
			i = skipWS(b, i+1)
		}
	}
	if skipWS(b, i) != len(b) {
		return nil, false
	}
	return ev, true
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func hasPrefix(b []byte, p string) bool {
	return len(b) >= len(p) && string(b[:len(p)]) == p
}

// plainString reads a JSON string at b[i] made only of printable ASCII
// without escapes, returning its bytes (within b) and the index after its
// closing quote.
func plainString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		c := b[j]
		switch {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// knownType returns t as a string, without a copy for the event types of
// the contract (one allocation less per event off the stream).
func knownType(t []byte) string {
	switch string(t) {
	case TypeRunUpdate:
		return TypeRunUpdate
	case TypeScoreboardUpdate:
		return TypeScoreboardUpdate
	case TypeClarification:
		return TypeClarification
	case TypeContestUpdate:
		return TypeContestUpdate
	case TypeScoreboardPatch:
		return TypeScoreboardPatch
	}
	return string(t)
}
