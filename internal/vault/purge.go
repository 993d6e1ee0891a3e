package vault

import (
	"context"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// PurgeExpired purges, for good, every deleted vault (with its keys) and every
// deleted key whose scheduled purge date has come, and returns how many it
// purged. Purge protection does not stop it: the scheduled date is the end
// of the retention that purge protection guarantees.
func (s *Service) PurgeExpired(ctx context.Context) (int, error) {
	now := s.now()
	type purged struct{ vault, key string } // key "" = the whole vault
	var done []purged
	err := s.db.Update(ctx, func(tx kv.Tx) error {
		var todo []purged
		err := tx.Bucket(bucketVaults).ForEach(func(id, _ []byte) error {
			var vrec vaultRecord
			if _, err := getJSON(tx.Bucket(bucketVaults), id, &vrec); err != nil {
				return err
			}
			if vrec.Deleted != nil && !now.Before(vrec.Deleted.ScheduledPurge) {
				todo = append(todo, purged{vault: vrec.Name})
				return nil
			}
			return eachKey(tx, vrec.Name, func(k *keyRecord, _ *versionRecord) {
				if k.Deleted != nil && !now.Before(k.Deleted.ScheduledPurge) {
					todo = append(todo, purged{vault: vrec.Name, key: k.Name})
				}
			})
		})
		if err != nil {
			return err
		}
		for _, p := range todo {
			if p.key == "" {
				err = purgeVaultTx(tx, p.vault)
			} else {
				err = purgeKeyTx(tx, p.vault, p.key)
			}
			if err != nil {
				return err
			}
		}
		done = todo
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, p := range done {
		if p.key == "" {
			s.cache.dropPrefix(string(vaultID(p.vault)) + "/")
			s.log.Info("vault purged at the end of its retention", "vault", p.vault)
		} else {
			s.cache.dropPrefix(string(versionPrefix(p.vault, p.key)))
			s.log.Info("key purged at the end of its retention", "vault", p.vault, "key", p.key)
		}
	}
	return len(done), nil
}

// RunPurgeScheduler calls PurgeExpired now and every Options.PurgeCheckInterval
// until ctx ends, then returns nil.
func (s *Service) RunPurgeScheduler(ctx context.Context) error {
	return s.every(ctx, s.opts.PurgeCheckInterval, "purge", s.PurgeExpired)
}
