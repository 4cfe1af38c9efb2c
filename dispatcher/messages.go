package dispatcher

// The dispatcher's messages:
//
//   - *Request: route a command (from the api package).
//   - *slotmap.Snapshot: the newest topology (from the slot map).
//   - *slotmap.Reroute: a request back from the slot map after a MOVED or ASK to a new node.
//   - *returned: a request a node gave back with a redirect, retryable error or connection failure.
//   - *retryNow: the end of a retry's backoff.
//   - *gateOpen: a gate's barrier completed, or its time ran out.
//   - *probeDone: the answer to a retry queue's probe.

// returned carries a request its node gave back, with the reason (sent by Request.Return).
type returned struct {
	req *Request
	err error
}

// retryNow ends the backoff of a queue of retries (or a member's deadline has come).
type retryNow struct{ q *retryQueue }

// Fail fails the carried request when the message cannot be delivered (the dispatcher stopped):
// the message is then the request's only holder. It bypasses the Owner, which would send the
// request back to the stopped dispatcher.
func (m *returned) Fail(err error) { m.req.fail(err) }

// Fail: see returned.Fail; it fails every request of the queue.
func (m *retryNow) Fail(err error) {
	for _, r := range m.q.members() {
		r.fail(err)
	}
}

// lent is a request routed on its sender's goroutine (Options.Lend), which then sends it to the
// node the route picked (Request.handOff).
type lent struct{ r *Request }

func (l lent) Fail(err error) { l.r.fail(err) }
