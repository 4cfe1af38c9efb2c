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

// text stores v in s and returns the pointer the request carries.
func (s *argSlot) text(v string) *string {
	s.s = v
	return &s.s
}

// int stores n in s and returns the pointer the request carries.
func (s *argSlot) int(n int64) *int64 {
	s.n = n
	return &s.n
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
			argv[i] = s.text(v)
		case []byte:
			s.b = v
			argv[i] = &s.b
		case int:
			argv[i] = s.int(int64(v))
		case int64:
			argv[i] = s.int(v)
		case int32:
			argv[i] = s.int(int64(v))
		case int16:
			argv[i] = s.int(int64(v))
		case int8:
			argv[i] = s.int(int64(v))
		case uint64:
			argv[i] = s.text(strconv.FormatUint(v, 10))
		case uint:
			argv[i] = s.text(strconv.FormatUint(uint64(v), 10))
		case uint32:
			argv[i] = s.int(int64(v))
		case uint16:
			argv[i] = s.int(int64(v))
		case uint8:
			argv[i] = s.int(int64(v))
		case float64:
			argv[i] = s.text(string(resp.AppendFloatText(nil, v)))
		case float32:
			// Its shortest decimal, not float64(v)'s: float32(0.1) is 0.1, not 0.10000000149011612.
			f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(v), 'g', -1, 32), 64)
			argv[i] = s.text(string(resp.AppendFloatText(nil, f)))
		case bool:
			bit := "0"
			if v {
				bit = "1"
			}
			argv[i] = s.text(bit)
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
