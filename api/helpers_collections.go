package api

import (
	"context"
)

// Hashes.

// HSet sets fields of the hash at key from field, value pairs; it returns how many were added.
func (c *Cluster) HSet(ctx context.Context, key string, fieldValues ...any) (int64, error) {
	return c.integer(ctx, append([]any{"HSET", key}, fieldValues...)...)
}

// HGet returns a field of the hash at key, or Nil.
func (c *Cluster) HGet(ctx context.Context, key, field string) (string, error) {
	return c.str(ctx, "HGET", key, field)
}

// HGetAll returns every field and value of the hash at key (empty when it does not exist).
func (c *Cluster) HGetAll(ctx context.Context, key string) (map[string]string, error) {
	v, err := c.Do(ctx, Cmd("HGETALL", key))
	if err != nil {
		return nil, err
	}
	m, err := v.Map()
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(m))
	for k, val := range m {
		out[k] = val.String()
	}
	return out, nil
}

// HDel deletes fields of the hash at key and returns how many existed.
func (c *Cluster) HDel(ctx context.Context, key string, fields ...string) (int64, error) {
	return c.integer(ctx, append([]any{"HDEL", key}, toAny(fields)...)...)
}

// HIncrBy increments a field of the hash at key by n and returns its new value.
func (c *Cluster) HIncrBy(ctx context.Context, key, field string, n int64) (int64, error) {
	return c.integer(ctx, "HINCRBY", key, field, n)
}

// Lists.

// LPush prepends values to the list at key and returns its new length.
func (c *Cluster) LPush(ctx context.Context, key string, values ...any) (int64, error) {
	return c.integer(ctx, append([]any{"LPUSH", key}, values...)...)
}

// RPush appends values to the list at key and returns its new length.
func (c *Cluster) RPush(ctx context.Context, key string, values ...any) (int64, error) {
	return c.integer(ctx, append([]any{"RPUSH", key}, values...)...)
}

// LPop removes and returns the first element of the list at key, or Nil.
func (c *Cluster) LPop(ctx context.Context, key string) (string, error) {
	return c.str(ctx, "LPOP", key)
}

// LRange returns the elements start..stop (inclusive; negative counts from the end).
func (c *Cluster) LRange(ctx context.Context, key string, start, stop int64) ([]string, error) {
	return c.strings(ctx, "LRANGE", key, start, stop)
}

// Sets.

// SAdd adds members to the set at key and returns how many were new.
func (c *Cluster) SAdd(ctx context.Context, key string, members ...any) (int64, error) {
	return c.integer(ctx, append([]any{"SADD", key}, members...)...)
}

// SMembers returns the members of the set at key.
func (c *Cluster) SMembers(ctx context.Context, key string) ([]string, error) {
	return c.strings(ctx, "SMEMBERS", key)
}

// SIsMember reports whether member is in the set at key.
func (c *Cluster) SIsMember(ctx context.Context, key string, member any) (bool, error) {
	return c.boolean(ctx, "SISMEMBER", key, member)
}

// Sorted sets.

// Z is a sorted-set member with its score.
type Z struct {
	Score  float64
	Member string
}

// ZAdd adds members with their scores and returns how many were new.
func (c *Cluster) ZAdd(ctx context.Context, key string, members ...Z) (int64, error) {
	args := make([]any, 0, 2+2*len(members))
	args = append(args, "ZADD", key)
	for _, m := range members {
		args = append(args, m.Score, m.Member)
	}
	return c.integer(ctx, args...)
}

// ZRange returns the members ranked start..stop (inclusive), lowest score first.
func (c *Cluster) ZRange(ctx context.Context, key string, start, stop int64) ([]string, error) {
	return c.strings(ctx, "ZRANGE", key, start, stop)
}

// ZScore returns the score of member, or Nil.
func (c *Cluster) ZScore(ctx context.Context, key, member string) (float64, error) {
	return c.float(ctx, "ZSCORE", key, member)
}

// ZIncrBy adds n to the score of member and returns the new score.
func (c *Cluster) ZIncrBy(ctx context.Context, key string, n float64, member string) (float64, error) {
	return c.float(ctx, "ZINCRBY", key, n, member)
}
