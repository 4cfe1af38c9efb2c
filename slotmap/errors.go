package slotmap

import (
	"errors"
	"fmt"
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
