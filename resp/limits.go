package resp

// Limits bound what a Reader accepts from a server. The zero value of each field means its default.
type Limits struct {
	// MaxBulkLen is the longest bulk string, bulk error or verbatim string in bytes.
	// Default 512 MiB, Redis's own proto-max-bulk-len.
	MaxBulkLen int64
	// MaxAggregateLen is the most elements of an array, set or push, or entries of a map or
	// attribute. Default 1<<24 (16,777,216).
	MaxAggregateLen int64
	// MaxDepth is the deepest nesting of aggregates: 1 allows an array of strings but not an array
	// of arrays. Default 64; Redis's deepest replies (COMMAND DOCS) nest about 7 levels.
	MaxDepth int
	// MaxLineLen is the longest line (simple string, simple error, number or header) in bytes,
	// counting its type byte but not its CRLF. Default 1 MiB: a script's error_reply or status_reply
	// can be long.
	MaxLineLen int
}

// Default limits.
const (
	DefaultMaxBulkLen      = 512 << 20
	DefaultMaxAggregateLen = 1 << 24
	DefaultMaxDepth        = 64
	DefaultMaxLineLen      = 1 << 20
)

// withDefaults returns l with every zero field set to its default.
func (l Limits) withDefaults() Limits {
	if l.MaxBulkLen <= 0 {
		l.MaxBulkLen = DefaultMaxBulkLen
	}
	if l.MaxAggregateLen <= 0 {
		l.MaxAggregateLen = DefaultMaxAggregateLen
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxLineLen <= 0 {
		l.MaxLineLen = DefaultMaxLineLen
	}
	return l
}
