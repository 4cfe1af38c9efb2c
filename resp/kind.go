package resp

// Kind is the RESP type of a Value.
type Kind uint8

// The kinds of value a Reader produces. RESP2's null bulk string ($-1) and null array (*-1)
// decode as KindNull, like RESP3's null (_).
const (
	KindInvalid      Kind = iota // the zero Value
	KindSimpleString             // +OK
	KindError                    // -ERR message
	KindInteger                  // :42
	KindBulkString               // $5 hello
	KindArray                    // *2 ...
	KindNull                     // _, $-1, *-1
	KindBoolean                  // #t, #f
	KindDouble                   // ,3.14
	KindBigNumber                // (3492890328409238509324850943850943825024385
	KindBulkError                // !21 SYNTAX invalid syntax
	KindVerbatim                 // =15 txt:Some string
	KindMap                      // %2 key value key value
	KindSet                      // ~3 ...
	KindPush                     // >3 message channel payload
)

var kindNames = [...]string{
	KindInvalid:      "invalid",
	KindSimpleString: "simple string",
	KindError:        "error",
	KindInteger:      "integer",
	KindBulkString:   "bulk string",
	KindArray:        "array",
	KindNull:         "null",
	KindBoolean:      "boolean",
	KindDouble:       "double",
	KindBigNumber:    "big number",
	KindBulkError:    "bulk error",
	KindVerbatim:     "verbatim string",
	KindMap:          "map",
	KindSet:          "set",
	KindPush:         "push",
}

// String returns the kind's name as the RESP3 specification writes it.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown kind"
}

// IsAggregate reports whether values of this kind hold elements (array, map, set, push).
func (k Kind) IsAggregate() bool {
	switch k {
	case KindArray, KindMap, KindSet, KindPush:
		return true
	}
	return false
}

// hasText reports whether values of this kind carry their payload as bytes.
func (k Kind) hasText() bool {
	switch k {
	case KindSimpleString, KindError, KindBulkString, KindBigNumber, KindBulkError, KindVerbatim:
		return true
	}
	return false
}
