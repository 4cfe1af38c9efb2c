package testcluster

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// ownerFile, in each directory a cluster makes, holds the process id of the test binary that made
// it. A binary that dies before Stop (a go test timeout, a signal) leaves its directory behind; the
// next binary to start a server removes the directories whose owner is gone.
const ownerFile = "owner.pid"

var sweepOnce sync.Once

// makeDir makes a temporary directory with dirPrefix and records this process as its owner, after
// removing (once per process) those that dead processes left.
func makeDir(dirPrefix string) (string, error) {
	sweepOnce.Do(sweepLeftovers)
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// sweepLeftovers removes the testcluster directories whose owner process no longer runs. A directory
// without an owner file (another binary making it this instant, or one older than the file) is left.
func sweepLeftovers() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), "testcluster-*"))
	for _, dir := range matches {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if processGone(pid) {
			_ = os.RemoveAll(dir)
		}
	}
}
