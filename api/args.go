package api

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"

	"github.com/actoredis/actoredis/resp"
)

// inlineArgs is how many arguments a Future stores without allocating.
const inlineArgs = 4

// argSlot holds one argument's value inside a Future, so the request can refer to it through a
// pointer (*string, *[]byte, *int64) instead of the caller's interface value: the caller's
// arguments then never escape, and Cmd("GET", key) costs no allocation of its own.
type argSlot struct {
	s string
	b []byte
	n int64
}

// bind copies the command's arguments into the future and returns the argument list the request
// carries. It never stores an interface value it was given (that would make every caller's
// argument escape to the heap); it re-points at its own copies.
func (f *Future) bind(args []any) ([]any, error) {
	if len(args) > inlineArgs {
		return bindOwn(args)
	}
	return bindTo(args, f.slots[:], f.argv[:])
}

// bindOwn is bind into memory of its own, for arguments no Future holds (a transaction's, a
// watched connection's).
func bindOwn(args []any) ([]any, error) {
	return bindTo(args, make([]argSlot, len(args)), make([]any, len(args)))
}

// bindTo is bind into slots and argv, each at least len(args) long.
func bindTo(args []any, slots []argSlot, argv []any) ([]any, error) {
	argv = argv[:len(args)]
	for i, a := range args {
		s := &slots[i]
		switch v := a.(type) {
		case string:
			s.s = v
			argv[i] = &s.s
		case []byte:
			s.b = v
			argv[i] = &s.b
		case int:
			s.n = int64(v)
			argv[i] = &s.n
		case int64:
			s.n = v
			argv[i] = &s.n
		case int32:
			s.n = int64(v)
			argv[i] = &s.n
		case int16:
			s.n = int64(v)
			argv[i] = &s.n
		case int8:
			s.n = int64(v)
			argv[i] = &s.n
		case uint64:
			s.s = strconv.FormatUint(v, 10)
			argv[i] = &s.s
		case uint:
			s.s = strconv.FormatUint(uint64(v), 10)
			argv[i] = &s.s
		case uint32:
			s.n = int64(v)
			argv[i] = &s.n
		case uint16:
			s.n = int64(v)
			argv[i] = &s.n
		case uint8:
			s.n = int64(v)
			argv[i] = &s.n
		case float64:
			s.s = string(resp.AppendFloatText(nil, v))
			argv[i] = &s.s
		case float32:
			// Its shortest decimal, not float64(v)'s: float32(0.1) is 0.1, not 0.10000000149011612.
			f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(v), 'g', -1, 32), 64)
			s.s = string(resp.AppendFloatText(nil, f))
			argv[i] = &s.s
		case bool:
			s.s = "0"
			if v {
				s.s = "1"
			}
			argv[i] = &s.s
		default:
			if name, ok := args[0].(string); ok && i > 0 {
				return nil, fmt.Errorf("actoredis: %s: argument %d: %w", name, i, unsupported(a))
			}
			return nil, fmt.Errorf("actoredis: argument %d: %w", i, unsupported(a))
		}
	}
	return argv, nil
}

// checkArg returns nil for an argument of a type Cmd takes, or an error naming its type.
func checkArg(a any) error {
	var slots [1]argSlot
	var argv [1]any
	if _, err := bindTo([]any{a}, slots[:], argv[:]); err != nil {
		return unsupported(a)
	}
	return nil
}

// unsupported says a's type is not one Cmd takes. It names the type with reflect, not fmt's %T,
// under which a would escape: so would every argument bindTo takes, and each would cost an
// allocation on the way in.
func unsupported(a any) error {
	if a == nil {
		return errors.New("unsupported type <nil>")
	}
	return fmt.Errorf("unsupported type %s", reflect.TypeOf(a))
}
