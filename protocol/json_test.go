package protocol

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// jsonScanCases are inputs with their answer under json.Valid && utf8.Valid.
var jsonScanCases = []struct {
	in   string
	want bool
}{
	{`{}`, true},
	{` [ ] `, true},
	{`{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, true},
	{"\t\r\n{ \"a\" : [ 1 , 2 ] }\n", true},
	{`"plain"`, true},
	{`"esc \" \\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00"`, true},
	{`"\ud800"`, true}, // a lone surrogate escape is valid JSON
	{"\"\u00e9\u4e2d\U0001F600\"", true},
	{"\"\xef\xbf\xbd\"", true}, // U+FFFD itself
	{`0`, true},
	{`-0.5e+10`, true},
	{`1E-3`, true},
	{`123456789012345678901234567890`, true},
	{`[1,[2,[3,{"x":[]}]]]`, true},
	{``, false},
	{` `, false},
	{`{`, false},
	{`{"a"}`, false},
	{`{"a":}`, false},
	{`{"a":1,}`, false},
	{`{,}`, false},
	{`{1:2}`, false},
	{`[1,]`, false},
	{`[,1]`, false},
	{`[1 2]`, false},
	{`[}`, false},
	{`{]`, false},
	{`{"a":1}}`, false},
	{`{} {}`, false},
	{`01`, false},
	{`-`, false},
	{`1.`, false},
	{`.5`, false},
	{`1e`, false},
	{`1e+`, false},
	{`+1`, false},
	{`tru`, false},
	{`nul`, false},
	{`True`, false},
	{`"unterminated`, false},
	{`"bad \x escape"`, false},
	{`"\u12"`, false},
	{`"\u12G4"`, false},
	{"\"tab\there\"", false}, // a raw control character
	{"\"\x00\"", false},
	{"\"\xff\"", false},             // not UTF-8
	{"\"\xc3\"", false},             // truncated sequence
	{"\"\xed\xa0\x80\"", false},     // an encoded surrogate
	{"\"\xf4\x90\x80\x80\"", false}, // over U+10FFFF
	{"\"\xc0\xaf\"", false},         // overlong
	{"[\xff]", false},
	{"\u00a0{}", false}, // non-ASCII space
	{`"/contest/a-b_c.d"`, true},
	{`"<&>"`, true},
	{strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth), true},
	{strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1), false},
	{strings.Repeat(`{"a":`, maxJSONDepth) + "1" + strings.Repeat("}", maxJSONDepth), true},
	{strings.Repeat(`{"a":`, maxJSONDepth+1) + "1" + strings.Repeat("}", maxJSONDepth+1), false},
}

func TestValidJSON(t *testing.T) {
	for _, c := range jsonScanCases {
		if got := validJSON([]byte(c.in)); got != c.want {
			t.Errorf("validJSON(%.40q) = %v, want %v", c.in, got, c.want)
		}
		// The table must say what the pair says, or it tests nothing.
		if ref := json.Valid([]byte(c.in)) && utf8.Valid([]byte(c.in)); ref != c.want {
			t.Errorf("table: json.Valid && utf8.Valid(%.40q) = %v, not %v", c.in, ref, c.want)
		}
	}
}

// TestScanValueEnd: inside an event, scanValue stops right after the value
// so the next key can follow.
func TestScanValueEnd(t *testing.T) {
	for _, c := range []struct {
		in  string
		end int
	}{
		{`{"a":[1,2]},"x"`, 11},
		{`"s\"q"}`, 6},
		{`-12.5e3,`, 7},
		{`true}`, 4},
		{`[]]`, 2},
	} {
		end, ok := scanValue([]byte(c.in), 0)
		if !ok || end != c.end {
			t.Errorf("scanValue(%q) = %d, %v; want %d, true", c.in, end, ok, c.end)
		}
	}
}

// FuzzValidJSON holds validJSON to encoding/json's and utf8's answer, and
// AppendJSONString to json.Marshal's bytes.
func FuzzValidJSON(f *testing.F) {
	for _, c := range jsonScanCases {
		if len(c.in) < 256 {
			f.Add([]byte(c.in))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := json.Valid(b) && utf8.Valid(b)
		if got := validJSON(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid && utf8.Valid = %v", b, got, want)
		}
		q, _ := json.Marshal(string(b))
		if got := AppendJSONString([]byte("x"), string(b)); string(got) != "x"+string(q) {
			t.Fatalf("AppendJSONString(%q) = %s, json.Marshal: %s", b, got[1:], q)
		}
	})
}

// BenchmarkValidJSON is the data check of every event, against what it
// replaced (json.Valid, then utf8.Valid).
func BenchmarkValidJSON(b *testing.B) {
	ev, err := DecodeEvent(benchEventJSON, 0)
	if err != nil {
		b.Fatal(err)
	}
	data := []byte(ev.Data)
	b.Run("scan", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if !validJSON(data) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if !json.Valid(data) || !utf8.Valid(data) {
				b.Fatal("invalid")
			}
		}
	})
}
