package kv

import (
	"bytes"
	"slices"
)

// DeletePrefix deletes from b every value whose key begins with prefix: the
// records under one name when keys are paths, such as a purged vault's. A
// nested bucket under prefix is an error (ErrIncompatibleValue).
func DeletePrefix(b Bucket, prefix []byte) error {
	// The keys are collected first: a cursor is not moved across keys
	// deleted under it.
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, slices.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
