package natsbus

import (
	"fmt"
	"sync"
)

// fatalCatcher is the embedded server's logger: it drops every line
// (the node logs what matters itself) but keeps the first fatal one.
// nats-server reports a client listener it could not open (address in
// use, say) only by logging it fatally and then never becomes ready, so
// without this startEmbedded would wait out its whole readiness bound
// and then fail without saying why. Safe for concurrent use: once guards
// msg, which done's closing publishes.
type fatalCatcher struct {
	once sync.Once
	done chan struct{}
	msg  string
}

func newFatalCatcher() *fatalCatcher { return &fatalCatcher{done: make(chan struct{})} }

// Fatalf keeps the first fatal message and signals it.
func (f *fatalCatcher) Fatalf(format string, v ...any) {
	f.once.Do(func() {
		f.msg = fmt.Sprintf(format, v...)
		close(f.done)
	})
}

// Noticef, Warnf, Errorf, Debugf and Tracef drop the line.
func (f *fatalCatcher) Noticef(string, ...any) {}
func (f *fatalCatcher) Warnf(string, ...any)   {}
func (f *fatalCatcher) Errorf(string, ...any)  {}
func (f *fatalCatcher) Debugf(string, ...any)  {}
func (f *fatalCatcher) Tracef(string, ...any)  {}
