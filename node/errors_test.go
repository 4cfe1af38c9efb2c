package node

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The api layer names the node and the command in an error only when the node has not already.
func TestNamesNode(t *testing.T) {
	named := commandError("127.0.0.1:7000", "GET", ErrClosed)
	assert.True(t, NamesNode(named))
	assert.True(t, NamesNode(fmt.Errorf("actoredis: node gone: %w", named)))
	assert.True(t, NamesNode(&ConnError{Addr: "127.0.0.1:7000", Command: "GET", Err: errors.New("reset")}))
	assert.False(t, NamesNode(ErrClosed))
	assert.False(t, NamesNode(errors.New("actoredis: node 127.0.0.1:7000: GET: looks named, is not")))
	assert.ErrorIs(t, named, ErrClosed)
	assert.Equal(t, "actoredis: node 127.0.0.1:7000: GET: actoredis: node closed", named.Error())
}

// A write past its deadline is a timeout (ErrTimeout), over TLS too where the connection is lost
// with it; other write errors are left as they are.
func TestTimedOutWrite(t *testing.T) {
	err := timedOut(fmt.Errorf("write tcp: %w", os.ErrDeadlineExceeded))
	assert.ErrorIs(t, err, ErrTimeout)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	reset := errors.New("connection reset by peer")
	assert.Equal(t, reset, timedOut(reset))
}
