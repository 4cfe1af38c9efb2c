package otelhooks

import (
	"context"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/actoredis/actoredis/api"
)

// BenchmarkCommandDone: what one report costs the goroutine that makes it (often a connection's
// reader), with the OpenTelemetry SDK recording, for metrics alone, and spans too (every span
// sampled, then dropped by a processor that keeps nothing), from several goroutines at once.
func BenchmarkCommandDone(b *testing.B) {
	d := api.CommandDone{Name: "GET", Addr: "127.0.0.1:7001", Start: time.Now(), Duration: 250 * time.Microsecond,
		Ctx: context.Background()}
	meter := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(dropSpans{}))
	defer func() { _ = tracer.Shutdown(context.Background()) }()
	for _, c := range []struct {
		name string
		o    Options
	}{
		{"metrics", Options{MeterProvider: meter, NoSpans: true}},
		{"metrics+spans", Options{MeterProvider: meter, TracerProvider: tracer}},
	} {
		b.Run(c.name, func(b *testing.B) {
			hooks, err := New(c.o)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					hooks.CommandDone(d)
				}
			})
		})
	}
}

// dropSpans is a span processor that keeps nothing.
type dropSpans struct{}

func (dropSpans) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (dropSpans) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (dropSpans) Shutdown(context.Context) error                  { return nil }
func (dropSpans) ForceFlush(context.Context) error                { return nil }
