// Package watchlist keeps a workspace's watchlists (the security workspace
// API's Microsoft.SecurityInsights/watchlists and their watchlistItems) in
// the sealed document store: reference lists uploaded as CSV — VIP
// accounts, known-bad addresses, crown-jewel hosts — that queries and
// analytics rules read with _GetWatchlist('alias').
//
// A watchlist is one document (its properties, its columns and the list
// of its chunks) and its items are a few more, packed into chunks of about
// a megabyte, so that reading one watchlist's items decrypts those
// documents and no others. Every change of a watchlist or its items is one
// docstore.Batch, conditional on the watchlist document's etag, and writes
// the chunks it touches under new IDs: a reader never sees half of a
// change, and adding an item rewrites one chunk.
package watchlist

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/jsonbody"
)

// Collections in the document store: the watchlists, and their items'
// chunks, whose IDs are "<alias>.<n>".
const (
	collWatchlists = "watchlists"
	collItems      = "watchlistItems"
)

// Resource types.
const (
	ResourceType     = "Microsoft.SecurityInsights/watchlists"
	ItemResourceType = "Microsoft.SecurityInsights/watchlists/watchlistItems"
)

// Limits. An upload is bounded as in the cloud (3.8 MB of rawContent);
// the rest bound what one query holds when it reads a watchlist.
const (
	MaxRawContentBytes = 3_800_000
	MaxItemsPerUpload  = 10_000
	MaxItems           = 100_000  // per watchlist, uploads and single items together
	MaxTotalBytes      = 32 << 20 // of values, per watchlist
	MaxWatchlists      = 1000     // per workspace: every query lists them to bind _GetWatchlist
	MaxColumns         = 100
	MaxValueBytes      = 32 << 10
	MaxItemBytes       = 256 << 10 // of one item's values
	maxColumnName      = 256
	maxDisplayName     = 256
	maxDescription     = 5000
	maxLabels          = 50
)

// Watchlist is a Microsoft.SecurityInsights/watchlists resource, without
// its items.
type Watchlist struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Type       string     `json:"type"`
	Etag       string     `json:"etag"`
	Properties Properties `json:"properties"`
}

// Properties are a watchlist's fields. rawContent is not kept: the items
// are, and are read with watchlistItems or _GetWatchlist.
type Properties struct {
	WatchlistID         string    `json:"watchlistId"`
	WatchlistAlias      string    `json:"watchlistAlias"`
	DisplayName         string    `json:"displayName"`
	Provider            string    `json:"provider"`
	Source              string    `json:"source,omitempty"`
	SourceType          string    `json:"sourceType"`
	Description         string    `json:"description,omitempty"`
	ItemsSearchKey      string    `json:"itemsSearchKey"`
	ContentType         string    `json:"contentType,omitempty"`
	NumberOfLinesToSkip int       `json:"numberOfLinesToSkip"`
	Labels              []string  `json:"labels,omitempty"`
	DefaultDuration     string    `json:"defaultDuration,omitempty"`
	Created             time.Time `json:"created"`
	Updated             time.Time `json:"updated"`
	UploadStatus        string    `json:"uploadStatus"`
	ProvisioningState   string    `json:"provisioningState"`
	IsDeleted           bool      `json:"isDeleted"`
	// Columns and ItemsCount are Sealwatch's: what _GetWatchlist returns
	// besides its own columns, and how many items it returns.
	Columns    []string `json:"columns"`
	ItemsCount int      `json:"itemsCount"`
}

// Item is a Microsoft.SecurityInsights/watchlists/watchlistItems resource.
type Item struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Etag       string         `json:"etag"`
	Properties ItemProperties `json:"properties"`
}

// ItemProperties are an item's fields: its values by column.
type ItemProperties struct {
	WatchlistItemID   string            `json:"watchlistItemId"`
	WatchlistItemType string            `json:"watchlistItemType"`
	ItemsKeyValue     map[string]string `json:"itemsKeyValue"`
	Created           time.Time         `json:"created"`
	Updated           time.Time         `json:"updated"`
	IsDeleted         bool              `json:"isDeleted"`
}

// record is a watchlist's document.
type record struct {
	Properties Properties `json:"properties"`
	// Chunks are the IDs of the documents that hold the items, in order. A
	// chunk is never rewritten in place: a change writes it anew under a
	// new ID and deletes the old one in the same batch, so a reader that
	// finds every chunk its watchlist names has read one version of it, and
	// adding an item rewrites one chunk, not the watchlist.
	Chunks []string `json:"chunks"`
	Bytes  int      `json:"bytes"` // of all values, against MaxTotalBytes
}

// storedItem is an item in a chunk (chunk.go): its values by the
// watchlist's columns.
type storedItem struct {
	ID      string
	Etag    string
	Values  []string
	Created time.Time
	Updated time.Time
}

// Watchlists is the watchlist store of one workspace.
type Watchlists struct {
	docs      *docstore.Store
	workspace string // customerId: the document store's workspace
	idPrefix  string // resource ID of the workspace's watchlists collection
	now       func() time.Time
}

// New returns the watchlists of a workspace whose resource ID is resourceID.
func New(docs *docstore.Store, customerID, resourceID string, now func() time.Time) *Watchlists {
	if now == nil {
		now = time.Now
	}
	return &Watchlists{docs: docs, workspace: customerID, idPrefix: resourceID + "/providers/Microsoft.SecurityInsights/watchlists/", now: now}
}

func bad(format string, args ...any) *fault.Error {
	return fault.New(fault.Invalid, "BadRequest", format, args...)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// ValidAlias refuses an alias that is not 1-128 letters, digits, dashes
// and underscores: it is a resource name, a document ID and the argument
// of _GetWatchlist.
func ValidAlias(alias string) error {
	if !nameRE.MatchString(alias) {
		return bad("watchlist aliases are 1-128 letters, digits, dashes and underscores, not '%s'", fault.Shorten(alias))
	}
	return nil
}

func validItemID(id string) error {
	if !nameRE.MatchString(id) {
		return bad("watchlist item IDs are 1-128 letters, digits, dashes and underscores (a GUID is usual), not '%s'", fault.Shorten(id))
	}
	return nil
}

// errRaced is a watchlist changed by another writer between this one's
// read and its write; the write is tried again on the new state.
var errRaced = errors.New("watchlist changed while being written")

const maxAttempts = 5

// retry runs a read-modify-write until it does not race.
func retry(alias string, fn func() error) error {
	for range maxAttempts {
		if err := fn(); !errors.Is(err, errRaced) {
			return err
		}
	}
	return fault.New(fault.Conflict, "Conflict", "watchlist '%s' is being changed by others at the same time; retry", alias)
}

// state is a watchlist as read: its document, etag and, when read with
// them, its items by chunk.
type state struct {
	rec    record
	etag   string
	ids    []string       // of the chunks; "" for one changed since read, to be written anew
	chunks [][]storedItem // the items of each chunk
}

// items are the watchlist's items in order.
func (st *state) items() []storedItem {
	out := make([]storedItem, 0, st.rec.Properties.ItemsCount)
	for _, c := range st.chunks {
		out = append(out, c...)
	}
	return out
}

// find returns the chunk and the place in it of item id.
func (st *state) find(id string) (int, int, bool) {
	for c, items := range st.chunks {
		if i := slices.IndexFunc(items, func(it storedItem) bool { return it.ID == id }); i >= 0 {
			return c, i, true
		}
	}
	return 0, 0, false
}

// change replaces chunk c's items (c == len: a new chunk), marking it to be
// written anew, in pieces if it has grown past chunkBytes.
func (st *state) change(c int, items []storedItem) {
	pieces := split(items)
	if len(pieces) == 0 {
		pieces = [][]storedItem{nil} // emptied: write drops it
	}
	if c == len(st.chunks) {
		st.chunks, st.ids = append(st.chunks, nil), append(st.ids, "")
	}
	st.chunks = slices.Replace(st.chunks, c, c+1, pieces...)
	st.ids = slices.Replace(st.ids, c, c+1, make([]string, len(pieces))...)
}

// add puts a new item at the end: in the last chunk if it has room, else
// in a new one.
func (st *state) add(it storedItem) {
	c := len(st.chunks) - 1
	if c < 0 || chunkSize(st.chunks[c])+itemSize(it) > chunkBytes {
		st.change(len(st.chunks), []storedItem{it})
		return
	}
	st.change(c, append(slices.Clone(st.chunks[c]), it))
}

// replaceAll makes items the watchlist's items, all in new chunks.
func (st *state) replaceAll(items []storedItem) {
	st.chunks = split(items)
	st.ids = make([]string, len(st.chunks))
}

// read returns a watchlist's state, its items only when withItems.
func (s *Watchlists) read(ctx context.Context, alias string, withItems bool) (*state, error) {
	st := &state{}
	var err error
	if st.etag, err = s.docs.GetJSON(ctx, s.workspace, collWatchlists, "watchlist", alias, &st.rec); err != nil {
		return nil, err
	}
	if !withItems {
		return st, nil
	}
	st.ids = slices.Clone(st.rec.Chunks)
	st.chunks = make([][]storedItem, len(st.ids))
	for n, id := range st.ids {
		doc, err := s.docs.Get(ctx, s.workspace, collItems, id)
		if errors.Is(err, docstore.ErrNotFound) {
			return nil, s.torn(ctx, alias, st.etag, id)
		}
		if err != nil {
			return nil, docstore.Refusal(err, "watchlist", alias)
		}
		var c chunk
		if err := c.unmarshal(doc.Body); err != nil {
			return nil, fmt.Errorf("decode watchlist %s chunk %s: %w", alias, id, err)
		}
		if st.chunks[n], err = c.decode(nil, len(st.rec.Properties.Columns)); err != nil {
			return nil, fmt.Errorf("decode watchlist %s chunk %s: %w", alias, id, err)
		}
	}
	return st, nil
}

// torn explains a chunk the watchlist names that is not there: a write
// replaced it between the reader's reads (errRaced, read again), or, when
// the watchlist is still as read, it was deleted behind the store's back,
// which is damage.
func (s *Watchlists) torn(ctx context.Context, alias, etag, chunk string) error {
	doc, err := s.docs.Get(ctx, s.workspace, collWatchlists, alias)
	if err != nil && !errors.Is(err, docstore.ErrNotFound) {
		return docstore.Refusal(err, "watchlist", alias)
	}
	if err != nil || doc.ETag != etag {
		return errRaced
	}
	return &docstore.IntegrityError{Workspace: s.workspace, Collection: collItems, ID: chunk, Detail: "missing"}
}

// newChunkID names a chunk written anew.
func newChunkID(alias string) string { return alias + "." + uuid.NewString() }

// write stores rec with st's chunks in one batch, conditional on the etag
// read (st.etag; none to create): the chunks changed since read are
// written under new IDs (an empty one is dropped), and the chunks the
// watchlist named before (old) and no longer does are deleted.
func (s *Watchlists) write(ctx context.Context, alias string, rec record, st *state, old []string) (string, error) {
	rec.Properties.ItemsCount, rec.Bytes = 0, 0
	for _, c := range st.chunks {
		rec.Properties.ItemsCount += len(c)
		for _, it := range c {
			for _, v := range it.Values {
				rec.Bytes += len(v)
			}
		}
	}
	if n := rec.Properties.ItemsCount; n > MaxItems {
		return "", bad("watchlist '%s' would hold %d items; a watchlist holds at most %d", alias, n, MaxItems)
	}
	if rec.Bytes > MaxTotalBytes {
		return "", bad("watchlist '%s' would hold %d bytes of values; a watchlist holds at most %d", alias, rec.Bytes, MaxTotalBytes)
	}
	var writes []docstore.Write
	rec.Chunks = rec.Chunks[:0:0]
	for n, items := range st.chunks {
		id := st.ids[n]
		switch {
		case id != "":
		case len(items) == 0:
			continue
		default:
			id = newChunkID(alias)
			writes = append(writes, docstore.Write{Collection: collItems, ID: id, Body: encodeChunk(items), IfMatch: docstore.CreateOnly})
		}
		rec.Chunks = append(rec.Chunks, id)
	}
	for _, id := range old {
		if !slices.Contains(rec.Chunks, id) {
			writes = append(writes, docstore.Write{Collection: collItems, ID: id})
		}
	}
	body, err := json.Marshal(rec)
	if err != nil {
		return "", fmt.Errorf("encode watchlist %s: %w", alias, err)
	}
	ifMatch := st.etag
	if ifMatch == "" {
		ifMatch = docstore.CreateOnly
	}
	writes = append(writes, docstore.Write{Collection: collWatchlists, ID: alias, Body: body, IfMatch: ifMatch})
	etags, err := s.docs.Batch(ctx, s.workspace, writes)
	switch {
	case errors.Is(err, docstore.ErrConflict), errors.Is(err, docstore.ErrNotFound):
		return "", errRaced
	case err != nil:
		return "", docstore.Refusal(err, "watchlist", alias)
	}
	return etags[len(etags)-1], nil
}

// input is the properties of a PUT. The fields the server sets are
// accepted, and ignored, so that a watchlist read back can be PUT again.
type input struct {
	DisplayName         *string  `json:"displayName"`
	Provider            *string  `json:"provider"`
	Source              string   `json:"source"`
	SourceType          string   `json:"sourceType"`
	Description         string   `json:"description"`
	ItemsSearchKey      *string  `json:"itemsSearchKey"`
	RawContent          *string  `json:"rawContent"`
	ContentType         string   `json:"contentType"`
	NumberOfLinesToSkip int      `json:"numberOfLinesToSkip"`
	Labels              []string `json:"labels"`
	DefaultDuration     string   `json:"defaultDuration"`

	WatchlistID       json.RawMessage `json:"watchlistId"`
	WatchlistAlias    json.RawMessage `json:"watchlistAlias"`
	WatchlistType     json.RawMessage `json:"watchlistType"`
	Created           json.RawMessage `json:"created"`
	Updated           json.RawMessage `json:"updated"`
	CreatedBy         json.RawMessage `json:"createdBy"`
	UpdatedBy         json.RawMessage `json:"updatedBy"`
	TenantID          json.RawMessage `json:"tenantId"`
	UploadStatus      json.RawMessage `json:"uploadStatus"`
	ProvisioningState json.RawMessage `json:"provisioningState"`
	IsDeleted         json.RawMessage `json:"isDeleted"`
	Columns           json.RawMessage `json:"columns"`
	ItemsCount        json.RawMessage `json:"itemsCount"`
}

// sourceTypeLocal is the only source: the content comes in the request.
const sourceTypeLocal = "Local file"

// decodeInput reads and checks a PUT's properties.
func decodeInput(props json.RawMessage) (*input, error) {
	if t := bytes.TrimSpace(props); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil, bad(`the watchlist has no properties; send {"properties":{"displayName":…,"provider":…,"itemsSearchKey":…,"contentType":"text/csv","rawContent":…}}`)
	}
	var in input
	if err := jsonbody.DecodeStrict(props, &in); err != nil {
		return nil, bad("properties: %s", jsonbody.Message(err, "see docs/api.md for the fields a watchlist has"))
	}
	switch {
	case in.DisplayName == nil || strings.TrimSpace(*in.DisplayName) == "" || len(*in.DisplayName) > maxDisplayName:
		return nil, bad("properties.displayName is required, at most %d characters", maxDisplayName)
	case in.Provider == nil || strings.TrimSpace(*in.Provider) == "" || len(*in.Provider) > maxDisplayName:
		return nil, bad("properties.provider is required (who maintains the list, such as Microsoft or your team), at most %d characters", maxDisplayName)
	case in.ItemsSearchKey == nil || *in.ItemsSearchKey == "":
		return nil, bad("properties.itemsSearchKey is required: the column whose value _GetWatchlist returns as SearchKey")
	case len(in.Description) > maxDescription:
		return nil, bad("properties.description is at most %d characters", maxDescription)
	case len(in.Source) > maxDisplayName:
		return nil, bad("properties.source (the file's name) is at most %d characters", maxDisplayName)
	case in.SourceType != "" && in.SourceType != sourceTypeLocal:
		return nil, bad("properties.sourceType must be '%s': the content comes in rawContent (a storage account's URL is not supported)", sourceTypeLocal)
	case len(in.Labels) > maxLabels:
		return nil, bad("properties.labels has %d labels; at most %d", len(in.Labels), maxLabels)
	}
	for i, l := range in.Labels {
		if strings.TrimSpace(l) == "" || len(l) > maxDisplayName {
			return nil, bad("properties.labels[%d] must be a non-empty label of at most %d characters", i, maxDisplayName)
		}
	}
	if in.DefaultDuration != "" && !isoDurationRE.MatchString(in.DefaultDuration) {
		return nil, bad("properties.defaultDuration '%s' is not an ISO 8601 duration such as P1Y or P30D", fault.Shorten(in.DefaultDuration))
	}
	if in.RawContent != nil && in.ContentType == "" {
		return nil, bad("properties.contentType is required with rawContent: %s or %s", ContentTypeCSV, ContentTypeTSV)
	}
	return &in, nil
}

var isoDurationRE = regexp.MustCompile(`^P(?:\d{1,9}Y)?(?:\d{1,9}M)?(?:\d{1,9}W)?(?:\d{1,9}D)?(?:T(?:\d{1,9}H)?(?:\d{1,9}M)?(?:\d{1,9}S)?)?$`)

// Put creates or updates a watchlist from the properties props (a JSON
// object). rawContent, when sent, replaces the items; without it an update
// keeps them, and a new watchlist needs it (its header names the columns).
// ifMatch is the etag the caller read ("" for unconditional, "*" for "must
// exist").
func (s *Watchlists) Put(ctx context.Context, alias string, props json.RawMessage, ifMatch string) (*Watchlist, bool, error) {
	if err := ValidAlias(alias); err != nil {
		return nil, false, err
	}
	in, err := decodeInput(props)
	if err != nil {
		return nil, false, err
	}
	var parsed *Parsed
	if in.RawContent != nil {
		if parsed, err = ParseCSV(*in.RawContent, in.ContentType, in.NumberOfLinesToSkip, *in.ItemsSearchKey); err != nil {
			return nil, false, err
		}
	}
	var w *Watchlist
	var created bool
	err = retry(alias, func() error {
		w, created, err = s.put(ctx, alias, in, parsed, docstore.IfMatch(ifMatch))
		return err
	})
	return w, created, err
}

func (s *Watchlists) put(ctx context.Context, alias string, in *input, parsed *Parsed, ifMatch string) (*Watchlist, bool, error) {
	cur, err := s.read(ctx, alias, parsed == nil)
	created := fault.KindOf(err) == fault.NotFound
	switch {
	case created && ifMatch == docstore.AnyVersion:
		return nil, false, docstore.Refusal(docstore.ErrNotFound, "watchlist", alias)
	case created && ifMatch != "":
		return nil, false, fault.New(fault.PreconditionFailed, "PreconditionFailed", "watchlist '%s' does not exist, so no etag can match", alias)
	case created && parsed == nil:
		return nil, false, bad("a new watchlist needs properties.rawContent with contentType %s: at least a header line naming its columns, itemsSearchKey among them", ContentTypeCSV)
	case created:
		if err := s.roomForOne(ctx); err != nil {
			return nil, false, err
		}
	case err != nil && !created:
		return nil, false, err
	case !created && ifMatch != "" && ifMatch != docstore.AnyVersion && ifMatch != cur.etag:
		return nil, false, docstore.Refusal(docstore.ErrConflict, "watchlist", alias)
	}
	now := s.now().UTC()
	p := Properties{
		WatchlistAlias: alias, DisplayName: *in.DisplayName, Provider: *in.Provider, Source: in.Source,
		SourceType: sourceTypeLocal, Description: in.Description, ItemsSearchKey: *in.ItemsSearchKey,
		ContentType: in.ContentType, NumberOfLinesToSkip: in.NumberOfLinesToSkip, Labels: in.Labels,
		DefaultDuration: in.DefaultDuration, Created: now, Updated: now, UploadStatus: "Complete", ProvisioningState: "Succeeded",
	}
	next := &state{}
	var old []string
	if created {
		p.WatchlistID = uuid.NewString()
	} else {
		p.WatchlistID, p.Created = cur.rec.Properties.WatchlistID, cur.rec.Properties.Created
		next.etag, old = cur.etag, cur.rec.Chunks
		if parsed == nil {
			// the items stay as they are, in the chunks that hold them
			next.ids, next.chunks = cur.ids, cur.chunks
			p.Columns = cur.rec.Properties.Columns
			if p.ContentType == "" {
				p.ContentType = cur.rec.Properties.ContentType
			}
			if !slices.Contains(p.Columns, p.ItemsSearchKey) {
				return nil, false, bad("properties.itemsSearchKey '%s' is not a column of watchlist '%s'; its columns are %s",
					fault.Shorten(p.ItemsSearchKey), alias, columnList(p.Columns))
			}
		}
	}
	if parsed != nil {
		p.Columns = parsed.Columns
		items := make([]storedItem, len(parsed.Rows))
		for i, row := range parsed.Rows {
			items[i] = storedItem{ID: uuid.NewString(), Etag: newEtag(), Values: row, Created: now, Updated: now}
		}
		next.replaceAll(items)
	}
	written, err := s.write(ctx, alias, record{Properties: p}, next, old)
	if err != nil {
		if errors.Is(err, errRaced) && ifMatch != "" && ifMatch != docstore.AnyVersion {
			return nil, false, docstore.Refusal(docstore.ErrConflict, "watchlist", alias)
		}
		return nil, false, err
	}
	p.ItemsCount = 0
	for _, c := range next.chunks {
		p.ItemsCount += len(c)
	}
	return s.watchlist(alias, written, p), created, nil
}

// roomForOne refuses a new watchlist in a workspace that has
// MaxWatchlists. Two created at once may both pass: the limit bounds work,
// it is not an invariant.
func (s *Watchlists) roomForOne(ctx context.Context) error {
	n, err := s.docs.Count(ctx, s.workspace, collWatchlists)
	if err != nil {
		return docstore.Refusal(err, "watchlist", "")
	}
	if n >= MaxWatchlists {
		return bad("the workspace has %d watchlists, the most it may have; delete one first", n)
	}
	return nil
}

func newEtag() string { return uuid.NewString() }

func (s *Watchlists) watchlist(alias, etag string, p Properties) *Watchlist {
	return &Watchlist{ID: s.idPrefix + alias, Name: alias, Type: ResourceType, Etag: docstore.QuoteETag(etag), Properties: p}
}

// Get returns a watchlist without its items.
func (s *Watchlists) Get(ctx context.Context, alias string) (*Watchlist, error) {
	if err := ValidAlias(alias); err != nil {
		return nil, err
	}
	st, err := s.read(ctx, alias, false)
	if err != nil {
		return nil, err
	}
	return s.watchlist(alias, st.etag, st.rec.Properties), nil
}

// List returns every watchlist, by alias, without items. It decrypts the
// watchlists' documents, not their items.
func (s *Watchlists) List(ctx context.Context) ([]Watchlist, error) {
	out := []Watchlist{}
	err := docstore.ListJSON(ctx, s.docs, s.workspace, collWatchlists, "watchlist", func(id, etag string, rec record) {
		out = append(out, *s.watchlist(id, etag, rec.Properties))
	})
	if err != nil {
		return nil, err
	}
	return out, nil // the store lists by ID
}

// Fingerprint changes whenever a watchlist is written or deleted (see
// docstore.Store.Fingerprint): what List answered stands while it is the
// same. It needs no key.
func (s *Watchlists) Fingerprint(ctx context.Context) (docstore.Digest, error) {
	return s.docs.Fingerprint(ctx, s.workspace, collWatchlists)
}

// Delete deletes a watchlist and its items; deleting one that does not
// exist is not an error, as in the cloud.
func (s *Watchlists) Delete(ctx context.Context, alias, ifMatch string) error {
	if err := ValidAlias(alias); err != nil {
		return err
	}
	ifMatch = docstore.IfMatch(ifMatch)
	return retry(alias, func() error {
		st, err := s.read(ctx, alias, false)
		switch {
		case fault.KindOf(err) == fault.NotFound && (ifMatch == "" || ifMatch == docstore.AnyVersion):
			return nil
		case err != nil:
			return err
		case ifMatch != "" && ifMatch != docstore.AnyVersion && ifMatch != st.etag:
			return docstore.Refusal(docstore.ErrConflict, "watchlist", alias)
		}
		writes := []docstore.Write{{Collection: collWatchlists, ID: alias, IfMatch: st.etag}}
		for _, id := range st.rec.Chunks {
			writes = append(writes, docstore.Write{Collection: collItems, ID: id})
		}
		_, err = s.docs.Batch(ctx, s.workspace, writes)
		switch {
		case errors.Is(err, docstore.ErrConflict), errors.Is(err, docstore.ErrNotFound):
			return errRaced
		case err != nil:
			return docstore.Refusal(err, "watchlist", alias)
		}
		return nil
	})
}

// Table is a watchlist's items by column, as _GetWatchlist returns them.
type Table struct {
	Columns   []string // the CSV's, in the header's order
	SearchKey int      // the index in Columns of itemsSearchKey
	Rows      []Row
}

// Row is one item.
type Row struct {
	ID      string
	Updated time.Time
	Values  []string // by Columns
}

// Table reads a watchlist's items, decrypting its documents only.
func (s *Watchlists) Table(ctx context.Context, alias string) (*Table, error) {
	if err := ValidAlias(alias); err != nil {
		return nil, err
	}
	var st *state
	err := retry(alias, func() (err error) {
		st, err = s.read(ctx, alias, true)
		return err
	})
	if err != nil {
		return nil, err
	}
	p := st.rec.Properties
	t := &Table{Columns: p.Columns, SearchKey: slices.Index(p.Columns, p.ItemsSearchKey), Rows: make([]Row, 0, p.ItemsCount)}
	for _, c := range st.chunks {
		for _, it := range c {
			t.Rows = append(t.Rows, Row{ID: it.ID, Updated: it.Updated, Values: it.Values})
		}
	}
	return t, nil
}
