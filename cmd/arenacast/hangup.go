package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// watchHangup runs every reload on each SIGHUP until ctx ends (systemd's
// ExecReload sends one). Without reloads a SIGHUP is logged and ignored
// rather than ending the process, so one unit file fits every node.
// Registering happens before watchHangup returns, so a SIGHUP sent after
// the node listens never takes the default action (exit).
func watchHangup(ctx context.Context, log *slog.Logger, reloads ...func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			if len(reloads) == 0 {
				log.Info("SIGHUP: nothing to reload")
			}
			for _, reload := range reloads {
				reload()
			}
		}
	}()
}
