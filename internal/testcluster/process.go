package testcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrRedisNotFound is wrapped by the error Start and StartStandalone return when no redis-server binary
// can be found.
var ErrRedisNotFound = errors.New("redis-server not found (set $REDIS_SERVER or run scripts/install-redis.sh)")

// binaryVersions caches the checked version of each binary path. Guarded by binaryMu.
var (
	binaryMu       sync.Mutex
	binaryVersions = map[string]string{}
)

var versionRE = regexp.MustCompile(`v=(\d+)\.(\d+)\.(\d+)`)

// findServer returns the redis-server to run: $REDIS_SERVER when set, else redis-server on PATH. It
// checks once per path that the binary runs and is Redis 7.0 or newer.
func findServer() (string, error) {
	path := os.Getenv("REDIS_SERVER")
	if path != "" {
		st, err := os.Stat(path)
		if err != nil {
			return "", fmt.Errorf("testcluster: %w: $REDIS_SERVER=%q: %v", ErrRedisNotFound, path, err)
		}
		if st.IsDir() || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("testcluster: %w: $REDIS_SERVER=%q is not an executable file", ErrRedisNotFound, path)
		}
	} else {
		var err error
		if path, err = exec.LookPath("redis-server"); err != nil {
			return "", fmt.Errorf("testcluster: %w: %v", ErrRedisNotFound, err)
		}
	}

	binaryMu.Lock()
	defer binaryMu.Unlock()
	if _, ok := binaryVersions[path]; ok {
		return path, nil
	}
	out, err := exec.Command(path, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("testcluster: %s --version: %w: %s", path, err, bytes.TrimSpace(out))
	}
	m := versionRE.FindStringSubmatch(string(out))
	if m == nil {
		return "", fmt.Errorf("testcluster: %s --version printed no version: %s", path, bytes.TrimSpace(out))
	}
	if major, _ := strconv.Atoi(m[1]); major < 7 {
		return "", fmt.Errorf("testcluster: %s is Redis %s.%s.%s; Redis 7.0 or newer is needed "+
			"(set $REDIS_SERVER or run scripts/install-redis.sh)", path, m[1], m[2], m[3])
	}
	binaryVersions[path] = m[0]
	return path, nil
}

// process is one run of redis-server. A goroutine waits for it and closes done when it has exited and
// been reaped; every process must therefore be waited for (wait or kill) before the harness returns.
type process struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{}
	err  error // the result of cmd.Wait; read only after done is closed
}

// spawn starts bin with the config file in dir, its stdout and stderr appended to dir/stdout.log.
func spawn(bin, dir, configPath string) (*process, error) {
	out, err := os.OpenFile(filepath.Join(dir, outFileName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("testcluster: %w", err)
	}
	defer out.Close() // the child has its own descriptor
	cmd := exec.Command(bin, configPath)
	cmd.Dir = dir
	cmd.Stdout = out // an *os.File: no copying goroutine
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testcluster: start %s: %w", bin, err)
	}
	p := &process{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has exited and been reaped.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL (to this process only, through its handle, never by name) and waits until it has
// been reaped.
func (p *process) kill() {
	if !p.exited() {
		_ = p.cmd.Process.Kill() // fails only when it has exited already
	}
	<-p.done
}

// waitExit waits up to timeout for the process to exit; it reports whether it did.
func (p *process) waitExit(timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// logOffsets records the sizes of a node's log files, so that a failed start reports only its own lines.
type logOffsets struct{ log, out int64 }

func currentLogOffsets(dir string) logOffsets {
	size := func(name string) int64 {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return 0
		}
		return st.Size()
	}
	return logOffsets{log: size(logFileName), out: size(outFileName)}
}

// logsSince returns what was written to redis.log and stdout.log since off (at most 64 KiB of each).
func logsSince(dir string, off logOffsets) string {
	read := func(name string, from int64) string {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return ""
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Size()-from > 64<<10 {
			from = st.Size() - 64<<10
		}
		if _, err := f.Seek(from, io.SeekStart); err != nil {
			return ""
		}
		b, _ := io.ReadAll(f)
		return string(b)
	}
	return read(outFileName, off.out) + read(logFileName, off.log)
}

// tailLines returns the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// addrInUse reports whether a server log says that a port was taken.
func addrInUse(log string) bool {
	return strings.Contains(log, "Address already in use")
}

// sleepCtx waits for d or until ctx is done; it reports whether the full duration elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
