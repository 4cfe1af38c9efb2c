package api

import (
	"github.com/actoredis/actoredis/slotmap"
)

// Command is one Redis command and its arguments. Build it with Cmd. A Command is a value: it may
// be reused and shared, but its arguments must not be changed while a command built from them runs.
type Command struct {
	args       []any
	idempotent bool
}

// Cmd builds a command from its name and arguments. Arguments may be string, []byte, any integer
// type (int, int8 ... int64, uint, uint8 ... uint64), float64, float32 or bool (sent as 1 or 0);
// anything else (a named type, time.Duration, a slice of strings, nil) fails the command when it
// is sent, with an error naming the argument and its type.
func Cmd(args ...any) Command { return Command{args: args} }

// Idempotent marks the command safe to run twice: when its connection fails after it was written,
// it is retried on the node that serves its slot instead of failing. Read-only commands are
// retried anyway.
func (c Command) Idempotent() Command {
	c.idempotent = true
	return c
}

// Args returns the command's name and arguments.
func (c Command) Args() []any { return c.args }

// GetSlot returns the hash slot of key: CRC16 of the key, or of its {hash tag}, modulo 16384.
func GetSlot(key string) int { return slotmap.Slot(key) }
