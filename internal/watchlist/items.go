package watchlist

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"

	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/jsonbody"
)

// itemType is the cloud's watchlistItemType of every item.
const itemType = "watchlist-item"

func (s *Watchlists) item(alias string, cols []string, it storedItem) *Item {
	kv := make(map[string]string, len(cols))
	for i, c := range cols {
		kv[c] = it.Values[i]
	}
	return &Item{
		ID: s.idPrefix + alias + "/watchlistItems/" + it.ID, Name: it.ID, Type: ItemResourceType, Etag: docstore.QuoteETag(it.Etag),
		Properties: ItemProperties{WatchlistItemID: it.ID, WatchlistItemType: itemType, ItemsKeyValue: kv, Created: it.Created, Updated: it.Updated},
	}
}

// Items returns a watchlist's items, in the order they were added.
func (s *Watchlists) Items(ctx context.Context, alias string) ([]Item, error) {
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
	items := st.items()
	out := make([]Item, len(items))
	for i, it := range items {
		out[i] = *s.item(alias, st.rec.Properties.Columns, it)
	}
	return out, nil
}

// GetItem returns one item of a watchlist.
func (s *Watchlists) GetItem(ctx context.Context, alias, id string) (*Item, error) {
	if err := ValidAlias(alias); err != nil {
		return nil, err
	}
	if err := validItemID(id); err != nil {
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
	c, i, ok := st.find(id)
	if !ok {
		return nil, itemNotFound(alias, id)
	}
	return s.item(alias, st.rec.Properties.Columns, st.chunks[c][i]), nil
}

func itemNotFound(alias, id string) error {
	return fault.New(fault.NotFound, "NotFound", "watchlist '%s' has no item '%s'", alias, fault.Shorten(id))
}

// PutItem creates or replaces an item from its properties (a JSON object
// with itemsKeyValue: a string value for columns of the watchlist; a column
// not given is empty). ifMatch is the item's etag as read, "*" or "".
func (s *Watchlists) PutItem(ctx context.Context, alias, id string, props json.RawMessage, ifMatch string) (*Item, bool, error) {
	if err := ValidAlias(alias); err != nil {
		return nil, false, err
	}
	if err := validItemID(id); err != nil {
		return nil, false, err
	}
	kv, err := decodeItem(props)
	if err != nil {
		return nil, false, err
	}
	ifMatch = docstore.IfMatch(ifMatch)
	var out *Item
	var created bool
	err = retry(alias, func() error {
		st, err := s.read(ctx, alias, true)
		if err != nil {
			return err
		}
		cols := st.rec.Properties.Columns
		values, err := itemValues(kv, cols)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		c, i, found := st.find(id)
		created = !found
		switch {
		case created && ifMatch == docstore.AnyVersion:
			return itemNotFound(alias, id)
		case created && ifMatch != "":
			return fault.New(fault.PreconditionFailed, "PreconditionFailed", "watchlist '%s' has no item '%s', so no etag can match", alias, fault.Shorten(id))
		case !created && ifMatch != "" && ifMatch != docstore.AnyVersion && ifMatch != st.chunks[c][i].Etag:
			return fault.New(fault.PreconditionFailed, "PreconditionFailed",
				"item '%s' of watchlist '%s' changed since you read it; read it again and retry with its new etag", fault.Shorten(id), alias)
		}
		it := storedItem{ID: id, Etag: newEtag(), Values: values, Created: now, Updated: now}
		if created {
			st.add(it)
		} else {
			it.Created = st.chunks[c][i].Created
			items := slices.Clone(st.chunks[c])
			items[i] = it
			st.change(c, items)
		}
		rec := st.rec
		rec.Properties.Updated = now
		if _, err := s.write(ctx, alias, rec, st, st.rec.Chunks); err != nil {
			return err
		}
		out = s.item(alias, cols, it)
		return nil
	})
	return out, created, err
}

// DeleteItem deletes an item; deleting one that does not exist is not an
// error, as in the cloud.
func (s *Watchlists) DeleteItem(ctx context.Context, alias, id, ifMatch string) error {
	if err := ValidAlias(alias); err != nil {
		return err
	}
	if err := validItemID(id); err != nil {
		return err
	}
	ifMatch = docstore.IfMatch(ifMatch)
	return retry(alias, func() error {
		st, err := s.read(ctx, alias, true)
		if err != nil {
			return err
		}
		c, i, found := st.find(id)
		switch {
		case !found && (ifMatch == "" || ifMatch == docstore.AnyVersion):
			return nil // the read needed the key: a revoked key refused it
		case !found:
			return itemNotFound(alias, id)
		case ifMatch != "" && ifMatch != docstore.AnyVersion && ifMatch != st.chunks[c][i].Etag:
			return fault.New(fault.PreconditionFailed, "PreconditionFailed",
				"item '%s' of watchlist '%s' changed since you read it; read it again and retry with its new etag", fault.Shorten(id), alias)
		}
		st.change(c, slices.Delete(slices.Clone(st.chunks[c]), i, i+1))
		rec := st.rec
		rec.Properties.Updated = s.now().UTC()
		_, err = s.write(ctx, alias, rec, st, st.rec.Chunks)
		return err
	})
}

// decodeItem reads an item's properties: itemsKeyValue, an object of
// strings. The fields the server sets are accepted and ignored.
func decodeItem(props json.RawMessage) (map[string]json.RawMessage, error) {
	if t := bytes.TrimSpace(props); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil, bad(`the item has no properties; send {"properties":{"itemsKeyValue":{"column":"value",…}}}`)
	}
	var in struct {
		ItemsKeyValue     map[string]json.RawMessage `json:"itemsKeyValue"`
		WatchlistItemID   json.RawMessage            `json:"watchlistItemId"`
		WatchlistItemType json.RawMessage            `json:"watchlistItemType"`
		Created           json.RawMessage            `json:"created"`
		Updated           json.RawMessage            `json:"updated"`
		CreatedBy         json.RawMessage            `json:"createdBy"`
		UpdatedBy         json.RawMessage            `json:"updatedBy"`
		TenantID          json.RawMessage            `json:"tenantId"`
		IsDeleted         json.RawMessage            `json:"isDeleted"`
		EntityMapping     json.RawMessage            `json:"entityMapping"`
	}
	if err := jsonbody.DecodeStrict(props, &in); err != nil {
		return nil, bad("properties: %s", jsonbody.Message(err, "see docs/api.md for the fields a watchlist item has"))
	}
	if len(in.ItemsKeyValue) == 0 {
		return nil, bad(`properties.itemsKeyValue is required: an object of the item's values by column, such as {"IPAddress":"203.0.113.7"}`)
	}
	return in.ItemsKeyValue, nil
}

// itemValues orders an item's values by the watchlist's columns, refusing
// a column it does not have and a value that is not a string.
func itemValues(kv map[string]json.RawMessage, cols []string) ([]string, error) {
	for k := range kv {
		if !slices.Contains(cols, k) {
			return nil, bad("properties.itemsKeyValue names column '%s', which the watchlist does not have; its columns are %s", fault.Shorten(k), columnList(cols))
		}
	}
	values := make([]string, len(cols))
	for i, c := range cols {
		raw, ok := kv[c]
		if !ok {
			continue
		}
		if err := json.Unmarshal(raw, &values[i]); err != nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return nil, bad("properties.itemsKeyValue.%s must be a JSON string (watchlist values are text), not %s", fault.Shorten(c), jsonKind(raw))
		}
	}
	if err := checkRow(values, cols, "the item"); err != nil {
		return nil, err
	}
	return values, nil
}

// jsonKind names the kind of a JSON value, for a message that does not
// repeat the value.
func jsonKind(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}
