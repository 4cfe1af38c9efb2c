package resp

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseError(t *testing.T) {
	cases := []struct{ text, prefix, msg string }{
		{"MOVED 3999 127.0.0.1:6381", "MOVED", "3999 127.0.0.1:6381"},
		{"ERR unknown command 'FOO'", "ERR", "unknown command 'FOO'"},
		{"CLUSTERDOWN", "CLUSTERDOWN", ""},
		{"NOSCRIPT No matching script", "NOSCRIPT", "No matching script"},
		{"Error from a module", "", "Error from a module"},
		{"", "", ""},
	}
	for _, tc := range cases {
		e := ParseError(tc.text)
		assert.Equal(t, tc.prefix, e.Prefix, tc.text)
		assert.Equal(t, tc.msg, e.Msg, tc.text)
		assert.Equal(t, tc.text, e.Error())
	}
}

func TestErrorIsMatchesPrefix(t *testing.T) {
	sentinels := []*Error{ErrMoved, ErrAsk, ErrTryAgain, ErrClusterDown, ErrLoading, ErrCrossSlot, ErrWrongType,
		ErrNoScript, ErrNoAuth, ErrWrongPass, ErrReadOnly, ErrMasterDown, ErrBusy, ErrNoPerm, ErrExecAbort, ErrGeneric}
	for _, s := range sentinels {
		err := error(ParseError(s.Prefix + " some message"))
		assert.ErrorIs(t, err, s)
		wrapped := fmt.Errorf("node 127.0.0.1:7000: GET: %w", err)
		assert.ErrorIs(t, wrapped, s, "through a wrap")
		for _, other := range sentinels {
			if other != s {
				assert.NotErrorIs(t, err, other)
			}
		}
	}
	assert.NotErrorIs(t, ParseError("module says no"), &Error{})
	assert.NotErrorIs(t, errors.New("MOVED 1 a:1"), ErrMoved, "only *Error values match")
}

func TestProtocolErrorUnwraps(t *testing.T) {
	err := error(protocolError(ErrTooDeep, "x"))
	assert.ErrorIs(t, err, ErrTooDeep)
	assert.NotErrorIs(t, err, ErrProtocol)
	var pe *ProtocolError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "resp: nesting deeper than the limit: x", err.Error())
}

func TestParseRedirect(t *testing.T) {
	r, ok, err := ParseRedirect(ParseError("MOVED 3999 127.0.0.1:6381"))
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, Redirect{Slot: 3999, Host: "127.0.0.1", Port: 6381}, r)
	assert.Equal(t, "127.0.0.1:6381", r.Addr())
	assert.Equal(t, "MOVED 3999 127.0.0.1:6381", r.String())

	r, ok, err = ParseRedirect(ParseError("ASK 0 n1.invalid:7000"))
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, Redirect{Ask: true, Slot: 0, Host: "n1.invalid", Port: 7000}, r)

	r, _, err = ParseRedirect(ParseError("MOVED 16383 ::1:7001"))
	require.NoError(t, err)
	assert.Equal(t, "[::1]:7001", r.Addr())

	r, _, err = ParseRedirect(ParseError("MOVED 5 :7002")) // endpoint unknown: same host as the replier
	require.NoError(t, err)
	assert.Equal(t, "", r.Host)
	assert.Equal(t, ":7002", r.Addr())

	_, ok, err = ParseRedirect(ParseError("WRONGTYPE x"))
	assert.False(t, ok)
	assert.NoError(t, err)

	for _, bad := range []string{"MOVED", "MOVED x 1.2.3.4:5", "MOVED 16384 h:1", "MOVED -1 h:1",
		"ASK 5 nohostport", "ASK 5 h:0", "ASK 5 h:99999", "MOVED 5 h:port"} {
		_, ok, err := ParseRedirect(ParseError(bad))
		assert.True(t, ok, bad)
		assert.ErrorIs(t, err, ErrProtocol, bad)
	}
}
