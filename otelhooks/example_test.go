package otelhooks_test

import (
	"context"
	"fmt"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/actoredis/actoredis/api"
	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/otelhooks"
)

func ExampleNew() {
	ctx := context.Background()
	local, err := testcluster.Start(ctx, testcluster.Options{Replicas: testcluster.NoReplicas})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer local.Stop()

	// An application's tracer provider; here one that keeps the spans, to print them.
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(ctx)

	hooks, err := otelhooks.New(otelhooks.Options{TracerProvider: tp}) // and the global MeterProvider
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := api.CreateCluster(api.ClusterOptions{
		RootNodes: []api.NodeOptions{{URL: "redis://" + local.Addrs()[0]}},
		Hooks:     hooks,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Connect(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	request, span := tp.Tracer("app").Start(ctx, "handle request")
	_ = c.Set(request, "greeting", "hello")
	_, _ = c.LPush(request, "greeting", "x") // WRONGTYPE
	span.End()

	for _, s := range spans.Ended() {
		fmt.Println(s.Name(), s.Status().Code, s.Parent().SpanID() == span.SpanContext().SpanID())
	}
	// Output:
	// SET Unset true
	// LPUSH Error true
	// handle request Unset false
}
