package slotmap

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrRootNodesUnavailable is matched by the error of a first discovery that reached no root node.
var ErrRootNodesUnavailable = errors.New("actoredis: no root node answered")

// ErrMapClosed is the error of a Learn on a closed map.
var ErrMapClosed = errors.New("actoredis: slot map closed")

// RootsError lists why each root node failed.
type RootsError struct {
	Errors map[string]error // by root address
	Order  []string
}

func (e *RootsError) Error() string {
	var b strings.Builder
	b.WriteString(ErrRootNodesUnavailable.Error())
	for _, addr := range e.Order {
		fmt.Fprintf(&b, "; %s: %v", addr, e.Errors[addr])
	}
	return b.String()
}

// Is matches ErrRootNodesUnavailable.
func (e *RootsError) Is(target error) bool { return target == ErrRootNodesUnavailable }

// Unwrap returns each root's error, in order: errors.Is(err, resp.ErrWrongPass) holds when a root
// refused the credentials.
func (e *RootsError) Unwrap() []error {
	errs := make([]error, 0, len(e.Order))
	for _, addr := range e.Order {
		if err := e.Errors[addr]; err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// failureKey is err's text, for telling whether two failed discoveries failed alike; for a
// RootsError the roots' errors sorted by address, whichever order the discovery tried them in.
func failureKey(err error) string {
	var re *RootsError
	if !errors.As(err, &re) {
		return err.Error()
	}
	addrs := slices.Sorted(slices.Values(re.Order))
	var b strings.Builder
	for _, addr := range addrs {
		fmt.Fprintf(&b, "%s: %v; ", addr, re.Errors[addr])
	}
	return b.String()
}
