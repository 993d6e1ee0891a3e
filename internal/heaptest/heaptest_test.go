package heaptest

import (
	"runtime"
	"testing"
	"time"
)

// TestWatchSeesWhatIsHeldAndObjectsWhatIsLeft: 64 MiB held while the
// watch runs is in its peak; once let go and collected, it is not in
// Objects. A second call of the watch's function answers the same.
func TestWatchSeesWhatIsHeldAndObjectsWhatIsLeft(t *testing.T) {
	const held = 64 << 20
	base := Objects()
	buf := make([]byte, held)
	for i := range buf {
		buf[i] = byte(i)
	}
	peak := Watch(t, time.Millisecond)
	p := peak()
	runtime.KeepAlive(buf)
	if p < base+held {
		t.Fatalf("peak %d MiB while %d MiB were held over a base of %d MiB", p>>20, held>>20, base>>20)
	}
	if again := peak(); again != p {
		t.Fatalf("the watch's function answered %d, then %d", p, again)
	}
	if after := Objects(); after >= base+held {
		t.Fatalf("%d MiB after the buffer was let go, over a base of %d MiB", after>>20, base>>20)
	}
}
