package actors

import (
	"context"
	"log/slog"
	"runtime/debug"
)

// minLevel is a slog.Handler that drops records below a level before the wrapped handler sees them.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(attrs), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}

// Contain runs f, code of the library's user (a handler, a callback), and reports whether it
// panicked. A panic goes no further: it is logged to logger (dropped when logger is nil) as msg,
// with attrs, the panic value and its stack. Use it where a user's panic would otherwise restart
// an actor or end the process.
func Contain(logger *slog.Logger, msg string, f func(), attrs ...any) (panicked bool) {
	defer func() {
		if p := recover(); p != nil {
			panicked = true
			if logger != nil {
				logger.Error(msg, append(attrs, "panic", p, "stack", string(debug.Stack()))...)
			}
		}
	}()
	f()
	return false
}
