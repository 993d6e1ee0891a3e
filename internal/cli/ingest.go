package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/client"
	"github.com/sealwatch/sealwatch/internal/jsonscan"
)

// This file is `sealwatch ingest`: rows read from a file, checked as JSON
// without being decoded, and sent in zstd-compressed batches, several at a
// time.

// The Logs Ingestion API's version and its limit per call, which applies to
// the rows before and after compression alike.
const (
	ingestAPIVersion = "2023-01-01"
	maxIngestBatch   = 1 << 20
)

// defaultInFlight is how many batches ingest has under way at once: enough
// to keep the node's parse, seal and fsync of one batch overlapping the
// client's read, compression and upload of the next ones.
const (
	defaultInFlight = 4
	maxInFlight     = 64
)

// rowReader reads the rows of an ingest file: one JSON array of objects, or
// JSON lines (objects one after another, separated by white space). Each
// row is checked as JSON in one pass (jsonscan) and handed on as the bytes
// it is in the file; only a row with white space between its tokens is
// compacted.
type rowReader struct {
	name  string // the file, for messages
	r     io.Reader
	buf   []byte // buf[pos:end] is read and not yet taken
	pos   int
	end   int
	off   int64 // the file offset of buf[0]
	eof   bool  // r has no more, or failed
	array bool
	comma bool // (array) a row was read: a comma or the closing bracket comes next
	done  bool
	n     int    // rows read so far
	max   int    // the most bytes a row may take in the file
	tidy  []byte // a compacted row
}

// rowReaderBuffer is what a rowReader reads at a time. A row may grow the
// buffer up to rowReader.max, four times what a call takes: a row bigger
// than a call is refused, but one that white space makes bigger may fit
// once compacted.
const rowReaderBuffer = 256 << 10

func newRowReader(r io.Reader, name string) (*rowReader, error) {
	return newRowReaderMax(r, name, 4*maxIngestBatch)
}

// newRowReaderMax is newRowReader refusing a row of more than max bytes.
func newRowReaderMax(r io.Reader, name string, max int) (*rowReader, error) {
	rr := &rowReader{name: name, r: r, buf: make([]byte, min(rowReaderBuffer, max+1)), max: max}
	if err := rr.fill(3); err != nil {
		return nil, err
	}
	if bytes.HasPrefix(rr.buf[:rr.end], []byte("\xef\xbb\xbf")) {
		rr.pos = 3
	}
	if err := rr.space(); err != nil {
		return nil, err
	}
	switch {
	case rr.pos == rr.end:
		rr.done = true
	case rr.buf[rr.pos] == '[':
		rr.array = true
		rr.pos++
	}
	return rr, nil
}

// fill reads until the buffer holds at least want bytes past pos, or the
// file ends. It moves what is unread to the front and grows the buffer (up
// to max+1 bytes) when it must.
func (rr *rowReader) fill(want int) error {
	if rr.pos > 0 {
		copy(rr.buf, rr.buf[rr.pos:rr.end])
		rr.off += int64(rr.pos)
		rr.end -= rr.pos
		rr.pos = 0
	}
	if want > len(rr.buf) {
		grown := make([]byte, min(max(want, 2*len(rr.buf)), rr.max+1))
		copy(grown, rr.buf[:rr.end])
		rr.buf = grown
	}
	for rr.end < want && rr.end < len(rr.buf) && !rr.eof {
		n, err := rr.r.Read(rr.buf[rr.end:])
		rr.end += n
		switch {
		case err == io.EOF:
			rr.eof = true
		case err != nil:
			rr.eof = true
			return fmt.Errorf("read %s after row %d: %w", rr.name, rr.n, err)
		}
	}
	return nil
}

// space moves past white space, reading more as it must.
func (rr *rowReader) space() error {
	for {
		rr.pos = jsonscan.Space(rr.buf[:rr.end], rr.pos)
		if rr.pos < rr.end || rr.eof {
			return nil
		}
		if err := rr.fill(1); err != nil {
			return err
		}
	}
}

// next returns the next row, or io.EOF after the last. The row is valid
// until the next call.
func (rr *rowReader) next() ([]byte, error) {
	if rr.done {
		return nil, io.EOF
	}
	if err := rr.space(); err != nil {
		return nil, err
	}
	if !rr.array {
		if rr.pos == rr.end {
			rr.done = true
			return nil, io.EOF
		}
		return rr.row(0)
	}
	switch {
	case rr.pos == rr.end:
		return nil, rr.early()
	case rr.buf[rr.pos] == ']' && (rr.comma || rr.n == 0):
		rr.pos++
		if err := rr.space(); err != nil {
			return nil, err
		}
		if rr.pos < rr.end {
			return nil, fmt.Errorf("%s holds more after its JSON array of %d rows; send one array, or JSON lines", rr.name, rr.n)
		}
		rr.done = true
		return nil, io.EOF
	case rr.comma && rr.buf[rr.pos] == ',':
		rr.pos++
		if err := rr.space(); err != nil {
			return nil, err
		}
	case rr.comma:
		return nil, rr.syntax(&jsonscan.SyntaxError{Offset: rr.pos, Msg: "expected a comma or the closing bracket"})
	}
	rr.comma = true
	return rr.row(1)
}

// row reads the value at pos, which depth arrays enclose, as a row.
func (rr *rowReader) row(depth int) ([]byte, error) {
	for {
		end, f, err := jsonscan.Value(rr.buf[:rr.end], rr.pos, depth)
		var se *jsonscan.SyntaxError
		cut := err == nil && end == rr.end || errors.As(err, &se) && se.Offset >= rr.end
		if cut && !rr.eof { // the value may go on past what was read
			if rr.end-rr.pos > rr.max {
				return nil, fmt.Errorf("row %d of %s is over %d bytes; a call takes at most %d bytes of rows", rr.n+1, rr.name, rr.max, maxIngestBatch-2)
			}
			if err := rr.fill(rr.end - rr.pos + 1); err != nil {
				return nil, err
			}
			continue
		}
		switch {
		case cut && err != nil:
			return nil, rr.early()
		case err != nil:
			return nil, rr.syntax(err)
		}
		row := rr.buf[rr.pos:end]
		rr.pos = end
		rr.n++
		if row[0] != '{' {
			return nil, fmt.Errorf("row %d of %s is not a JSON object: each row is an object of column values", rr.n, rr.name)
		}
		if f&jsonscan.Spaced == 0 {
			return row, nil
		}
		tidy := bytes.NewBuffer(rr.tidy[:0])
		if err := json.Compact(tidy, row); err != nil {
			return nil, rr.syntax(err) // not reached: jsonscan checked the row
		}
		rr.tidy = tidy.Bytes()
		return rr.tidy, nil
	}
}

// early says that the file ends inside a row or the array.
func (rr *rowReader) early() error {
	return fmt.Errorf("%s ends early, after row %d: a row or the array is not closed", rr.name, rr.n)
}

// syntax names where the file stops being JSON, after which row.
func (rr *rowReader) syntax(err error) error {
	var se *jsonscan.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%s is not a JSON array or JSON lines: at byte %d, after row %d: %s", rr.name, rr.off+int64(se.Offset), rr.n, se.Msg)
	}
	return fmt.Errorf("read %s after row %d: %w", rr.name, rr.n, err)
}

// ingestReport is what an ingest stored.
type ingestReport struct {
	ImmutableID string `json:"immutableId"`
	Stream      string `json:"stream"`
	Rows        int    `json:"rows"`
	Batches     int    `json:"batches"`
	Bytes       int64  `json:"bytes"`     // the rows as JSON
	SentBytes   int64  `json:"sentBytes"` // as sent: compressed, unless --compression none
}

// serverRowRE finds the row a refusal names: the server counts from 0
// within the call's body.
var serverRowRE = regexp.MustCompile(`\brow (\d+):`)

// rowBatch is a batch of rows on its way: rows first to last of the file,
// counting from 1.
type rowBatch struct {
	seq         int // from 1
	first, last int
	body        []byte
}

// batchOutcome is what became of a batch sent.
type batchOutcome struct {
	seq, first, last int
	err              error
}

// ledger records the batches sent, from the goroutines sending them.
type ledger struct {
	mu       sync.Mutex
	rep      *ingestReport
	stored   []batchOutcome
	failed   []batchOutcome
	progress func(rows int)
}

func (l *ledger) done(b *rowBatch, sent int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	o := batchOutcome{seq: b.seq, first: b.first, last: b.last, err: err}
	if err != nil {
		l.failed = append(l.failed, o)
		return
	}
	l.stored = append(l.stored, o)
	l.rep.Batches++
	l.rep.Rows += b.last - b.first + 1
	l.rep.Bytes += int64(len(b.body))
	l.rep.SentBytes += int64(sent)
	if l.progress != nil {
		l.progress(b.last - b.first + 1)
	}
}

// sendRows reads every row of rr and sends them in batches (JSON arrays) of
// at most limit bytes, up to inFlight at once (the order they are stored in
// does not matter). send delivers one batch and returns the bytes it put on
// the wire; it is called from inFlight goroutines. At the first failure no
// further batch starts and those under way finish; the error then says
// which rows were stored and which to send again, so that none is lost or
// stored twice. Memory holds at most inFlight+1 batches.
func sendRows(ctx context.Context, rr *rowReader, limit, inFlight int, rep *ingestReport, send func(ctx context.Context, batch []byte) (int, error), progress func(rows int)) error {
	l := &ledger{rep: rep, progress: progress}
	var stop atomic.Bool
	jobs := make(chan *rowBatch)
	free := make(chan []byte, inFlight+1) // the batch buffers: filled, sent, then back here
	for range inFlight + 1 {
		free <- nil
	}
	var wg sync.WaitGroup
	for range inFlight {
		wg.Go(func() {
			for b := range jobs {
				if stop.Load() { // a batch failed: this one is left to send again
					free <- b.body
					continue
				}
				sent, err := send(ctx, b.body)
				if err != nil {
					stop.Store(true)
				}
				l.done(b, sent, err)
				free <- b.body
			}
		})
	}
	readErr := readBatches(ctx, rr, limit, &stop, free, jobs)
	close(jobs)
	wg.Wait()

	return l.outcome(readErr, rr.name)
}

// outcome is sendRows' answer once every batch has finished: the first
// batch that failed, or readErr (what stopped the reading of file), with
// the rows stored and the rows to send again; nil when all went.
func (l *ledger) outcome(readErr error, file string) error {
	slices.SortFunc(l.stored, func(a, b batchOutcome) int { return a.seq - b.seq })
	slices.SortFunc(l.failed, func(a, b batchOutcome) int { return a.seq - b.seq })
	switch {
	case len(l.failed) > 0 && readErr != nil: // the rows went wrong too, further on
		return fmt.Errorf("%w; %s; then %v", batchRefusal(l.failed[0], file), storedSoFar(l.stored, l.failed[1:]), readErr)
	case len(l.failed) > 0:
		return fmt.Errorf("%w; %s", batchRefusal(l.failed[0], file), storedSoFar(l.stored, l.failed[1:]))
	case readErr != nil && len(l.stored) > 0:
		return fmt.Errorf("%w; %s", readErr, storedSoFar(l.stored, nil))
	case readErr != nil:
		return readErr
	case l.rep.Rows == 0:
		return fmt.Errorf("%s holds no rows", file)
	}
	return nil
}

// readBatches reads rows into batches and hands them to the senders until
// the rows end, a read fails, ctx ends or stop is set.
func readBatches(ctx context.Context, rr *rowReader, limit int, stop *atomic.Bool, free chan []byte, jobs chan<- *rowBatch) error {
	seq, first, rows := 1, 1, 0
	batch := append(<-free, '[')
	dispatch := func() {
		batch = append(batch, ']')
		jobs <- &rowBatch{seq: seq, first: first, last: first + rows - 1, body: batch}
		seq, first, rows = seq+1, first+rows, 0
		batch = append((<-free)[:0], '[')
	}
	for !stop.Load() {
		if err := ctx.Err(); err != nil {
			return err
		}
		row, err := rr.next()
		if err == io.EOF {
			break
		}
		if err == nil && len(row)+2 > limit {
			err = fmt.Errorf("row %d of %s is %d bytes; a call takes at most %d bytes of rows", rr.n, rr.name, len(row), limit-2)
		}
		if err != nil {
			return err
		}
		if rows > 0 && len(batch)+1+len(row)+1 > limit {
			dispatch()
		}
		if rows > 0 {
			batch = append(batch, ',')
		}
		batch = append(batch, row...)
		rows++
	}
	if rows > 0 && !stop.Load() {
		dispatch()
	}
	return nil
}

// batchRefusal names a batch that failed, and the row a refusal names. A
// batch without an answer (the connection failed, the command was stopped)
// may have been stored before the answer was lost: the message says so,
// lest its rows be sent twice.
func batchRefusal(o batchOutcome, file string) error {
	msg := fmt.Sprintf("batch %d (rows %d-%d of %s) got no answer and may have been stored: query for its rows before sending them again", o.seq, o.first, o.last, file)
	var apiErr *client.APIError
	if errors.As(o.err, &apiErr) {
		msg = fmt.Sprintf("batch %d (rows %d-%d of %s) was refused", o.seq, o.first, o.last, file)
		if m := serverRowRE.FindStringSubmatch(apiErr.Message); m != nil {
			if i, err := strconv.Atoi(m[1]); err == nil && i <= o.last-o.first {
				msg += fmt.Sprintf(" at row %d of %s (the server counts from 0 within the batch)", o.first+i, file)
			}
		}
	}
	return fmt.Errorf("%s: %w", msg, o.err)
}

// storedSoFar says which rows the stored batches hold (sorted by sequence)
// and which to send again; others are the other batches that failed.
func storedSoFar(stored, others []batchOutcome) string {
	also := ""
	if len(others) > 0 {
		var ns []string
		for _, o := range others {
			ns = append(ns, strconv.Itoa(o.seq))
		}
		also = fmt.Sprintf(" (batch %s failed too)", strings.Join(ns, ", "))
	}
	switch {
	case len(stored) == 0:
		return "nothing was stored" + also
	case stored[len(stored)-1].seq == len(stored): // batches 1 to n: the rows up to one
		last := stored[len(stored)-1].last
		if len(stored) == 1 {
			return fmt.Sprintf("batch 1 (rows 1-%d) was stored%s: send only the rows after row %d again", last, also, last)
		}
		return fmt.Sprintf("batches 1-%d (rows 1-%d) were stored%s: send only the rows after row %d again", len(stored), last, also, last)
	}
	// Batches sent together finished out of order: name the gaps.
	var kept, again []string
	next := 1 // the first row not yet accounted for
	for _, o := range stored {
		if o.first > next {
			again = append(again, span(next, o.first-1))
		}
		if n := len(kept); n > 0 && strings.HasSuffix(kept[n-1], "-"+strconv.Itoa(o.first-1)) {
			kept[n-1] = kept[n-1][:strings.LastIndexByte(kept[n-1], '-')+1] + strconv.Itoa(o.last)
		} else {
			kept = append(kept, span(o.first, o.last))
		}
		next = o.last + 1
	}
	return fmt.Sprintf("rows %s were stored%s: send only rows %s and the rows after row %d again",
		strings.Join(kept, ", "), also, strings.Join(again, ", "), next-1)
}

func span(first, last int) string { return strconv.Itoa(first) + "-" + strconv.Itoa(last) }

// ingestSender posts batches to the Logs Ingestion API, zstd-compressed
// unless told not to. Sealwatch takes zstd besides the API's gzip: at its
// fastest level it compresses as fast as gzip's fastest and tighter, and
// decodes in a quarter of gzip's time on the node. To a node on the same
// machine, compression only spends the CPU the client and the node share:
// --compression none sends the rows as they are.
type ingestSender struct {
	cl   *client.Client
	url  string
	zenc *zstd.Encoder // shared by the batches under way; nil: none
	bufs sync.Pool     // of *[]byte: one batch's compressed bytes each
}

// Values of ingest's --compression.
const (
	compressZstd = "zstd"
	compressNone = "none"
)

func newIngestSender(cl *client.Client, immutableID, stream string, inFlight int, compression string) (*ingestSender, error) {
	s := &ingestSender{cl: cl, url: "/dataCollectionRules/" + url.PathEscape(immutableID) + "/streams/" + url.PathEscape(stream) +
		"?api-version=" + ingestAPIVersion}
	if compression == compressZstd {
		var err error
		if s.zenc, err = newIngestEncoder(inFlight); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// newIngestEncoder is the encoder of inFlight batches at once, at zstd's
// fastest level.
func newIngestEncoder(inFlight int) (*zstd.Encoder, error) {
	return zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(inFlight))
}

// send compresses one batch (unless the sender sends them as they are) and
// posts it; it returns the bytes sent. It is safe for concurrent use.
func (s *ingestSender) send(ctx context.Context, batch []byte) (int, error) {
	header := http.Header{"Content-Type": {"application/json"}}
	body := batch
	if s.zenc != nil {
		buf := s.compress(batch)
		defer s.bufs.Put(buf)
		body = *buf
		header.Set("Content-Encoding", "zstd")
	}
	if err := s.cl.DoRaw(ctx, http.MethodPost, s.url, client.AudienceIngestion, body, header, nil); err != nil {
		return 0, err
	}
	return len(body), nil
}

// compress compresses batch, as one zstd frame that states its size, into
// a buffer of the pool, which the caller puts back.
func (s *ingestSender) compress(batch []byte) *[]byte {
	buf, _ := s.bufs.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	*buf = s.zenc.EncodeAll(batch, (*buf)[:0])
	return buf
}

// namedReader is rows to read, with what to call them in messages.
type namedReader struct {
	r    io.Reader
	name string
}

// openRows opens ingest's --file: standard input for "-", else the file,
// with its size when it is a regular file (0: unknown), for a bar over it.
// The caller calls closeIn when done.
func openRows(cmd *cobra.Command, file string) (in namedReader, size int64, closeIn func(), err error) {
	if file == "-" {
		return namedReader{cmd.InOrStdin(), "standard input"}, 0, func() {}, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return namedReader{}, 0, nil, fmt.Errorf("open the rows: %w", err)
	}
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	return namedReader{f, file}, size, func() { _ = f.Close() }, nil
}

// ingestRule looks up the data collection rule that ingest names with
// --dcr, and checks it has a data flow for stream; it returns the rule's
// immutable ID and name.
func ingestRule(ctx context.Context, cl *client.Client, subscription, name, rg, stream string) (immutableID, ruleName string, err error) {
	if subscription == "" {
		subscription = cl.TenantID()
	}
	m := &mgmt{cl: cl, sub: subscription}
	d, _, _, err := m.findDCR(ctx, name, rg)
	if err != nil {
		return "", "", withoutOwner(err, "with only the Ingestor role, name the rule by its immutable ID: --dcr-immutable-id (see `sealwatch dcr show`)")
	}
	if !d.hasStream(stream) {
		return "", "", fmt.Errorf("data collection rule %s has no data flow for stream %s; its streams: %s", d.Name, stream, dcrRow(d)[3])
	}
	return d.Properties.ImmutableID, d.Name, nil
}

// ingestProgress is ingest's bar on a terminal, and what advances it after
// each batch stored (nil and nil elsewhere). Over a file of known size it
// is a bar of the bytes read, with the percentage and the time left; over
// a stream of unknown length (standard input, a pipe), a count of the rows
// stored and their rate.
func (a *app) ingestProgress(size int64, read *countingReader) (*progressbar.ProgressBar, func(rows int)) {
	if size <= 0 {
		bar := a.progressBar(-1, "ingest", progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("rows"))
		if bar == nil {
			return nil, nil
		}
		return bar, func(rows int) { _ = bar.Add(rows) }
	}
	bar := a.progressBar(size, "ingest", progressbar.OptionShowBytes(true), progressbar.OptionSetPredictTime(true))
	if bar == nil {
		return nil, nil
	}
	return bar, func(int) {
		// The rows are read ahead of those stored: short of the end, the bar
		// stays drawn until Finish, rather than clearing itself at 100%.
		_ = bar.Set64(min(read.n.Load(), size-1))
	}
}

// countingReader counts the bytes read through it, from any goroutine.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (a *app) ingestCommand() *cobra.Command {
	var subscription, dcrName, immutableID, rg, stream, file string
	var inFlight int
	compression := compressZstd
	cmd := &cobra.Command{
		Use:   "ingest (--dcr N [-g RG] | --dcr-immutable-id ID) --stream Custom-Events --file rows.json|-",
		Short: "Send rows to a data collection rule's stream, in compressed batches under the 1 MB limit",
		Long: "ingest reads rows from a file (or - for standard input) holding one JSON array of objects or\n" +
			"JSON lines, and sends them through the Logs Ingestion API in batches of at most 1 MB, several\n" +
			"at once (--in-flight). Each batch is stored whole or not at all; when one is refused, no\n" +
			"further batch starts, and the message names its rows, which rows were stored and which to\n" +
			"send again. On a terminal, a bar shows how much of the file is read and the time left (for standard\n" +
			"input or a pipe, the rows stored and their rate).\n\n" +
			"A principal with only the Ingestor role cannot look the rule up by name: give it the rule's\n" +
			"immutable ID (`sealwatch dcr show`) with --dcr-immutable-id.",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		if (dcrName == "") == (immutableID == "") {
			return usagef("name the rule once: --dcr N, or --dcr-immutable-id ID")
		}
		if inFlight < 1 || inFlight > maxInFlight {
			return usagef("--in-flight takes 1 to %d batches", maxInFlight)
		}
		if compression != compressZstd && compression != compressNone {
			return usagef("--compression takes %s or %s, not %q", compressZstd, compressNone, compression)
		}
		in, size, closeIn, err := openRows(cmd, file)
		if err != nil {
			return err
		}
		defer closeIn()
		read := &countingReader{r: in.r}
		rr, err := newRowReader(read, in.name)
		if err != nil {
			return err
		}
		cl, err := a.client()
		if err != nil {
			return err
		}
		ruleName := immutableID
		if dcrName != "" {
			if immutableID, ruleName, err = ingestRule(ctx, cl, subscription, dcrName, rg, stream); err != nil {
				return err
			}
		}
		s, err := newIngestSender(cl, immutableID, stream, inFlight, compression)
		if err != nil {
			return err
		}
		rep := ingestReport{ImmutableID: immutableID, Stream: stream}
		bar, progress := a.ingestProgress(size, read)
		err = sendRows(ctx, rr, maxIngestBatch, inFlight, &rep, s.send, progress)
		if bar != nil {
			_ = bar.Finish() // clears its line, which the result or the error then has to itself
		}
		if err != nil {
			return fmt.Errorf("ingest into %s of data collection rule %s: %w", stream, ruleName, err)
		}
		w := cmd.OutOrStdout()
		if a.output == outputJSON {
			return writeJSONOf(w, rep)
		}
		batches := "batches"
		if rep.Batches == 1 {
			batches = "batch"
		}
		sent := fmt.Sprintf("%d compressed", rep.SentBytes)
		if compression == compressNone {
			sent = "uncompressed"
		}
		fmt.Fprintf(w, "Sent %d rows to stream %s of data collection rule %s in %d %s (%d bytes, %s).\n",
			rep.Rows, clean(stream), clean(ruleName), rep.Batches, batches, rep.Bytes, sent)
		return nil
	})
	f := cmd.Flags()
	f.StringVar(&dcrName, "dcr", "", "the data collection rule, by name")
	f.StringVar(&immutableID, "dcr-immutable-id", "", "the data collection rule, by immutable ID (dcr-...); needs no management access")
	f.StringVarP(&rg, "resource-group", "g", "", "the rule's resource group; found by listing when omitted")
	f.StringVar(&stream, "stream", "", "the stream to send to, such as Custom-Events")
	f.StringVar(&file, "file", "", "the rows: a JSON array of objects or JSON lines; - reads standard input")
	f.StringVar(&subscription, "subscription", "", "subscription ID, to find the rule by name; default the tenant ID")
	f.IntVar(&inFlight, "in-flight", defaultInFlight, "batches sent at once; 1 sends one at a time, in order")
	f.StringVar(&compression, "compression", compressZstd, "how batches travel: zstd, or none to a node on this machine, where compressing only spends the CPU the node needs")
	_ = cmd.MarkFlagRequired("stream")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}
