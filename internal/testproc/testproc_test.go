package testproc

import (
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestAChildOutlivesTheThreadOfItsCaller starts a child from a goroutine
// locked to a thread of its own, which then returns and so ends the
// thread: the child must not get its parent-death signal, which Linux
// sends when the thread that started it ends.
func TestAChildOutlivesTheThreadOfItsCaller(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	var (
		exited <-chan struct{}
		err    error
	)
	onAThreadThatEnds(func() { exited, err = Start(cmd, syscall.SIGKILL) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	// The signal would end the child at once; a second leaves the runtime
	// ample time to end the caller's thread.
	select {
	case <-exited:
		t.Fatalf("the child ended when its caller's thread did: %v", cmd.ProcessState)
	case <-time.After(time.Second):
	}
}

// onAThreadThatEnds runs f on a goroutine locked to its thread, which the
// runtime ends when the goroutine returns after f. Not on the process's
// main thread, which the runtime never ends: a goroutine that lands there
// keeps it (so that the next runs elsewhere) until f has run.
func onAThreadThatEnds(f func()) {
	release := make(chan struct{})
	defer close(release)
	for {
		ran := make(chan bool)
		go func() {
			runtime.LockOSThread()
			if syscall.Gettid() == syscall.Getpid() {
				ran <- false
				<-release
				runtime.UnlockOSThread()
				return
			}
			f()
			ran <- true
		}()
		if <-ran {
			return
		}
	}
}
