package vault

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv"

	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/keyevents"
)

// SKU is a vault's pricing tier. Both tiers behave the same here.
type SKU struct {
	Family string `json:"family"` // always "A"
	Name   string `json:"name"`   // "standard" or "premium"
}

// AccessPolicy grants one principal key permissions on a vault.
type AccessPolicy struct {
	TenantID    string      `json:"tenantId"`
	ObjectID    string      `json:"objectId"`
	Permissions Permissions `json:"permissions"`
}

// Permissions lists key permissions (see the Perm constants). Secrets and
// certificates are not served, so only keys appear.
type Permissions struct {
	Keys []string `json:"keys"`
}

// VaultParameters is the body of a create-or-update (ARM PUT). Pointers
// distinguish "absent, keep the current value" from an explicit value.
type VaultParameters struct {
	Location   string                `json:"location"`
	Tags       map[string]string     `json:"tags,omitempty"`
	Properties VaultCreateProperties `json:"properties"`
}

// VaultCreateProperties are the settable vault properties.
type VaultCreateProperties struct {
	TenantID                  string         `json:"tenantId"`
	SKU                       *SKU           `json:"sku,omitempty"`
	AccessPolicies            []AccessPolicy `json:"accessPolicies,omitempty"` // nil keeps them on update
	EnableSoftDelete          *bool          `json:"enableSoftDelete,omitempty"`
	SoftDeleteRetentionInDays *int           `json:"softDeleteRetentionInDays,omitempty"`
	EnablePurgeProtection     *bool          `json:"enablePurgeProtection,omitempty"`
	CreateMode                string         `json:"createMode,omitempty"` // "default" or "recover"
}

// Vault is a Microsoft.KeyVault/vaults resource.
type Vault struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties VaultProperties   `json:"properties"`
}

// VaultProperties are a vault's properties as the cloud returns them.
type VaultProperties struct {
	TenantID                  string         `json:"tenantId"`
	SKU                       SKU            `json:"sku"`
	AccessPolicies            []AccessPolicy `json:"accessPolicies"`
	VaultURI                  string         `json:"vaultUri"`
	EnableSoftDelete          bool           `json:"enableSoftDelete"`
	SoftDeleteRetentionInDays int            `json:"softDeleteRetentionInDays"`
	EnablePurgeProtection     bool           `json:"enablePurgeProtection"`
	ProvisioningState         string         `json:"provisioningState"`
}

// DeletedVault is a Microsoft.KeyVault/deletedVaults resource.
type DeletedVault struct {
	ID         string                 `json:"id"`
	Name       string                 `json:"name"`
	Type       string                 `json:"type"`
	Properties DeletedVaultProperties `json:"properties"`
}

// DeletedVaultProperties say when a deleted vault goes for good.
type DeletedVaultProperties struct {
	VaultID                string            `json:"vaultId"`
	Location               string            `json:"location"`
	DeletionDate           time.Time         `json:"deletionDate"`
	ScheduledPurgeDate     time.Time         `json:"scheduledPurgeDate"`
	Tags                   map[string]string `json:"tags,omitempty"`
	PurgeProtectionEnabled bool              `json:"purgeProtectionEnabled"`
}

// PolicyUpdateKind is the {operationKind} of an access policy update.
type PolicyUpdateKind string

const (
	PolicyAdd     PolicyUpdateKind = "add"     // merge permissions into each principal's entry
	PolicyReplace PolicyUpdateKind = "replace" // set each listed principal's permissions
	PolicyRemove  PolicyUpdateKind = "remove"  // take the listed permissions away; drop emptied entries
)

const (
	defaultRetentionDays = 90
	minRetentionDays     = 7
	maxRetentionDays     = 90
	maxAccessPolicies    = 1024
	maxResourceTags      = 50
)

type vaultRecord struct {
	Name            string            `json:"name"`
	SubscriptionID  string            `json:"subscriptionId"`
	ResourceGroup   string            `json:"resourceGroup"`
	Location        string            `json:"location"`
	Tags            map[string]string `json:"tags,omitempty"`
	TenantID        string            `json:"tenantId"`
	SKU             SKU               `json:"sku"`
	AccessPolicies  []AccessPolicy    `json:"accessPolicies"`
	RetentionDays   int               `json:"retentionDays"`
	PurgeProtection bool              `json:"purgeProtection"`
	Created         time.Time         `json:"created"`
	Updated         time.Time         `json:"updated"`
	Deleted         *deletion         `json:"deleted,omitempty"`
}

func (r *vaultRecord) resourceID() string {
	return "/subscriptions/" + r.SubscriptionID + "/resourceGroups/" + r.ResourceGroup +
		"/providers/Microsoft.KeyVault/vaults/" + r.Name
}

// recoveryLevel is the cloud's DeletionRecoveryLevel for objects in this
// vault: "Customized" below the 90-day default retention, "+Purgeable"
// unless purge protection forbids purging before the retention ends.
func (r *vaultRecord) recoveryLevel() string {
	level := "Recoverable"
	if r.RetentionDays < defaultRetentionDays {
		level = "CustomizedRecoverable"
	}
	if !r.PurgeProtection {
		level += "+Purgeable"
	}
	return level
}

func (s *Service) toVault(r *vaultRecord) *Vault {
	return &Vault{
		ID: r.resourceID(), Name: r.Name, Type: "Microsoft.KeyVault/vaults",
		Location: r.Location, Tags: r.Tags,
		Properties: VaultProperties{
			TenantID: r.TenantID, SKU: r.SKU, AccessPolicies: slices.Clone(r.AccessPolicies),
			VaultURI: s.VaultURI(r.Name), EnableSoftDelete: true,
			SoftDeleteRetentionInDays: r.RetentionDays, EnablePurgeProtection: r.PurgeProtection,
			ProvisioningState: "Succeeded",
		},
	}
}

func toDeletedVault(r *vaultRecord) *DeletedVault {
	return &DeletedVault{
		ID: "/subscriptions/" + r.SubscriptionID + "/providers/Microsoft.KeyVault/locations/" +
			r.Location + "/deletedVaults/" + r.Name,
		Name: r.Name, Type: "Microsoft.KeyVault/deletedVaults",
		Properties: DeletedVaultProperties{
			VaultID: r.resourceID(), Location: r.Location, DeletionDate: r.Deleted.Date,
			ScheduledPurgeDate: r.Deleted.ScheduledPurge, Tags: r.Tags, PurgeProtectionEnabled: r.PurgeProtection,
		},
	}
}

// CreateOrUpdateVault creates the vault, updates it, or (with createMode
// "recover") brings a soft-deleted vault back with its keys. Vault names are
// global, as host names are: a name in use in another subscription or
// resource group, or reserved by a soft-deleted vault, is refused.
func (s *Service) CreateOrUpdateVault(ctx context.Context, subscriptionID, resourceGroup, name string, in VaultParameters) (*Vault, error) {
	if err := validateVaultName(name); err != nil {
		return nil, err
	}
	if subscriptionID == "" || resourceGroup == "" {
		return nil, badParam(InnerInvalidValue, "a vault needs a subscription ID and a resource group")
	}
	mode := strings.ToLower(in.Properties.CreateMode)
	if mode != "" && mode != "default" && mode != "recover" {
		return nil, badParam(InnerInvalidValue, "createMode '%s' is not valid; use 'default' or 'recover'", printable(in.Properties.CreateMode))
	}
	now := s.now()
	var out *Vault
	var created, policiesChanged bool
	var stored vaultRecord
	err := s.db.Update(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(bucketVaults)
		var rec vaultRecord
		found, err := getJSON(b, vaultID(name), &rec)
		if err != nil {
			return err
		}
		switch {
		case mode == "recover":
			if !found || rec.Deleted == nil {
				return newError(fault.NotFound, CodeVaultNotFound, InnerDeletedObjectNotFound,
					"no deleted vault named '%s' to recover; list deleted vaults with `sealwatch keyvault list-deleted`", name)
			}
			if !strings.EqualFold(rec.SubscriptionID, subscriptionID) {
				return conflict(InnerVaultAlreadyExists, "the deleted vault '%s' belongs to another subscription; recover it there", name)
			}
			rec.Deleted, rec.Updated, rec.ResourceGroup = nil, now, resourceGroup
		case found && rec.Deleted != nil:
			return conflict(InnerObjectIsDeletedButRecoverable,
				"vault '%s' is deleted and its name is reserved until %s; recover it (createMode 'recover', "+
					"`sealwatch keyvault recover --name %s`) or purge it (`sealwatch keyvault purge --name %s`)",
				name, rec.Deleted.ScheduledPurge.Format(time.RFC3339), name, name)
		case found && (!strings.EqualFold(rec.SubscriptionID, subscriptionID) || !strings.EqualFold(rec.ResourceGroup, resourceGroup)):
			return conflict(InnerVaultAlreadyExists,
				"the vault name '%s' is already in use (vault names are global, like host names); choose another name", name)
		case found:
			if err := s.applyVaultParameters(&rec, in, false); err != nil {
				return err
			}
			rec.Updated = now
		default:
			rec = vaultRecord{Name: name, SubscriptionID: subscriptionID, ResourceGroup: resourceGroup, Created: now, Updated: now}
			if err := s.applyVaultParameters(&rec, in, true); err != nil {
				return err
			}
			created = true
		}
		if err := putJSON(b, vaultID(name), &rec); err != nil {
			return err
		}
		out, stored = s.toVault(&rec), rec
		policiesChanged = !created && mode != "recover" && in.Properties.AccessPolicies != nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	switch {
	case mode == "recover":
		s.log.Info("vault recovered", "vault", out.Name)
	case created:
		s.log.Info("vault created", "vault", out.Name, "purgeProtection", out.Properties.EnablePurgeProtection,
			"retentionDays", out.Properties.SoftDeleteRetentionInDays)
	default:
		s.log.Info("vault updated", "vault", out.Name)
	}
	if policiesChanged {
		s.emitVault(keyevents.VaultAccessPolicyChanged, &stored)
	}
	return out, nil
}

// applyVaultParameters validates in against the rules the cloud enforces and
// folds it into rec. Soft delete is always on; retention is fixed at
// creation; purge protection, once on, stays on.
func (s *Service) applyVaultParameters(rec *vaultRecord, in VaultParameters, isNew bool) error {
	p := in.Properties
	if p.EnableSoftDelete != nil && !*p.EnableSoftDelete {
		return badParam(InnerSoftDeleteRequired,
			"soft delete cannot be turned off: every vault keeps deleted objects for its retention period; omit enableSoftDelete or set it to true")
	}
	switch {
	case in.Location != "" && !isNew && !strings.EqualFold(in.Location, rec.Location):
		return badParam(InnerInvalidValue, "a vault's location cannot change (it is '%s')", rec.Location)
	case in.Location == "" && isNew:
		return badParam(InnerInvalidValue, "a location is required to create a vault")
	case isNew:
		rec.Location = in.Location
	}
	switch {
	case p.TenantID != "":
		rec.TenantID = p.TenantID
	case isNew:
		return badParam(InnerInvalidValue, "properties.tenantId is required to create a vault")
	}
	if p.SKU != nil {
		sku, err := canonicalSKU(*p.SKU)
		if err != nil {
			return err
		}
		rec.SKU = sku
	} else if isNew {
		rec.SKU = SKU{Family: "A", Name: "standard"}
	}
	if p.SoftDeleteRetentionInDays != nil {
		days := *p.SoftDeleteRetentionInDays
		if days < minRetentionDays || days > maxRetentionDays {
			return badParam(InnerRetentionOutOfRange, "softDeleteRetentionInDays must be between %d and %d; %d was given",
				minRetentionDays, maxRetentionDays, days)
		}
		if !isNew && days != rec.RetentionDays {
			return badParam(InnerRetentionImmutable,
				"softDeleteRetentionInDays cannot change after a vault is created (it is %d); omit it or pass %d",
				rec.RetentionDays, rec.RetentionDays)
		}
		rec.RetentionDays = days
	} else if isNew {
		rec.RetentionDays = defaultRetentionDays
	}
	if p.EnablePurgeProtection != nil {
		if rec.PurgeProtection && !*p.EnablePurgeProtection {
			return badParam(InnerPurgeProtectionIrreversible,
				"purge protection cannot be turned off once it is on: it guarantees deleted keys survive their whole retention period; omit enablePurgeProtection or set it to true")
		}
		rec.PurgeProtection = *p.EnablePurgeProtection
	}
	if len(in.Tags) > maxResourceTags {
		return badParam(InnerInvalidValue, "%d tags given; a vault may have at most %d", len(in.Tags), maxResourceTags)
	}
	if in.Tags != nil {
		rec.Tags = in.Tags
	}
	if p.AccessPolicies != nil || isNew {
		policies, err := s.normalizePolicies(rec.TenantID, p.AccessPolicies, true)
		if err != nil {
			return err
		}
		rec.AccessPolicies = policies
	}
	return nil
}

func canonicalSKU(in SKU) (SKU, error) {
	if in.Family != "" && !strings.EqualFold(in.Family, "A") {
		return SKU{}, badParam(InnerInvalidValue, "sku family '%s' is not valid; use 'A'", printable(in.Family))
	}
	name := strings.ToLower(in.Name)
	if name != "standard" && name != "premium" {
		return SKU{}, badParam(InnerInvalidValue, "sku name '%s' is not valid; use 'standard' or 'premium'", printable(in.Name))
	}
	return SKU{Family: "A", Name: name}, nil
}

// normalizePolicies validates entries and canonicalises their permissions.
// An empty tenant ID means the vault's tenant; another tenant must be a
// trusted one. Entries must name distinct principals when unique is set (a
// vault's stored list).
func (s *Service) normalizePolicies(tenantID string, in []AccessPolicy, unique bool) ([]AccessPolicy, error) {
	if len(in) > maxAccessPolicies {
		return nil, badParam(InnerInvalidValue, "%d access policies given; a vault may have at most %d", len(in), maxAccessPolicies)
	}
	out := make([]AccessPolicy, 0, len(in))
	for _, p := range in {
		if p.ObjectID == "" {
			return nil, badParam(InnerInvalidValue, "every access policy needs an objectId")
		}
		if p.TenantID == "" {
			p.TenantID = tenantID
		}
		if !strings.EqualFold(p.TenantID, tenantID) && !slices.ContainsFunc(s.opts.TrustedTenants, func(t string) bool { return strings.EqualFold(t, p.TenantID) }) {
			return nil, badParam(InnerInvalidValue,
				"the access policy for object '%s' names tenant '%s'; policies must use the vault's tenant '%s' or a tenant whose issuer this server trusts (sealwatch vault serve --trust)",
				printable(p.ObjectID), printable(p.TenantID), tenantID)
		}
		perms, err := canonicalPermissions(p.Permissions.Keys)
		if err != nil {
			return nil, err
		}
		p.Permissions.Keys = perms
		if unique && findPolicy(out, p.TenantID, p.ObjectID) >= 0 {
			return nil, badParam(InnerInvalidValue, "object '%s' appears in more than one access policy; merge them into one", printable(p.ObjectID))
		}
		out = append(out, p)
	}
	return out, nil
}

func findPolicy(policies []AccessPolicy, tenantID, objectID string) int {
	return slices.IndexFunc(policies, func(p AccessPolicy) bool {
		return strings.EqualFold(p.TenantID, tenantID) && strings.EqualFold(p.ObjectID, objectID)
	})
}

// GetVault returns a live vault; a soft-deleted one is VaultNotFound (see
// GetDeletedVault).
func (s *Service) GetVault(ctx context.Context, name string) (*Vault, error) {
	var out *Vault
	err := s.db.View(ctx, func(tx kv.Tx) error {
		rec, err := liveVault(tx, name)
		if err != nil {
			return err
		}
		out = s.toVault(rec)
		return nil
	})
	return out, err
}

func liveVault(tx kv.Tx, name string) (*vaultRecord, error) {
	var rec vaultRecord
	found, err := getJSON(tx.Bucket(bucketVaults), vaultID(name), &rec)
	if err != nil {
		return nil, err
	}
	if !found || rec.Deleted != nil {
		return nil, vaultNotFound(printable(name))
	}
	return &rec, nil
}

// ListVaults returns live vaults sorted by name, filtered by subscription and
// resource group when those are not empty.
func (s *Service) ListVaults(ctx context.Context, subscriptionID, resourceGroup string) ([]Vault, error) {
	out := []Vault{}
	err := s.eachVault(ctx, func(rec *vaultRecord) {
		if rec.Deleted == nil && (subscriptionID == "" || strings.EqualFold(subscriptionID, rec.SubscriptionID)) &&
			(resourceGroup == "" || strings.EqualFold(resourceGroup, rec.ResourceGroup)) {
			out = append(out, *s.toVault(rec))
		}
	})
	return out, err
}

// ListDeletedVaults returns soft-deleted vaults sorted by name, filtered by
// subscription when it is not empty.
func (s *Service) ListDeletedVaults(ctx context.Context, subscriptionID string) ([]DeletedVault, error) {
	out := []DeletedVault{}
	err := s.eachVault(ctx, func(rec *vaultRecord) {
		if rec.Deleted != nil && (subscriptionID == "" || strings.EqualFold(subscriptionID, rec.SubscriptionID)) {
			out = append(out, *toDeletedVault(rec))
		}
	})
	return out, err
}

// eachVault visits every vault record in name order (kv keeps keys sorted).
func (s *Service) eachVault(ctx context.Context, fn func(*vaultRecord)) error {
	return s.db.View(ctx, func(tx kv.Tx) error {
		return tx.Bucket(bucketVaults).ForEach(func(k, _ []byte) error {
			var rec vaultRecord
			if _, err := getJSON(tx.Bucket(bucketVaults), k, &rec); err != nil {
				return err
			}
			fn(&rec)
			return nil
		})
	})
}

// GetDeletedVault returns a soft-deleted vault.
func (s *Service) GetDeletedVault(ctx context.Context, name string) (*DeletedVault, error) {
	var out *DeletedVault
	err := s.db.View(ctx, func(tx kv.Tx) error {
		rec, err := deletedVault(tx, name)
		if err != nil {
			return err
		}
		out = toDeletedVault(rec)
		return nil
	})
	return out, err
}

func deletedVault(tx kv.Tx, name string) (*vaultRecord, error) {
	var rec vaultRecord
	found, err := getJSON(tx.Bucket(bucketVaults), vaultID(name), &rec)
	if err != nil {
		return nil, err
	}
	if !found || rec.Deleted == nil {
		return nil, newError(fault.NotFound, CodeVaultNotFound, InnerDeletedObjectNotFound,
			"no deleted vault named '%s'; list deleted vaults with `sealwatch keyvault list-deleted`", printable(name))
	}
	return &rec, nil
}

// DeleteVault soft-deletes a vault: it and its keys stay, unreachable, and
// its name stays reserved until the retention period ends or it is purged.
func (s *Service) DeleteVault(ctx context.Context, name string) error {
	now := s.now()
	var purgeAt time.Time
	var rec *vaultRecord
	err := s.db.Update(ctx, func(tx kv.Tx) error {
		var err error
		rec, err = liveVault(tx, name)
		if err != nil {
			return err
		}
		purgeAt = now.AddDate(0, 0, rec.RetentionDays)
		rec.Deleted = &deletion{Date: now, ScheduledPurge: purgeAt}
		return putJSON(tx.Bucket(bucketVaults), vaultID(name), rec)
	})
	if err != nil {
		return err
	}
	s.cache.dropPrefix(string(vaultID(name)) + "/")
	s.log.Info("vault deleted", "vault", name, "scheduledPurgeDate", purgeAt)
	s.emitVault(keyevents.VaultDeleted, rec)
	return nil
}

// PurgeVault deletes a soft-deleted vault and all its keys for good. Under
// purge protection that is refused until the scheduled purge date, when the
// purge scheduler does it anyway.
func (s *Service) PurgeVault(ctx context.Context, name string) error {
	now := s.now()
	err := s.db.Update(ctx, func(tx kv.Tx) error {
		rec, err := deletedVault(tx, name)
		if err != nil {
			return err
		}
		if rec.PurgeProtection && now.Before(rec.Deleted.ScheduledPurge) {
			return conflict(InnerPurgeProtectionEnabled,
				"vault '%s' has purge protection: it cannot be purged before %s, when it is purged automatically; "+
					"recover it with `sealwatch keyvault recover --name %s` if it was deleted by mistake",
				rec.Name, rec.Deleted.ScheduledPurge.Format(time.RFC3339), rec.Name)
		}
		return purgeVaultTx(tx, name)
	})
	if err != nil {
		return err
	}
	s.cache.dropPrefix(string(vaultID(name)) + "/")
	s.log.Info("vault purged", "vault", name)
	return nil
}

// purgeVaultTx removes a vault record and everything stored under it.
func purgeVaultTx(tx kv.Tx, name string) error {
	if err := tx.Bucket(bucketVaults).Delete(vaultID(name)); err != nil {
		return err
	}
	return deletePrefix(tx, append(vaultID(name), '/'), bucketKeys, bucketVersions, bucketMaterial)
}

// deletePrefix deletes every key starting with prefix from the buckets.
func deletePrefix(tx kv.Tx, prefix []byte, buckets ...[]byte) error {
	for _, name := range buckets {
		if err := kv.DeletePrefix(tx.Bucket(name), prefix); err != nil {
			return err
		}
	}
	return nil
}

// UpdateAccessPolicies adds, replaces or removes access policy entries on
// their own, without a full vault PUT, and returns the vault's resulting
// policies. add merges permissions into a principal's entry (creating it);
// replace sets a principal's permissions to exactly those given (an empty
// list drops the entry); remove takes the listed permissions away and drops
// the entry when none remain or when no permissions are listed.
func (s *Service) UpdateAccessPolicies(ctx context.Context, vault string, kind PolicyUpdateKind, policies []AccessPolicy) ([]AccessPolicy, error) {
	switch kind {
	case PolicyAdd, PolicyReplace, PolicyRemove:
	default:
		return nil, badParam(InnerInvalidValue, "access policy operation '%s' is not valid; use add, replace or remove", printable(string(kind)))
	}
	var out []AccessPolicy
	var rec *vaultRecord
	err := s.db.Update(ctx, func(tx kv.Tx) error {
		var err error
		rec, err = liveVault(tx, vault)
		if err != nil {
			return err
		}
		changes, err := s.normalizePolicies(rec.TenantID, policies, false)
		if err != nil {
			return err
		}
		current := rec.AccessPolicies
		for _, c := range changes {
			i := findPolicy(current, c.TenantID, c.ObjectID)
			switch {
			case kind == PolicyAdd && i >= 0:
				merged, _ := canonicalPermissions(append(slices.Clone(current[i].Permissions.Keys), c.Permissions.Keys...))
				current[i].Permissions.Keys = merged
			case kind == PolicyAdd || (kind == PolicyReplace && i < 0):
				if len(c.Permissions.Keys) > 0 {
					current = append(current, c)
				}
			case kind == PolicyReplace:
				current[i].Permissions.Keys = c.Permissions.Keys
				if len(c.Permissions.Keys) == 0 {
					current = slices.Delete(current, i, i+1)
				}
			case kind == PolicyRemove && i >= 0:
				left := removePermissions(current[i].Permissions.Keys, c.Permissions.Keys)
				if len(c.Permissions.Keys) == 0 || len(left) == 0 {
					current = slices.Delete(current, i, i+1)
				} else {
					current[i].Permissions.Keys = left
				}
			}
		}
		if len(current) > maxAccessPolicies {
			return badParam(InnerInvalidValue, "a vault may have at most %d access policies", maxAccessPolicies)
		}
		rec.AccessPolicies = current
		rec.Updated = s.now()
		out = slices.Clone(current)
		return putJSON(tx.Bucket(bucketVaults), vaultID(vault), rec)
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("vault access policies updated", "vault", vault, "operation", string(kind), "entries", len(policies))
	s.emitVault(keyevents.VaultAccessPolicyChanged, rec)
	return out, nil
}

// removePermissions returns have minus remove. Removing one permission from
// an entry holding "all" expands "all" first, so "remove get" really takes
// get away.
func removePermissions(have, remove []string) []string {
	if slices.Contains(have, PermAll) && !slices.Contains(remove, PermAll) {
		have = slices.DeleteFunc(slices.Clone(keyPermissions), func(p string) bool { return p == PermAll })
	}
	return slices.DeleteFunc(slices.Clone(have), func(p string) bool { return slices.Contains(remove, p) })
}

// Authorize reports whether the principal (tenantID, objectID) holds the key
// permission on vault, reading the policies afresh so that a change applies
// to the very next request. A refusal is a *ForbiddenError.
func (s *Service) Authorize(ctx context.Context, vault, tenantID, objectID, permission string) error {
	perm := canonicalPermission(permission)
	if perm == "" {
		return badParam(InnerInvalidPermission, "'%s' is not a key permission", printable(permission))
	}
	return s.db.View(ctx, func(tx kv.Tx) error {
		rec, err := liveVault(tx, vault)
		if err != nil {
			return err
		}
		if i := findPolicy(rec.AccessPolicies, tenantID, objectID); i >= 0 {
			keys := rec.AccessPolicies[i].Permissions.Keys
			if slices.Contains(keys, perm) || slices.Contains(keys, PermAll) {
				return nil
			}
		}
		return &ForbiddenError{Vault: rec.Name, TenantID: tenantID, ObjectID: objectID, Permission: perm}
	})
}
