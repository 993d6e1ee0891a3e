package vault

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// Lifetime action types.
const (
	ActionRotate = "Rotate"
	ActionNotify = "Notify"
)

type policyRecord struct {
	LifetimeActions []LifetimeAction `json:"lifetimeActions"`
	ExpiryTime      string           `json:"expiryTime,omitempty"`
	Created         time.Time        `json:"created"`
	Updated         time.Time        `json:"updated"`
}

// defaultPolicy is what the cloud reports for a key whose policy was never
// set: notify 30 days before expiry, never rotate.
func defaultPolicy() []LifetimeAction {
	return []LifetimeAction{{Trigger: LifetimeActionTrigger{TimeBeforeExpiry: "P30D"}, Action: LifetimeActionType{Type: ActionNotify}}}
}

func (s *Service) policyView(vault, name string, p *policyRecord) *RotationPolicy {
	out := &RotationPolicy{ID: s.keyURI(vault, name) + "/rotationpolicy", LifetimeActions: defaultPolicy(), Attributes: &RotationPolicyAttributes{}}
	if p != nil {
		created, updated := p.Created.Unix(), p.Updated.Unix()
		out.LifetimeActions = p.LifetimeActions
		out.Attributes = &RotationPolicyAttributes{ExpiryTime: p.ExpiryTime, Created: &created, Updated: &updated}
	}
	return out
}

// GetRotationPolicy returns the key's rotation policy, or the default one
// when none was set.
func (s *Service) GetRotationPolicy(ctx context.Context, vault, name string) (*RotationPolicy, error) {
	var out *RotationPolicy
	err := s.db.View(ctx, func(tx kv.Tx) error {
		st, err := loadKey(tx, vault, name, "")
		if err != nil {
			return err
		}
		out = s.policyView(st.vault.Name, st.key.Name, st.key.Policy)
		return nil
	})
	return out, err
}

// SetRotationPolicy replaces the key's rotation policy. Durations are ISO 8601;
// at most one action may rotate; timeAfterCreate and expiryTime must be at
// least Options.MinRotationInterval (7 days unless lowered). An empty policy
// (no actions, no expiryTime) restores the default.
func (s *Service) SetRotationPolicy(ctx context.Context, vault, name string, p RotationPolicy) (*RotationPolicy, error) {
	now := s.now()
	actions, expiry, err := s.validatePolicy(p, now)
	if err != nil {
		return nil, err
	}
	var out *RotationPolicy
	err = s.db.Update(ctx, func(tx kv.Tx) error {
		st, err := loadKey(tx, vault, name, "")
		if err != nil {
			return err
		}
		switch {
		case len(actions) == 0 && expiry == "":
			st.key.Policy = nil
		case st.key.Policy == nil:
			st.key.Policy = &policyRecord{LifetimeActions: actions, ExpiryTime: expiry, Created: now, Updated: now}
		default:
			st.key.Policy.LifetimeActions, st.key.Policy.ExpiryTime, st.key.Policy.Updated = actions, expiry, now
		}
		out = s.policyView(st.vault.Name, st.key.Name, st.key.Policy)
		return putJSON(tx.Bucket(bucketKeys), keyID(vault, name), st.key)
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("key rotation policy set", "vault", vault, "key", name, "actions", len(actions), "expiryTime", expiry)
	return out, nil
}

func (s *Service) validatePolicy(p RotationPolicy, now time.Time) ([]LifetimeAction, string, error) {
	min := s.opts.MinRotationInterval
	var expiry *isoDuration
	var expiryText string
	if p.Attributes != nil && p.Attributes.ExpiryTime != "" {
		d, err := parseISODuration(p.Attributes.ExpiryTime)
		if err != nil {
			return nil, "", err
		}
		if d.addTo(now).Before(now.Add(min)) {
			return nil, "", badParam(InnerInvalidValue, "expiryTime %s is shorter than the minimum of %s", p.Attributes.ExpiryTime, min)
		}
		expiry, expiryText = &d, strings.ToUpper(p.Attributes.ExpiryTime)
	}
	out := make([]LifetimeAction, 0, len(p.LifetimeActions))
	rotates := 0
	for i, a := range p.LifetimeActions {
		var typ string
		switch {
		case strings.EqualFold(a.Action.Type, ActionRotate):
			typ = ActionRotate
			rotates++
		case strings.EqualFold(a.Action.Type, ActionNotify):
			typ = ActionNotify
		default:
			return nil, "", badParam(InnerInvalidValue, "lifetime action %d has type '%s'; use Rotate or Notify", i, printable(a.Action.Type))
		}
		after, before := a.Trigger.TimeAfterCreate, a.Trigger.TimeBeforeExpiry
		if (after == "") == (before == "") {
			return nil, "", badParam(InnerInvalidValue, "lifetime action %d needs exactly one trigger: timeAfterCreate or timeBeforeExpiry", i)
		}
		trigger := LifetimeActionTrigger{TimeAfterCreate: strings.ToUpper(after), TimeBeforeExpiry: strings.ToUpper(before)}
		if after != "" {
			if typ != ActionRotate {
				return nil, "", badParam(InnerInvalidValue, "timeAfterCreate applies to Rotate actions only; Notify takes timeBeforeExpiry")
			}
			d, err := parseISODuration(after)
			if err != nil {
				return nil, "", err
			}
			if d.addTo(now).Before(now.Add(min)) {
				return nil, "", badParam(InnerInvalidValue, "timeAfterCreate %s is shorter than the minimum rotation interval of %s", after, min)
			}
			if expiry != nil && !d.addTo(now).Before(expiry.addTo(now)) {
				return nil, "", badParam(InnerInvalidValue, "timeAfterCreate %s must be shorter than expiryTime %s, or versions expire before they rotate", after, expiryText)
			}
		} else {
			d, err := parseISODuration(before)
			if err != nil {
				return nil, "", err
			}
			if expiry != nil && !d.addTo(now).Before(expiry.addTo(now)) {
				return nil, "", badParam(InnerInvalidValue, "timeBeforeExpiry %s must be shorter than expiryTime %s", before, expiryText)
			}
		}
		out = append(out, LifetimeAction{Trigger: trigger, Action: LifetimeActionType{Type: typ}})
	}
	if rotates > 1 {
		return nil, "", badParam(InnerInvalidValue, "a rotation policy may have at most one Rotate action; %d were given", rotates)
	}
	return out, expiryText, nil
}

// RotateDue rotates every live key whose policy says its latest version is
// due: timeAfterCreate has passed since it was created, or it is within
// timeBeforeExpiry of its exp. It returns how many keys it rotated.
func (s *Service) RotateDue(ctx context.Context) (int, error) {
	now := s.now()
	type due struct{ vault, key, latest string }
	var todo []due
	err := s.db.View(ctx, func(tx kv.Tx) error {
		return tx.Bucket(bucketVaults).ForEach(func(id, _ []byte) error {
			var vrec vaultRecord
			if _, err := getJSON(tx.Bucket(bucketVaults), id, &vrec); err != nil || vrec.Deleted != nil {
				return err
			}
			return eachKey(tx, vrec.Name, func(k *keyRecord, latest *versionRecord) {
				if k.Deleted == nil && k.Policy != nil && rotationDue(k.Policy, latest, now) {
					todo = append(todo, due{vrec.Name, k.Name, k.Latest})
				}
			})
		})
	})
	if err != nil {
		return 0, err
	}
	var errs []error
	n := 0
	for _, d := range todo {
		b, err := s.rotate(ctx, d.vault, d.key, d.latest)
		switch {
		case errors.Is(err, errRotationRaced):
			continue // someone else rotated it first
		case err != nil:
			errs = append(errs, err)
			continue
		}
		n++
		s.log.Info("key rotated by policy", "vault", d.vault, "key", d.key, "fromVersion", d.latest, "keyVersion", b.Key.KID[strings.LastIndexByte(b.Key.KID, '/')+1:])
	}
	return n, errors.Join(errs...)
}

func rotationDue(p *policyRecord, latest *versionRecord, now time.Time) bool {
	for _, a := range p.LifetimeActions {
		if a.Action.Type != ActionRotate {
			continue
		}
		if t := a.Trigger.TimeAfterCreate; t != "" {
			if d, err := parseISODuration(t); err == nil && !now.Before(d.addTo(latest.Created)) {
				return true
			}
		}
		if t := a.Trigger.TimeBeforeExpiry; t != "" && latest.Expires != nil {
			if d, err := parseISODuration(t); err == nil && !now.Before(d.subtractFrom(time.Unix(*latest.Expires, 0))) {
				return true
			}
		}
	}
	return false
}

// RunRotationScheduler calls RotateDue now and every
// Options.RotationCheckInterval until ctx ends, then returns nil.
func (s *Service) RunRotationScheduler(ctx context.Context) error {
	return s.every(ctx, s.opts.RotationCheckInterval, "rotation", s.RotateDue)
}

// every runs step at once and then on every tick until ctx ends. A failed
// step is logged and retried at the next tick: a background loop has no one
// to return an error to.
func (s *Service) every(ctx context.Context, interval time.Duration, what string, step func(context.Context) (int, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := step(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("vault "+what+" step failed", "err", err, "done", n)
		case n > 0:
			s.log.Info("vault "+what+" step done", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// isoDuration is an ISO 8601 duration (PnYnMnWnDTnHnMnS, integers only). Years,
// months and days are calendar units, applied with AddDate.
type isoDuration struct {
	years, months, weeks, days, hours, minutes, seconds int
}

func parseISODuration(text string) (isoDuration, error) {
	bad := badParam(InnerInvalidValue, "'%s' is not an ISO 8601 duration such as P90D, P1Y2M or PT5M", printable(text))
	s := strings.ToUpper(text)
	if len(s) < 3 || s[0] != 'P' {
		return isoDuration{}, bad
	}
	var d isoDuration
	date := []*int{&d.years, &d.months, &d.weeks, &d.days}
	clock := []*int{&d.hours, &d.minutes, &d.seconds}
	units, fields := "YMWD", date
	pos, inTime, any, anyTime := 0, false, false, false
	for rest := s[1:]; rest != ""; {
		if rest[0] == 'T' {
			if inTime {
				return isoDuration{}, bad
			}
			inTime, units, fields, pos, rest = true, "HMS", clock, 0, rest[1:]
			continue
		}
		i := 0
		for i < len(rest) && isDigit(rest[i]) {
			i++
		}
		if i == 0 || i > 6 || i == len(rest) {
			return isoDuration{}, bad
		}
		n, _ := strconv.Atoi(rest[:i])
		// Units must come in order, each at most once.
		j := strings.IndexByte(units[pos:], rest[i])
		if j < 0 {
			return isoDuration{}, bad
		}
		*fields[pos+j] = n
		pos += j + 1
		any, anyTime = true, anyTime || inTime
		rest = rest[i+1:]
	}
	if !any || (inTime && !anyTime) {
		return isoDuration{}, bad
	}
	return d, nil
}

func (d isoDuration) clock() time.Duration {
	return time.Duration(d.hours)*time.Hour + time.Duration(d.minutes)*time.Minute + time.Duration(d.seconds)*time.Second
}

func (d isoDuration) addTo(t time.Time) time.Time {
	return t.AddDate(d.years, d.months, 7*d.weeks+d.days).Add(d.clock())
}

func (d isoDuration) subtractFrom(t time.Time) time.Time {
	return t.AddDate(-d.years, -d.months, -(7*d.weeks + d.days)).Add(-d.clock())
}
