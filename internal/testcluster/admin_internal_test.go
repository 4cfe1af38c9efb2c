package testcluster

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadReply(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     any
	}{
		{"simple", "+OK\r\n", "OK"},
		{"empty simple", "+\r\n", ""},
		{"error", "-MOVED 3999 127.0.0.1:7001\r\n", &ServerError{Msg: "MOVED 3999 127.0.0.1:7001"}},
		{"integer", ":-42\r\n", int64(-42)},
		{"bulk", "$5\r\nhello\r\n", "hello"},
		{"bulk with CRLF inside", "$4\r\na\r\nb\r\n", "a\r\nb"},
		{"empty bulk", "$0\r\n\r\n", ""},
		{"null bulk", "$-1\r\n", nil},
		{"null array", "*-1\r\n", nil},
		{"empty array", "*0\r\n", []any{}},
		{"nested", "*3\r\n:1\r\n*2\r\n$1\r\na\r\n$-1\r\n-ERR x\r\n",
			[]any{int64(1), []any{"a", nil}, &ServerError{Msg: "ERR x"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReader(strings.NewReader(tc.in + "+next\r\n"))
			got, err := readReply(r)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			next, err := readReply(r)
			require.NoError(t, err)
			require.Equal(t, "next", next, "the whole reply was consumed")
		})
	}
}

func TestReadReplyErrors(t *testing.T) {
	for _, in := range []string{
		"OK\r\n",             // no type byte
		"+OK\n",              // LF only
		":12a\r\n",           // bad integer
		"$-2\r\n",            // bad length
		"$3\r\nabcd\r\n",     // bulk too long
		"*1\r\n",             // truncated array
		"$5\r\nab",           // truncated bulk
		"%1\r\n+a\r\n+b\r\n", // RESP3 map
		"\r\n",               // empty line
	} {
		_, err := readReply(bufio.NewReader(strings.NewReader(in)))
		require.Error(t, err, "%q", in)
		require.False(t, errors.Is(err, io.EOF), "%q: a truncated reply is not a clean EOF", in)
	}
	_, err := readReply(bufio.NewReader(strings.NewReader("")))
	require.ErrorIs(t, err, io.EOF)
	_, err = readReply(bufio.NewReader(strings.NewReader(strings.Repeat("*1\r\n", maxDepth+2) + ":1\r\n")))
	require.ErrorIs(t, err, errProtocol)
}

func TestAppendCommand(t *testing.T) {
	require.Equal(t, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n", string(appendCommand(nil, []string{"SET", "k", ""})))
}

func TestCommandName(t *testing.T) {
	require.Equal(t, "GET", commandName([]string{"get", "k"}))
	require.Equal(t, "CLUSTER SETSLOT", commandName([]string{"cluster", "setslot", "1", "NODE", "x"}))
	require.Equal(t, "AUTH", commandName([]string{"AUTH", "secret"}), "arguments are never shown")
}

func TestServerErrorPrefix(t *testing.T) {
	require.Equal(t, "ASK", (&ServerError{Msg: "ASK 1 127.0.0.1:1"}).Prefix())
	require.Equal(t, "ERR", (&ServerError{Msg: "ERR"}).Prefix())
}

func TestQuoteConfig(t *testing.T) {
	require.Equal(t, `"a b\"c\\d\x0a"`, quoteConfig("a b\"c\\d\n"))
}

func TestParseSlots(t *testing.T) {
	v := []any{
		[]any{int64(5461), int64(16383), []any{"127.0.0.1", int64(2), "m2", []any{}}},
		[]any{int64(0), int64(5460), []any{"127.0.0.1", int64(1), "m1"}, []any{"h", int64(3), "r2"}, []any{"h", int64(4), "r1"}},
	}
	top, err := parseSlots(v)
	require.NoError(t, err)
	require.Equal(t, NumSlots, top.covered())
	require.Equal(t, "m1", top.owner(0))
	require.Equal(t, "m1", top.owner(5460))
	require.Equal(t, "m2", top.owner(5461))
	require.Equal(t, []string{"r1", "r2"}, top[0].replicas)
	require.True(t, top.listed("r2"))
	require.False(t, top.listed("x"))
	_, err = parseSlots([]any{[]any{int64(1), int64(0), []any{"h", int64(1), "x"}}})
	require.Error(t, err)
}

// A failover's wait sees the slots of the old master taken over even when one of them was migrated
// to a third master meanwhile (the wait compared them all with the successor's before, and never
// ended), and not while any is still the old master's.
func TestTakenOverAllowsSlotsMigratedElsewhere(t *testing.T) {
	old := []slotRange{{start: 0, end: 99, master: "m1"}}
	top := topology{
		{start: 0, end: 9, master: "r1"},
		{start: 10, end: 10, master: "m2"}, // migrated away from m1 while r1 took over
		{start: 11, end: 99, master: "r1"},
		{start: 100, end: NumSlots - 1, master: "m2"},
	}
	id, err := top.takenOver("m1", old)
	require.NoError(t, err)
	require.Equal(t, "r1", id, "the successor owns the most of the old master's slots")

	// m1 had slots 0 and 1, and r1 as its replica: r1 took slot 0, slot 1 went to a2 (a tie, and a2
	// sorts first), which also has others.
	twoSlots := []slotRange{{start: 0, end: 1, master: "m1", replicas: []string{"r1"}}}
	tie := topology{{start: 0, end: 0, master: "r1"}, {start: 1, end: NumSlots - 1, master: "a2"}}
	id, err = tie.takenOver("m1", twoSlots)
	require.NoError(t, err)
	require.Equal(t, "r1", id, "the old master's replica is its successor")

	top[1].master = "m1"
	_, err = top.takenOver("m1", old)
	require.ErrorContains(t, err, "slot 10 still belongs to m1")

	_, err = topology{{start: 1, end: 99, master: "r1"}}.takenOver("m1", old)
	require.ErrorContains(t, err, "slot 0 belongs to no one")
}
