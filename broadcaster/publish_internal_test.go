package broadcaster

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
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
			got, err := readBody(tt.rd, tt.declared, tt.limit)
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
