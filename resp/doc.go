// Package resp is the RESP2/RESP3 wire codec of actoredis: it encodes commands and decodes replies.
//
// It depends on the standard library only and starts no goroutines.
//
// Encoding: AppendCommand and the Append* functions add a command (an array of bulk strings) to a
// caller-owned buffer; with a reused buffer they allocate nothing. AppendValue encodes any Value,
// which test servers use to write replies.
//
// Decoding: a Reader parses one reply per Read from a buffered stream. Every RESP3 type is
// understood (simple string, simple error, integer, bulk string, array, null, boolean, double, big
// number, bulk error, verbatim string, map, set, attribute, push) as well as RESP2's null bulk
// string and null array. The Value a Read returns borrows the Reader's memory: its bytes and
// elements are valid until the next call of Read on that Reader. Call Value.Clone to keep a value
// longer or hand it to another goroutine.
//
// A Reader guards itself against a broken or hostile server with Limits: the longest bulk string,
// the largest aggregate, the deepest nesting and the longest line. A violation is a *ProtocolError;
// memory is never reserved for a length header before the bytes it announces have arrived, so a
// server cannot make the Reader allocate more than about twice what it actually sent.
//
// Server errors are *Error values with a Prefix (MOVED, ASK, WRONGTYPE...) and an Is method that
// matches on the prefix, so errors.Is(err, resp.ErrMoved) holds for any MOVED reply.
package resp
