//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is one running server process, with its output in a log file.
type server struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{} // closed when the process has ended
	err     error         // how it ended, once exited is closed
}

// startServer starts bin with args, its output to logPath. The process is
// killed if the benchmark dies without stopping it.
func startServer(name, logPath, bin string, args ...string) (*server, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s := &server{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	return s, nil
}

// stop ends the server with SIGTERM, then SIGKILL if it has not exited
// within a minute. A server that never started is stopped.
func (s *server) stop() error {
	if s == nil {
		return nil
	}
	select {
	case <-s.exited:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(time.Minute):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("%s did not stop within a minute of SIGTERM and was killed", s.name)
	}
}

// failure describes a server that is not doing what was awaited: how it
// ended if it has, and the end of its log.
func (s *server) failure(what error) error {
	state := "still running"
	select {
	case <-s.exited:
		state = fmt.Sprintf("exited: %v", s.err)
	default:
	}
	return fmt.Errorf("%s (%s): %w; the end of its log %s:\n%s", s.name, state, what, s.logPath, tail(s.logPath, 10))
}

// waitFor calls ready every 100 ms until it answers nil, the server exits,
// or timeout passes.
func (s *server) waitFor(ctx context.Context, timeout time.Duration, what string, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = ready(ctx); last == nil {
			return nil
		}
		select {
		case <-s.exited:
			return s.failure(fmt.Errorf("exited while waiting for %s", what))
		case <-ctx.Done():
			return s.failure(fmt.Errorf("not %s within %v: %v", what, timeout, last))
		case <-tick.C:
		}
	}
}

// peakRSS is the server's peak resident set size (VmHWM), in bytes.
func (s *server) peakRSS() (int64, error) {
	return procStatusBytesFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid), "VmHWM:")
}

// procStatusBytesFile reads a "Field:  N kB" line of a /proc file, in bytes.
func procStatusBytesFile(path, field string) (int64, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(buf))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), field)
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read %s of %s: %w", field, path, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("%s has no %s", path, field)
}

// freeAddr is a 127.0.0.1 address with a port free at the time of asking.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// diskUsage is the bytes the files under dir occupy on disk.
func diskUsage(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed by a merge meanwhile
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		}
		return nil
	})
	return total, err
}

// tail is the last n lines of the file at path, each cut at 300 bytes.
func tail(path string, n int) string {
	buf, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(buf), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 300 {
			lines[i] = l[:300] + "…"
		}
	}
	return strings.Join(lines, "\n")
}
