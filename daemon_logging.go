package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// logLevel is the value of --log-level: debug, info, warn or error.
type logLevel struct{ level slog.Level }

var logLevelNames = []string{"debug", "info", "warn", "error"}

func (l *logLevel) Set(s string) error {
	switch strings.ToLower(s) {
	case "debug":
		l.level = slog.LevelDebug
	case "info":
		l.level = slog.LevelInfo
	case "warn", "warning":
		l.level = slog.LevelWarn
	case "error":
		l.level = slog.LevelError
	default:
		return fmt.Errorf("want one of %s", strings.Join(logLevelNames, ", "))
	}
	return nil
}

func (l *logLevel) String() string { return strings.ToLower(l.level.String()) }

func (l *logLevel) Type() string { return "level" }

// setupLog sends the process's own messages (log/slog) to w at level and
// above: key=value lines, with the time when withTime (a daemon's log; a
// command's few lines on a terminal go without).
func setupLog(w io.Writer, level slog.Level, withTime bool) {
	opts := &slog.HandlerOptions{Level: level}
	if !withTime {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(w, opts)))
}
