package integration

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/api"
	"github.com/actoredis/actoredis/internal/testcluster"
)

// TestContextStorm: 100k commands with random deadlines of 0–5 ms. Survivors read the right value,
// the others fail with their context's error, no goroutine is left behind, and the connections'
// reply order is intact afterwards.
func TestContextStorm(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, api.ClusterOptions{})
	ctx := context.Background()
	const nkeys = 1000
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = "storm:" + strconv.Itoa(i)
		require.NoError(t, cl.Set(ctx, keys[i], keys[i]))
	}
	goroutinesBefore := runtime.NumGoroutine()

	const total, workers = 100_000, 64
	var ok, expired, wrong, other atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; i < total/workers; i++ {
				k := keys[rng.IntN(nkeys)]
				cctx, cancel := context.WithTimeout(ctx, time.Duration(rng.IntN(5001))*time.Microsecond)
				v, err := cl.Do(cctx, api.Cmd("GET", k))
				cancel()
				switch {
				case err == nil && v.String() == k:
					ok.Add(1)
				case err == nil:
					wrong.Add(1)
				case errors.Is(err, context.DeadlineExceeded):
					expired.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("storm: %d answered, %d expired, %d wrong, %d other errors; goroutines %d before, %d after",
		ok.Load(), expired.Load(), wrong.Load(), other.Load(), goroutinesBefore, runtime.NumGoroutine())
	assert.Zero(t, wrong.Load(), "no survivor read another command's reply")
	assert.Zero(t, other.Load())
	assert.Positive(t, ok.Load())
	assert.Positive(t, expired.Load())
	assert.Equal(t, int64(total/workers*workers), ok.Load()+expired.Load())

	// Reply order intact: every key reads its own value, 10k times over.
	for i := 0; i < 10_000; i++ {
		k := keys[i%nkeys]
		v, err := cl.Do(ctx, api.Cmd("GET", k))
		require.NoError(t, err)
		require.Equal(t, k, v.String())
	}
	// Nothing left behind: the storm's goroutines are gone (timers of AfterFunc-based waits
	// included); allow the few the runtime itself may keep.
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= goroutinesBefore+5 },
		5*time.Second, 20*time.Millisecond, "goroutines: %d before, %d now", goroutinesBefore, runtime.NumGoroutine())
}
