package pgkv

import "time"

// SetIdleTimeout shortens how long the server lets d's Updates idle, so a
// test need not wait the production minute.
func SetIdleTimeout(d *DB, timeout time.Duration) { d.idleTimeout = timeout }
