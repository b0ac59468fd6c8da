package board

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// objectMembers splits a JSON object into its members, in order, keeping
// each value's bytes. A name given twice is an error (which value would
// count is left open by RFC 8259).
func objectMembers(data []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var ms []member
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errors.New("not a JSON object")
		}
		if seen[name] {
			return nil, fmt.Errorf("member %.64q appears twice", name)
		}
		seen[name] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		ms = append(ms, member{name, compactCopy(v)})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the object")
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("trailing data after the object")
	}
	return ms, nil
}

// MergePatch applies an RFC 7396 JSON Merge Patch to target (nil: absent)
// and returns the result. Members keep their order; new ones go last.
func MergePatch(target, patch []byte) ([]byte, error) {
	if !isObject(patch) {
		return compactCopy(patch), nil
	}
	pm, err := objectMembers(patch)
	if err != nil {
		return nil, err
	}
	var tm []member
	if isObject(target) {
		if tm, err = objectMembers(target); err != nil {
			return nil, err
		}
	}
	for _, p := range pm {
		i := -1
		for j := range tm {
			if tm[j].name == p.name {
				i = j
				break
			}
		}
		if isNull(p.value) {
			if i >= 0 {
				tm = append(tm[:i], tm[i+1:]...)
			}
			continue
		}
		var old []byte
		if i >= 0 {
			old = tm[i].value
		}
		v, err := MergePatch(old, p.value)
		if err != nil {
			return nil, err
		}
		if i >= 0 {
			tm[i].value = v
		} else {
			tm = append(tm, member{p.name, v})
		}
	}
	return appendMembers(nil, tm), nil
}

func isObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}

func isNull(b []byte) bool { return string(bytes.TrimSpace(b)) == "null" }

// compactCopy returns b without insignificant white space, in new memory
// (the input may be a decoder's buffer).
func compactCopy(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return append([]byte(nil), b...)
	}
	return buf.Bytes()
}

// HasRowKey reports whether data is a JSON object with a top-level row_key
// member: a board meant to be keyed (Parse tells whether it is a valid one).
func HasRowKey(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if tok == "row_key" {
			return true
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return false
		}
	}
	return false
}
