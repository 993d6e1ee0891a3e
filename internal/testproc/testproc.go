// Package testproc starts the servers tests run as child processes
// (PostgreSQL, SeaweedFS) so that they die with the test binary, however it
// ends.
package testproc

import (
	"os/exec"
	"runtime"
	"syscall"
)

// Start starts cmd with sig as its parent-death signal and returns a
// channel closed once it has exited (cmd.ProcessState then says how).
//
// Linux sends the parent-death signal when the thread that started the
// child ends, not the process: started from an ordinary goroutine, the
// child would be killed in the middle of a test whenever the runtime ended
// that thread, as it ends the thread of a goroutine that returns while
// locked to it. So the child is started and waited for by a goroutine that
// locks its thread and never unlocks it: the thread lives as long as the
// child, and ends with the goroutine once the child has exited.
func Start(cmd *exec.Cmd, sig syscall.Signal) (<-chan struct{}, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = sig
	exited := make(chan struct{})
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait() // ProcessState tells the caller how it ended
		close(exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return exited, nil
}
