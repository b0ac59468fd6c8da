package broadcaster

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/arenacast/arenacast/protocol"
)

func TestReadBody(t *testing.T) {
	body := strings.Repeat(`{"type":"run_update","channel":"/contest/a","data":{}}`+"\n", 40)
	boom := errors.New("boom")
	tests := []struct {
		name     string
		rd       io.Reader
		declared int64
		limit    int
		want     string
		err      error
	}{
		{"declared exactly", strings.NewReader(body), int64(len(body)), 1 << 20, body, nil},
		{"declared, one byte a read", iotest.OneByteReader(strings.NewReader(body)), int64(len(body)), 1 << 20, body, nil},
		{"not declared (chunked)", strings.NewReader(body), -1, 1 << 20, body, nil},
		{"declared over the limit", strings.NewReader(body), 1 << 30, 1 << 20, body, nil},
		{"declared less than sent", strings.NewReader(body), 10, 1 << 20, body, nil},
		{"declared more than sent", strings.NewReader("abc"), 10, 1 << 20, "abc", nil},
		{"read error", io.MultiReader(strings.NewReader("ab"), iotest.ErrReader(boom)), 10, 1 << 20, "ab", boom},
		{"empty", strings.NewReader(""), 0, 1 << 20, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readBody(tt.rd, tt.declared, tt.limit, nil)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if !bytes.Equal(got, []byte(tt.want)) {
				t.Fatalf("read %d bytes %.40q, want %d bytes", len(got), got, len(tt.want))
			}
			// A declared length that was right is read without growing.
			if tt.declared == int64(len(tt.want)) && tt.declared > 0 && cap(got) != len(got)+bytes.MinRead {
				t.Fatalf("cap %d after reading %d declared bytes: the buffer grew", cap(got), len(got))
			}
		})
	}
}

// TestPublishScratchReset: a reset scratch is empty and holds nothing of
// the request it served, also past its lengths; a very large batch's is
// not kept, and a very large body is dropped from it.
func TestPublishScratchReset(t *testing.T) {
	body := []byte(`{"a":1}`)
	ev := &protocol.Event{Type: "x"}
	sc := &publishScratch{
		body:    append(make([]byte, 0, 64), body...),
		items:   append(make([][]byte, 0, 8), body, body, body),
		results: append(make([]publishResult, 0, 8), publishResult{ID: "1", Message: "m"}),
		evs:     append(make([]*protocol.Event, 0, 8), ev, ev),
		at:      []int{0, 1},
		reply:   []byte("{}"),
	}
	sc.items = sc.items[:1] // a later, shorter request: the rest still holds the earlier one's
	sc.evs = sc.evs[:1]
	if !sc.reset() {
		t.Fatal("a small scratch is not kept")
	}
	if len(sc.body)+len(sc.items)+len(sc.results)+len(sc.evs)+len(sc.at)+len(sc.reply) != 0 || cap(sc.body) != 64 {
		t.Fatalf("not empty, or the body's buffer not kept, after reset: %+v", sc)
	}
	for i, it := range sc.items[:cap(sc.items)] {
		if it != nil {
			t.Fatalf("items[%d] still holds %q", i, it)
		}
	}
	for i, e := range sc.evs[:cap(sc.evs)] {
		if e != nil {
			t.Fatalf("evs[%d] still holds an event", i)
		}
	}
	for i, r := range sc.results[:cap(sc.results)] {
		if r != (publishResult{}) {
			t.Fatalf("results[%d] still holds %+v", i, r)
		}
	}
	big := &publishScratch{items: make([][]byte, 0, maxScratchEvents+1)}
	if big.reset() {
		t.Fatal("a scratch over maxScratchEvents is kept")
	}
	bigBody := &publishScratch{body: make([]byte, 10, maxScratchBody+1)}
	if !bigBody.reset() || bigBody.body != nil {
		t.Fatalf("a body over maxScratchBody: kept %v, body cap %d; want the scratch kept without it", bigBody.body != nil, cap(bigBody.body))
	}
}

// TestReadBodyReuses: a buffer from an earlier request, large enough, is
// read into from its start, whatever it held; a small one is replaced.
func TestReadBodyReuses(t *testing.T) {
	old := []byte(strings.Repeat("x", 8192))
	got, err := readBody(strings.NewReader("abc"), 3, 1<<20, old[:100])
	if err != nil || string(got) != "abc" || &got[0] != &old[0] {
		t.Fatalf("read %q, %v into a new array: want %q in the old one", got, err, "abc")
	}
	small := make([]byte, 0, 2)
	got, err = readBody(strings.NewReader("abcdef"), -1, 1<<20, small)
	if err != nil || string(got) != "abcdef" {
		t.Fatalf("read %q, %v; want %q", got, err, "abcdef")
	}
}

// TestAppendBatchReply: the hand-written batch answer is byte for byte what
// encoding/json wrote for the same results before it, for any message text.
func TestAppendBatchReply(t *testing.T) {
	for _, tc := range []struct {
		name      string
		results   []publishResult
		pub, fail int
	}{
		{"empty", []publishResult{}, 0, 0},
		{"stored", []publishResult{{ID: "17", Channel: "/contest/a"}, {ID: "18", Channel: "/contest/b-2"}}, 2, 0},
		{"mixed", []publishResult{
			{ID: "5", Channel: "/contest/a"},
			{Error: protocol.ErrBadRequest, Message: `bad event: channel "/x\"y" is <not> & "valid"`},
			{Channel: "/contest/a", Error: protocol.ErrInternal, Message: "the event stream is unavailable"},
			{Error: protocol.ErrBadRequest, Message: "tab\there, newline\n, nul\x00, é, not UTF-8 \xff, \u2028"},
		}, 1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want bytes.Buffer
			if err := json.NewEncoder(&want).Encode(struct {
				Results   []publishResult `json:"results"`
				Published int             `json:"published"`
				Failed    int             `json:"failed"`
			}{tc.results, tc.pub, tc.fail}); err != nil {
				t.Fatal(err)
			}
			if got := appendBatchReply(nil, tc.results, tc.pub, tc.fail); string(got) != want.String() {
				t.Errorf("got  %s\nwant %s", got, want.String())
			}
		})
	}
}
