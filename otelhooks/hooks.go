package otelhooks

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/actoredis/actoredis/api"
	"github.com/actoredis/actoredis/resp"
)

// Options configure the Hooks New returns. The zero value uses the global providers.
type Options struct {
	// TracerProvider makes the spans. Default: otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// MeterProvider makes the duration histogram. Default: otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// Attributes are added to every span and measurement (a cluster's name, say).
	Attributes []attribute.KeyValue
	// NoSpans and NoMetrics turn either off.
	NoSpans, NoMetrics bool
}

// scope names the instrumentation library to the providers.
const scope = "github.com/actoredis/actoredis/otelhooks"

// New returns Hooks for ClusterOptions.Hooks that record each command (see the package doc). It
// fails only when the meter refuses the histogram. The Hooks are safe for concurrent use, and
// may be given to several clients.
func New(o Options) (api.Hooks, error) {
	r := &recorder{base: o.Attributes, sets: map[setKey][]metric.RecordOption{}}
	if !o.NoSpans {
		tp := o.TracerProvider
		if tp == nil {
			tp = otel.GetTracerProvider()
		}
		r.tracer = tp.Tracer(scope)
	}
	if !o.NoMetrics {
		mp := o.MeterProvider
		if mp == nil {
			mp = otel.GetMeterProvider()
		}
		h, err := mp.Meter(scope).Float64Histogram("db.client.operation.duration",
			metric.WithUnit("s"), metric.WithDescription("Duration of Redis commands, from sent to done."),
			metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
		if err != nil {
			return api.Hooks{}, err
		}
		r.duration = h
	}
	return api.Hooks{CommandDone: r.done}, nil
}

// recorder turns CommandDone reports into spans and measurements.
type recorder struct {
	tracer   trace.Tracer            // nil: no spans
	duration metric.Float64Histogram // nil: no metrics
	base     []attribute.KeyValue

	mu   sync.RWMutex
	sets map[setKey][]metric.RecordOption // each measurement's attributes, made once
}

// setKey is what a measurement's attributes depend on.
type setKey struct{ name, addr, errType string }

func (r *recorder) done(d api.CommandDone) {
	ctx := d.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	errType := errorType(d.Err)
	if r.tracer != nil {
		r.span(ctx, d, errType)
	}
	if r.duration != nil {
		// Not ctx itself: the SDK drops a measurement whose ctx has ended, as a command failed by
		// its caller's cancellation or deadline has, and those count too.
		r.duration.Record(context.WithoutCancel(ctx), d.Duration.Seconds(),
			r.attributes(setKey{d.Name, d.Addr, errType})...)
	}
}

// span records d as a client span under ctx's, dated from d.Start to its end.
func (r *recorder) span(ctx context.Context, d api.CommandDone, errType string) {
	attrs := append(r.common(d.Name, d.Addr, errType), attribute.String("db.system", "redis"))
	_, span := r.tracer.Start(ctx, d.Name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(d.Start), trace.WithAttributes(attrs...))
	if d.Err != nil {
		span.RecordError(d.Err)
		span.SetStatus(codes.Error, d.Err.Error())
	}
	span.End(trace.WithTimestamp(d.Start.Add(d.Duration)))
}

// attributes returns the measurement options with k's attributes, made on k's first use.
func (r *recorder) attributes(k setKey) []metric.RecordOption {
	r.mu.RLock()
	opt, ok := r.sets[k]
	r.mu.RUnlock()
	if ok {
		return opt
	}
	opt = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(r.common(k.name, k.addr, k.errType)...))}
	r.mu.Lock()
	if len(r.sets) < maxSets {
		r.sets[k] = opt
	}
	r.mu.Unlock()
	return opt
}

// maxSets bounds the cache of attribute sets: past it (many nodes over a long life, commands of
// the user's own naming), a measurement makes its set anew.
const maxSets = 4096

// common returns the attributes spans and measurements share.
func (r *recorder) common(name, addr, errType string) []attribute.KeyValue {
	attrs := append(make([]attribute.KeyValue, 0, len(r.base)+5), r.base...)
	attrs = append(attrs, attribute.String("db.operation.name", name))
	if host, port, err := net.SplitHostPort(addr); err == nil {
		attrs = append(attrs, attribute.String("server.address", host))
		if p, err := strconv.Atoi(port); err == nil {
			attrs = append(attrs, attribute.Int("server.port", p))
		}
	}
	if errType != "" {
		attrs = append(attrs, attribute.String("error.type", errType))
	}
	return attrs
}

// errorType names err's kind in a few words, for error.type: the client's kind of failure first
// (a timeout whose last error was a TRYAGAIN is a timeout), then a server error's prefix when it
// is one of the server's own (WRONGTYPE, NOSCRIPT...); any other error, a script's own words
// included, is "other", so that the values stay few. "" for no error.
func errorType(err error) string {
	var se *resp.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	case errors.Is(err, api.ErrTimeout):
		return "timeout"
	case errors.Is(err, api.ErrClientClosed):
		return "client_closed"
	case errors.Is(err, api.ErrConnection): // every *api.ConnError
		return "connection"
	case errors.As(err, &se) && serverPrefixes[se.Prefix]:
		return se.Prefix
	}
	return "other"
}

// serverPrefixes are the error codes Redis itself replies with.
var serverPrefixes = map[string]bool{"ERR": true, "WRONGTYPE": true, "NOSCRIPT": true, "MOVED": true, "ASK": true,
	"TRYAGAIN": true, "CLUSTERDOWN": true, "LOADING": true, "MASTERDOWN": true, "READONLY": true, "NOPERM": true,
	"OOM": true, "BUSY": true, "BUSYKEY": true, "EXECABORT": true, "NOAUTH": true, "WRONGPASS": true, "NOREPLICAS": true,
	"MISCONF": true, "CROSSSLOT": true, "UNBLOCKED": true, "NOGROUP": true, "NOPROTO": true, "UNKILLABLE": true,
	"NOTBUSY": true}
