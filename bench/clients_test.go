package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// Every client the bench can be told to run, the opt-in ones too, writes and reads back a value on
// a 3-master cluster: a name the bench accepts is a client that works.
func TestEveryClientRoundTrips(t *testing.T) {
	local := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	names := append(append([]string(nil), clientNames...), optInClients...)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			c, err := newClient(ctx, name, local.Addrs())
			if err != nil {
				t.Fatal(err)
			}
			defer c.close()
			key, value := "roundtrip:"+name, []byte("value of "+name)
			if err := c.set(ctx, key, value); err != nil {
				t.Fatalf("SET: %v", err)
			}
			got, err := c.get(ctx, key)
			if err != nil || !bytes.Equal(got, value) {
				t.Fatalf("GET = %q, %v; want %q", got, err, value)
			}
		})
	}
	if _, err := newClient(ctx, "no-such-client", local.Addrs()); err == nil {
		t.Error("an unknown client name was accepted")
	}
}
