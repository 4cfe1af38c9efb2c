package slotmap

import (
	"bytes"
	"crypto/tls"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/resp"
)

// refSlot is a deliberately naive reference: bit-by-bit CRC16/XMODEM and the hash tag rule spelled
// out with strings.Index.
func refSlot(key string) int {
	if open := strings.Index(key, "{"); open >= 0 {
		if n := strings.Index(key[open+1:], "}"); n > 0 {
			key = key[open+1 : open+1+n]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc % NumSlots)
}

func TestCRC16Table(t *testing.T) {
	for i := range 256 {
		// The CRC of the single byte i (no tag) is the table entry itself.
		require.Equal(t, int(crc16Table[i])%NumSlots, refSlot(string([]byte{byte(i)})), "entry %d", i)
	}
	// The check value of CRC16/XMODEM, quoted by the cluster specification: 0x31C3.
	assert.Equal(t, 0x31C3%NumSlots, Slot("123456789"))
}

func TestSlotVectors(t *testing.T) {
	cases := []struct{ key, hashed string }{
		{"", ""},
		{"123456789", "123456789"},
		{"foo", "foo"},
		{"bar", "bar"},
		{"{user1000}.following", "user1000"},
		{"{user1000}.followers", "user1000"},
		{"foo{}{bar}", "foo{}{bar}"}, // empty first tag: the whole key
		{"foo{{bar}}zap", "{bar"},    // from the first '{' to the first '}' after it
		{"foo{bar}{zap}", "bar"},     // only the first tag
		{"{}", "{}"},                 // empty tag
		{"}{", "}{"},                 // '}' before '{' is no tag
		{"foo{bar", "foo{bar"},       // no closing brace
		{"a}b{c}d", "c"},             // a '}' before the '{' does not count
		{"{\x00}", "\x00"},           // binary tag
		{"x{y}", "y"},                // tag at the end
		{"{{}}", "{"},                // the tag is "{"
		{"{}}", "{}}"},               // the first '}' closes an empty tag
		{"ab{cd}ef{gh}", "cd"},       // first tag wins
		{"\xff\xfe{\xfd}", "\xfd"},   // high bytes
		{strings.Repeat("k", 100), strings.Repeat("k", 100)},
	}
	for _, c := range cases {
		want := refSlot(c.hashed)
		assert.Equal(t, want, Slot(c.key), "Slot(%q)", c.key)
		assert.Equal(t, want, SlotBytes([]byte(c.key)), "SlotBytes(%q)", c.key)
	}
	// Figures from the cluster specification and from CLUSTER KEYSLOT.
	assert.Equal(t, 12739, Slot("123456789"))
	assert.Equal(t, 12182, Slot("foo"))
	assert.Equal(t, 5061, Slot("bar"))
	assert.Equal(t, 0, Slot(""))
	assert.Equal(t, Slot("user1000"), Slot("{user1000}.following"))
	assert.Equal(t, Slot("user1000"), Slot("{user1000}.followers"))
	assert.Equal(t, Slot("bar"), Slot("foo{bar}{zap}"))
	assert.Equal(t, Slot("{bar"), Slot("foo{{bar}}zap"))
	assert.NotEqual(t, Slot("bar"), Slot("foo{}{bar}"))
}

// randomKeys returns n keys: random bytes of random length 0..40, keys drawn from an alphabet rich in
// braces (to hit the tag edge cases), and keys built around a {tag}.
func randomKeys(rng *rand.Rand, n int) []string {
	randBytes := func(alphabet string, max int) string {
		b := make([]byte, rng.IntN(max+1))
		for i := range b {
			if alphabet == "" {
				b[i] = byte(rng.UintN(256))
			} else {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
		}
		return string(b)
	}
	keys := make([]string, n)
	for i := range keys {
		switch i % 3 {
		case 0:
			keys[i] = randBytes("", 40)
		case 1:
			keys[i] = randBytes("{}{}ab\x00\xff", 40)
		default:
			keys[i] = randBytes("", 8) + "{" + randBytes("abcdefgh{}", 10) + "}" + randBytes("", 8)
		}
	}
	return keys
}

func TestSlotBytesMatchesSlot(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	for _, key := range randomKeys(rand.New(rand.NewPCG(seed, 1)), 20000) {
		want := refSlot(key)
		require.Equal(t, want, Slot(key), "Slot(%q)", key)
		require.Equal(t, want, SlotBytes([]byte(key)), "SlotBytes(%q)", key)
	}
}

func FuzzSlot(f *testing.F) {
	for _, s := range []string{"", "foo", "{a}b", "foo{}{bar}", "foo{{bar}}zap", "}{", "{"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		want := refSlot(key)
		if got := Slot(key); got != want {
			t.Fatalf("Slot(%q) = %d, want %d", key, got, want)
		}
		if got := SlotBytes([]byte(key)); got != want {
			t.Fatalf("SlotBytes(%q) = %d, want %d", key, got, want)
		}
	})
}

func TestSlotDoesNotAllocate(t *testing.T) {
	key := "{user1000}.following:and-some-more"
	keyBytes := []byte("plain-key-without-a-tag")
	sink := 0
	assert.Zero(t, testing.AllocsPerRun(100, func() { sink += Slot(key) }))
	assert.Zero(t, testing.AllocsPerRun(100, func() { sink += SlotBytes(keyBytes) }))
	_ = sink
}

var benchSink int

func BenchmarkSlot(b *testing.B) {
	key := "user:0123456789a" // 16 bytes, no tag
	b.ReportAllocs()
	b.SetBytes(int64(len(key)))
	for b.Loop() {
		benchSink += Slot(key)
	}
}

func BenchmarkSlotBytes(b *testing.B) {
	key := []byte("{user:01234}5678") // 16 bytes, 10 of them hashed
	b.ReportAllocs()
	b.SetBytes(int64(len(key)))
	for b.Loop() {
		benchSink += SlotBytes(key)
	}
}

// rawConn is a bare RESP connection to one server, for sending commands byte for byte as a client
// would (RESP2, or RESP3 after HELLO 3).
type rawConn struct {
	t    *testing.T
	conn net.Conn
	r    *resp.Reader
}

func dialRaw(t *testing.T, addr string, tlsConf *tls.Config, resp3 bool) *rawConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	require.NoError(t, err)
	if tlsConf != nil {
		conn = tls.Client(conn, tlsConf)
	}
	t.Cleanup(func() { _ = conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(60*time.Second)))
	c := &rawConn{t: t, conn: conn, r: resp.NewReader(conn, resp.Limits{})}
	if resp3 {
		hello := c.do("HELLO", "3")
		require.Equal(t, resp.KindMap, hello.Kind(), "HELLO 3: %s", hello)
	}
	return c
}

// do sends one command and returns its reply, cloned so that it outlives the next read.
func (c *rawConn) do(args ...string) resp.Value {
	c.t.Helper()
	_, err := c.conn.Write(resp.AppendStrings(nil, args...))
	require.NoError(c.t, err)
	v, err := c.r.Read()
	require.NoError(c.t, err)
	return v.Clone()
}

// checkKeySlots compares Slot and SlotBytes with CLUSTER KEYSLOT for every key, pipelining the
// commands a thousand at a time over one connection. It returns how many keys it compared.
func checkKeySlots(t *testing.T, c *rawConn, keys []string) int {
	const batch = 1000
	var buf []byte
	compared := 0
	for len(keys) > 0 {
		part := keys[:min(batch, len(keys))]
		keys = keys[len(part):]
		buf = buf[:0]
		for _, k := range part {
			buf = resp.AppendStrings(buf, "CLUSTER", "KEYSLOT", k)
		}
		_, err := c.conn.Write(buf)
		require.NoError(t, err)
		for _, k := range part {
			v, err := c.r.Read()
			require.NoError(t, err)
			want, err := v.Int64()
			require.NoError(t, err, "CLUSTER KEYSLOT %q: %s", k, v)
			require.Equal(t, int(want), Slot(k), "Slot(%q)", k)
			require.Equal(t, int(want), SlotBytes([]byte(k)), "SlotBytes(%q)", k)
			compared++
		}
	}
	require.Zero(t, c.r.Buffered())
	return compared
}

func TestRandomKeysAreBinarySafe(t *testing.T) {
	// randomKeys must produce what the KEYSLOT comparison claims: empty keys, long keys, high bytes
	// and tags.
	keys := randomKeys(rand.New(rand.NewPCG(1, 2)), 3000)
	var empty, long, high, tagged bool
	for _, k := range keys {
		empty = empty || k == ""
		long = long || len(k) >= 35
		high = high || bytes.IndexFunc([]byte(k), func(r rune) bool { return r >= 0x80 || r == 0 }) >= 0
		tagged = tagged || Slot(k) != refSlot(strings.ReplaceAll(k, "{", "("))
	}
	assert.True(t, empty && long && high && tagged, "empty %v long %v high %v tagged %v", empty, long, high, tagged)
}
