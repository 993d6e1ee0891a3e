package kv_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
)

func TestDeletePrefixDeletesThoseKeysOnly(t *testing.T) {
	db, err := boltkv.Open(filepath.Join(t.TempDir(), "kv.db"), boltkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	keys := []string{"a/1", "ab/1", "b", "b/", "b/1", "b/2/x", "b0", "c/1"}
	err = db.Update(ctx, func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("t"))
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := b.Put([]byte(k), []byte("v")); err != nil {
				return err
			}
		}
		return kv.DeletePrefix(b, []byte("b/"))
	})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	err = db.View(ctx, func(tx kv.Tx) error {
		return tx.Bucket([]byte("t")).ForEach(func(k, _ []byte) error { left = append(left, string(k)); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a/1", "ab/1", "b", "b0", "c/1"}; !slices.Equal(left, want) {
		t.Errorf("keys left %q, want %q", left, want)
	}
}

func TestDeletePrefixRefusesANestedBucket(t *testing.T) {
	db, err := boltkv.Open(filepath.Join(t.TempDir(), "kv.db"), boltkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(context.Background(), func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("t"))
		if err != nil {
			return err
		}
		if _, err := b.CreateBucketIfNotExists([]byte("p/nested")); err != nil {
			return err
		}
		return kv.DeletePrefix(b, []byte("p/"))
	})
	if !errors.Is(err, kv.ErrIncompatibleValue) {
		t.Errorf("DeletePrefix over a nested bucket = %v, want ErrIncompatibleValue", err)
	}
}
