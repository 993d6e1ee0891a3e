package logstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/objstore"
	"github.com/sealwatch/sealwatch/internal/objstore/localfs"
)

// unreachableObject is an object whose reads fail as a bucket's do when
// the network does.
type unreachableObject struct{ objstore.Object }

func (unreachableObject) ReadAt([]byte, int64) (int, error) {
	return 0, fmt.Errorf("read: %w", objstore.ErrUnreachable)
}

// TestASegmentReadThatFailsIsAnErrorNotDamage: a read of a segment that
// fails (a network error on a bucket) says so; the segment is not reported
// damaged, as a short or altered one is.
func TestASegmentReadThatFailsIsAnErrorNotDamage(t *testing.T) {
	dir := t.TempDir()
	st := newTestStore(t, dir, envelopetest.New("aek"))
	mustIngest(t, st, ws, tbl, eventsBody(t, 0, 10, testNow))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	segs := files(t, dir, segExt)
	if len(segs) == 0 {
		t.Fatal("the flush wrote no segment")
	}
	name, _ := parseSegName(filepath.Base(segs[0]))
	_, err := st.openSegmentIn(context.Background(), func(ctx context.Context, _ string) (objstore.Object, error) {
		d, err := localfs.New(filepath.Dir(segs[0]))
		if err != nil {
			return nil, err
		}
		o, err := d.Open(ctx, filepath.Base(segs[0]))
		return unreachableObject{o}, err
	}, ws, tbl, segFile{name: name})
	var ie *IntegrityError
	if errors.As(err, &ie) || !errors.Is(err, objstore.ErrUnreachable) {
		t.Fatalf("opening a segment whose reads fail: %v, want ErrUnreachable and no damage", err)
	}
}
