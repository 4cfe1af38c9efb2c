package dispatcher

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A slot's queue routes its members in the order the dispatcher first took them, however they came
// to it. A round routed while some of its members were still on their way back goes out ahead of
// them, and those of it that meet ASK (the keys came together meanwhile) come back behind them:
// appended, they went out behind them, and 540 of a pipeline of 1000 commands ran ahead of the 460
// sent before them (CI run 118).
func TestQueueRoutesInTheOrderFirstTaken(t *testing.T) {
	a := &dispatcherActor{}
	q := &retryQueue{}
	req := func(seq uint64) *Request { return &Request{seq: seq} }
	seqsOf := func(rs []*Request) []uint64 {
		out := make([]uint64, len(rs))
		for i, r := range rs {
			out[i] = r.seq
		}
		return out
	}
	for _, s := range []uint64{5, 6, 7} { // the late members of a round, back with TRYAGAIN
		a.join(q, req(s))
	}
	for _, s := range []uint64{1, 2, 3, 4} { // the round routed ahead of them, back with ASK
		a.join(q, req(s))
	}
	q.held = []*Request{req(9), req(10)} // new ones, held while the queue waits
	a.join(q, req(8))                    // one more back, sent before those
	assert.Equal(t, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, seqsOf(q.members()))
	assert.Nil(t, q.held)
}
