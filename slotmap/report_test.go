package slotmap

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Discoveries that keep failing alike, whatever order they tried the roots in, are reported once
// per failReport, the next report counting those in between; one failing otherwise, or the first
// after a success, is reported at once.
func TestRepeatedDiscoveryFailuresAreReportedNowAndThen(t *testing.T) {
	var reported []error
	a := &mapActor{opts: Options{Logger: slog.New(slog.DiscardHandler), OnError: func(err error) {
		reported = append(reported, err)
	}}}
	refused := errors.New("HELLO: WRONGPASS")
	roots := func(order ...string) error {
		return &RootsError{Errors: map[string]error{"a:1": refused, "b:2": refused}, Order: order}
	}
	a.reportFailure(roots("a:1", "b:2"))
	a.reportFailure(roots("b:2", "a:1"))
	a.reportFailure(roots("a:1", "b:2"))
	require.Len(t, reported, 1, "alike within failReport")

	a.failAt = a.failAt.Add(-failReport) // failReport has passed
	a.reportFailure(roots("b:2", "a:1"))
	require.Len(t, reported, 2)
	assert.ErrorIs(t, reported[1], ErrRootNodesUnavailable)
	assert.ErrorContains(t, reported[1], "ago, 2 more failing as it said)")

	a.reportFailure(roots("a:1", "b:2"))
	a.reportFailure(errors.New("something else"))
	require.Len(t, reported, 3, "a different failure is reported at once")
	assert.ErrorContains(t, reported[2], "something else (also, since the last report ",
		"with those alike the last report, unreported")

	a.reportFailure(errors.New("something else"))
	a.failText = "" // a discovery succeeded
	a.reportFailure(errors.New("something else"))
	require.Len(t, reported, 4, "the first failure after a success is reported at once")
	assert.ErrorContains(t, reported[3], "ago, 1 more failing as it said)", "with those before the success")
}
