package otelhooks

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/actoredis/actoredis/internal/testcluster"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(testcluster.Main(m)) }
