// Package otelhooks records an actoredis client's commands with OpenTelemetry: a client span for
// each command and a histogram of their durations, from api.Hooks.CommandDone.
//
//	hooks, err := otelhooks.New(otelhooks.Options{}) // the global TracerProvider and MeterProvider
//	c, err := api.CreateCluster(api.ClusterOptions{RootNodes: roots, Hooks: hooks})
//
// A span is made when its command is done, dated back to when it was sent, under the span of
// the ctx it was sent with (Do's, a helper's; none for Send). Its name is the command's
// ("GET", "CLUSTER NODES"), its attributes db.system "redis", db.operation.name, server.address
// and server.port (the node that answered), and for a failed command error.type, with the error
// recorded and the status Error. The histogram db.client.operation.duration (seconds) has the
// same attributes but the span's, and is measured for every command.
package otelhooks
