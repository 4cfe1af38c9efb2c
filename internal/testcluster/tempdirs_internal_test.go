package testcluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The directories of a dead test binary are removed; those of live processes, and those with no
// owner file, are kept.
func TestLeftoverDirectoriesOfDeadProcessesAreRemoved(t *testing.T) {
	usePool(t) // no start in the background makes a directory meanwhile
	t.Setenv("TMPDIR", t.TempDir())
	dead := exec.Command("true")
	require.NoError(t, dead.Run()) // its process id now names no process
	dir := func(name, owner string) string {
		d := filepath.Join(os.TempDir(), name)
		require.NoError(t, os.Mkdir(d, 0o700))
		if owner != "" {
			require.NoError(t, os.WriteFile(filepath.Join(d, ownerFile), []byte(owner), 0o600))
		}
		return d
	}
	gone := dir("testcluster-1", strconv.Itoa(dead.Process.Pid))
	mine := dir("testcluster-2", strconv.Itoa(os.Getpid()))
	initPID := dir("testcluster-standalone-3", "1")
	unowned := dir("testcluster-4", "")
	other := dir("something-else", strconv.Itoa(dead.Process.Pid))

	sweepLeftovers()
	assert.NoDirExists(t, gone)
	for _, d := range []string{mine, initPID, unowned, other} {
		assert.DirExists(t, d)
	}

	made, err := makeDir("testcluster-")
	require.NoError(t, err)
	owner, err := os.ReadFile(filepath.Join(made, ownerFile))
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(os.Getpid()), string(owner))
}
