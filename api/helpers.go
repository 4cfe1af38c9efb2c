package api

import (
	"context"
	"fmt"
	"time"

	"github.com/actoredis/actoredis/resp"
)

// Typed helpers for the everyday commands. Each sends one command with Do and converts the reply;
// a null reply (a missing key) is the error Nil. For anything else, use Do with Cmd.

func (c *Cluster) str(ctx context.Context, args ...any) (string, error) {
	v, err := c.Do(ctx, Cmd(args...))
	if err != nil {
		return "", err
	}
	if v.IsNull() {
		return "", Nil
	}
	return v.String(), nil
}

func (c *Cluster) integer(ctx context.Context, args ...any) (int64, error) {
	v, err := c.Do(ctx, Cmd(args...))
	if err != nil {
		return 0, err
	}
	if v.IsNull() {
		return 0, Nil
	}
	return v.Int64()
}

func (c *Cluster) float(ctx context.Context, args ...any) (float64, error) {
	v, err := c.Do(ctx, Cmd(args...))
	if err != nil {
		return 0, err
	}
	if v.IsNull() {
		return 0, Nil
	}
	return v.Float64()
}

func (c *Cluster) boolean(ctx context.Context, args ...any) (bool, error) {
	v, err := c.Do(ctx, Cmd(args...))
	if err != nil {
		return false, err
	}
	return v.Bool()
}

func (c *Cluster) strings(ctx context.Context, args ...any) ([]string, error) {
	v, err := c.Do(ctx, Cmd(args...))
	if err != nil {
		return nil, err
	}
	if v.IsNull() {
		return nil, Nil
	}
	if !v.Kind().IsAggregate() {
		return nil, fmt.Errorf("%w: %s reply is %s, not a list", resp.ErrUnexpectedType, args[0], v.Kind())
	}
	out := make([]string, v.Len())
	for i := range out {
		out[i] = v.Index(i).String()
	}
	return out, nil
}

// Strings.

// SetOption modifies a SET: see EX, PX, NX, XX, KeepTTL. Those are the ones Set handles; one of
// your own that adds GET would make Set misread the reply (use Do with SET ... GET for the old
// value).
type SetOption func(*[]any)

// EX sets an expiry. Redis counts it in seconds: a d that is not a whole number of seconds is sent
// as PX instead, in milliseconds rounded up, so that no expiry is cut short (500 ms is not 0 s).
func EX(d time.Duration) SetOption {
	if d%time.Second != 0 {
		return PX(d)
	}
	return func(a *[]any) { *a = append(*a, "EX", int64(d/time.Second)) }
}

// PX sets an expiry in milliseconds, rounded up.
func PX(d time.Duration) SetOption {
	return func(a *[]any) { *a = append(*a, "PX", ceilMillis(d)) }
}

// ceilMillis is d in milliseconds, rounded up for a positive d.
func ceilMillis(d time.Duration) int64 {
	ms := int64(d / time.Millisecond)
	if d > 0 && d%time.Millisecond != 0 {
		ms++
	}
	return ms
}

// NX sets the key only if it does not exist; when it exists Set returns Nil.
func NX() SetOption { return func(a *[]any) { *a = append(*a, "NX") } }

// XX sets the key only if it exists; when it does not Set returns Nil.
func XX() SetOption { return func(a *[]any) { *a = append(*a, "XX") } }

// KeepTTL keeps the key's existing expiry.
func KeepTTL() SetOption { return func(a *[]any) { *a = append(*a, "KEEPTTL") } }

// Get returns the value of key, or Nil when it does not exist.
func (c *Cluster) Get(ctx context.Context, key string) (string, error) { return c.str(ctx, "GET", key) }

// Set sets key to value. With NX or XX, a set that did not happen returns Nil.
func (c *Cluster) Set(ctx context.Context, key string, value any, opts ...SetOption) error {
	args := []any{"SET", key, value}
	for _, o := range opts {
		o(&args)
	}
	_, err := c.str(ctx, args...)
	return err
}

// Incr increments the integer at key by one and returns the new value.
func (c *Cluster) Incr(ctx context.Context, key string) (int64, error) {
	return c.integer(ctx, "INCR", key)
}

// IncrBy increments the integer at key by n and returns the new value.
func (c *Cluster) IncrBy(ctx context.Context, key string, n int64) (int64, error) {
	return c.integer(ctx, "INCRBY", key, n)
}

// Append appends value to the string at key and returns its new length.
func (c *Cluster) Append(ctx context.Context, key, value string) (int64, error) {
	return c.integer(ctx, "APPEND", key, value)
}

// GetDel returns the value of key and deletes it, or Nil.
func (c *Cluster) GetDel(ctx context.Context, key string) (string, error) {
	return c.str(ctx, "GETDEL", key)
}

// Keys.

// Del, Unlink, Exists, MGet and MSet take keys in any slots: see helpers_slots.go.

// Expire sets a timeout on key; false when the key does not exist. A d that is not a whole number
// of seconds is sent as PEXPIRE, in milliseconds rounded up (EXPIRE 0 would delete the key). As
// in Redis, a d of 0 or less deletes it.
func (c *Cluster) Expire(ctx context.Context, key string, d time.Duration) (bool, error) {
	if d > 0 && d%time.Second != 0 {
		return c.boolean(ctx, "PEXPIRE", key, ceilMillis(d))
	}
	return c.boolean(ctx, "EXPIRE", key, int64(d/time.Second))
}

// TTL returns the remaining time to live of key: -1 s when it has none, -2 s when it does not exist.
func (c *Cluster) TTL(ctx context.Context, key string) (time.Duration, error) {
	n, err := c.integer(ctx, "TTL", key)
	return time.Duration(n) * time.Second, err
}

// Type returns the type of the value at key ("string", "list"...; "none" when it does not exist).
func (c *Cluster) Type(ctx context.Context, key string) (string, error) {
	return c.str(ctx, "TYPE", key)
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
