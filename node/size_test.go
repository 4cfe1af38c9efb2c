package node

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// A Request fits the allocation size class of 448 bytes, as it did before the hooks' fields
// (the next class is 480: BenchmarkRoundTrip, which allocates one per op, was 3-5% slower at 64
// callers there).
func TestRequestSizeClass(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(Request{}), uintptr(448))
}
