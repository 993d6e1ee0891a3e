package vault

import (
	"context"
	"strings"
	"testing"
	"time"
)

func rotateAfter(d string) LifetimeAction {
	return LifetimeAction{Trigger: LifetimeActionTrigger{TimeAfterCreate: d}, Action: LifetimeActionType{Type: "Rotate"}}
}

func TestISO8601Durations(t *testing.T) {
	base := time.Date(2030, 1, 31, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time // base plus the duration; zero = invalid
	}{
		{"P90D", base.AddDate(0, 0, 90)},
		{"P1Y2M", base.AddDate(1, 2, 0)},
		{"PT5M", base.Add(5 * time.Minute)},
		{"P2W", base.AddDate(0, 0, 14)},
		{"P1DT12H", base.Add(36 * time.Hour)},
		{"pt1m", base.Add(time.Minute)},
		{"P", time.Time{}},
		{"PT", time.Time{}},
		{"P1DT", time.Time{}},
		{"90D", time.Time{}},
		{"P1D2Y", time.Time{}},     // out of order
		{"P1.5D", time.Time{}},     // fractions are not accepted
		{"P-1D", time.Time{}},      // no negatives
		{"PT1D", time.Time{}},      // D is not a time unit
		{"P1M1M", time.Time{}},     // repeated unit
		{"P9999999D", time.Time{}}, // absurdly long
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			d, err := parseISODuration(tc.in)
			if tc.want.IsZero() {
				wantErr(t, err, ErrBadParameter)
				return
			}
			if err != nil || !d.addTo(base).Equal(tc.want) {
				t.Fatalf("%s + %s = %v, %v; want %v", base, tc.in, d.addTo(base), err, tc.want)
			}
		})
	}
}

func TestRotationPolicyValidation(t *testing.T) {
	e := newEnv(t) // default MinRotationInterval: 7 days, as in the cloud
	e.vault("kv-pol", false, 90)
	e.createKey("kv-pol", "k", CreateKeyParameters{Kty: "oct"})
	notify := LifetimeAction{Trigger: LifetimeActionTrigger{TimeBeforeExpiry: "P30D"}, Action: LifetimeActionType{Type: "notify"}}
	tests := []struct {
		name string
		p    RotationPolicy
		ok   bool
	}{
		{"rotate after 90 days with a 1-year expiry", RotationPolicy{LifetimeActions: []LifetimeAction{rotateAfter("P90D"), notify}, Attributes: &RotationPolicyAttributes{ExpiryTime: "P1Y"}}, true},
		{"exactly the 7-day minimum", RotationPolicy{LifetimeActions: []LifetimeAction{rotateAfter("P7D")}}, true},
		{"under the 7-day minimum", RotationPolicy{LifetimeActions: []LifetimeAction{rotateAfter("PT1M")}}, false},
		{"two Rotate actions", RotationPolicy{LifetimeActions: []LifetimeAction{rotateAfter("P30D"), rotateAfter("P60D")}}, false},
		{"bad duration", RotationPolicy{LifetimeActions: []LifetimeAction{rotateAfter("90 days")}}, false},
		{"both triggers", RotationPolicy{LifetimeActions: []LifetimeAction{{Trigger: LifetimeActionTrigger{TimeAfterCreate: "P30D", TimeBeforeExpiry: "P7D"}, Action: LifetimeActionType{Type: "Rotate"}}}}, false},
		{"no trigger", RotationPolicy{LifetimeActions: []LifetimeAction{{Action: LifetimeActionType{Type: "Rotate"}}}}, false},
		{"unknown action", RotationPolicy{LifetimeActions: []LifetimeAction{{Trigger: LifetimeActionTrigger{TimeAfterCreate: "P30D"}, Action: LifetimeActionType{Type: "Delete"}}}}, false},
		{"notify after create", RotationPolicy{LifetimeActions: []LifetimeAction{{Trigger: LifetimeActionTrigger{TimeAfterCreate: "P30D"}, Action: LifetimeActionType{Type: "Notify"}}}}, false},
		{"rotation later than expiry", RotationPolicy{LifetimeActions: []LifetimeAction{rotateAfter("P90D")}, Attributes: &RotationPolicyAttributes{ExpiryTime: "P60D"}}, false},
		{"expiry under the minimum", RotationPolicy{Attributes: &RotationPolicyAttributes{ExpiryTime: "P1D"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.SetRotationPolicy(e.ctx, "kv-pol", "k", tc.p)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok {
				wantErr(t, err, ErrBadParameter)
			}
		})
	}
}

func TestRotationPolicyDefaultAndRoundTrip(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-rp", false, 90)
	e.createKey("kv-rp", "k", CreateKeyParameters{Kty: "oct"})
	p, err := e.svc.GetRotationPolicy(e.ctx, "kv-rp", "k")
	if err != nil || p.ID != "https://kv-rp.vault.localhost:8443/keys/k/rotationpolicy" || len(p.LifetimeActions) != 1 ||
		p.LifetimeActions[0].Action.Type != "Notify" || p.LifetimeActions[0].Trigger.TimeBeforeExpiry != "P30D" {
		t.Fatalf("default policy = %+v, %v", p, err)
	}
	set, err := e.svc.SetRotationPolicy(e.ctx, "kv-rp", "k", RotationPolicy{LifetimeActions: []LifetimeAction{rotateAfter("p90d")}, Attributes: &RotationPolicyAttributes{ExpiryTime: "P1Y"}})
	if err != nil {
		t.Fatal(err)
	}
	e.reopen()
	got, err := e.svc.GetRotationPolicy(e.ctx, "kv-rp", "k")
	if err != nil || got.LifetimeActions[0].Trigger.TimeAfterCreate != "P90D" || got.LifetimeActions[0].Action.Type != "Rotate" ||
		got.Attributes.ExpiryTime != "P1Y" || *got.Attributes.Created != *set.Attributes.Created {
		t.Fatalf("stored policy = %+v, %v", got, err)
	}
	// An empty policy restores the default.
	if _, err := e.svc.SetRotationPolicy(e.ctx, "kv-rp", "k", RotationPolicy{}); err != nil {
		t.Fatal(err)
	}
	if p, _ := e.svc.GetRotationPolicy(e.ctx, "kv-rp", "k"); p.LifetimeActions[0].Action.Type != "Notify" {
		t.Fatalf("policy after reset = %+v", p)
	}
}

func TestRotationSchedulerRotatesDueKeysWithFakeClock(t *testing.T) {
	e := newEnv(t)
	e.opts.MinRotationInterval = time.Minute // as a demo would
	e.reopen()
	e.vault("kv-auto", false, 90)
	first := e.createKey("kv-auto", "cmk", CreateKeyParameters{Kty: "oct", Tags: map[string]string{"use": "cmk"}})
	e.createKey("kv-auto", "manual", CreateKeyParameters{Kty: "oct"})
	if _, err := e.svc.SetRotationPolicy(e.ctx, "kv-auto", "cmk", RotationPolicy{
		LifetimeActions: []LifetimeAction{rotateAfter("PT5M")}, Attributes: &RotationPolicyAttributes{ExpiryTime: "PT1H"},
	}); err != nil {
		t.Fatal(err)
	}
	step := func(want int) {
		t.Helper()
		n, err := e.svc.RotateDue(e.ctx)
		if err != nil || n != want {
			t.Fatalf("RotateDue at %s = %d, %v; want %d", e.clock.Now(), n, err, want)
		}
	}
	step(0)
	e.clock.Advance(5*time.Minute - time.Second)
	step(0)
	e.clock.Advance(time.Second)
	step(1)
	step(0) // the new version is not due yet
	latest, err := e.svc.GetKey(e.ctx, "kv-auto", "cmk", "")
	if err != nil {
		t.Fatal(err)
	}
	if latest.Key.KID == first.Key.KID || latest.Tags["use"] != "cmk" {
		t.Fatalf("latest after rotation = %+v", latest)
	}
	if *latest.Attributes.Created != e.clock.Now().Unix() || *latest.Attributes.Expires != e.clock.Now().Add(time.Hour).Unix() {
		t.Fatalf("new version created %d exp %v; want exp = created + PT1H", *latest.Attributes.Created, latest.Attributes.Expires)
	}
	e.clock.Advance(5 * time.Minute)
	step(1)
	if versions, _ := e.svc.ListKeyVersions(e.ctx, "kv-auto", "cmk"); len(versions) != 3 {
		t.Fatalf("%d versions, want 3", len(versions))
	}
	if versions, _ := e.svc.ListKeyVersions(e.ctx, "kv-auto", "manual"); len(versions) != 1 {
		t.Fatal("a key without a policy was rotated")
	}
	// A deleted key is not rotated.
	if _, err := e.svc.DeleteKey(e.ctx, "kv-auto", "cmk"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	step(0)
}

func TestRotationBeforeExpiryTrigger(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-expiry", false, 90)
	exp := e.clock.Now().AddDate(0, 0, 40).Unix()
	e.createKey("kv-expiry", "k", CreateKeyParameters{Kty: "oct", Attributes: &KeyAttributes{Expires: &exp}})
	if _, err := e.svc.SetRotationPolicy(e.ctx, "kv-expiry", "k", RotationPolicy{LifetimeActions: []LifetimeAction{
		{Trigger: LifetimeActionTrigger{TimeBeforeExpiry: "P30D"}, Action: LifetimeActionType{Type: "Rotate"}},
	}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.svc.RotateDue(e.ctx); n != 0 {
		t.Fatal("rotated 40 days before expiry")
	}
	e.clock.Advance(10 * 24 * time.Hour)
	if n, err := e.svc.RotateDue(e.ctx); n != 1 || err != nil {
		t.Fatalf("RotateDue 30 days before expiry = %d, %v", n, err)
	}
}

func TestManualRotationAppliesPolicyExpiry(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-man", false, 90)
	e.createKey("kv-man", "k", CreateKeyParameters{Kty: "oct"})
	if _, err := e.svc.SetRotationPolicy(e.ctx, "kv-man", "k", RotationPolicy{Attributes: &RotationPolicyAttributes{ExpiryTime: "P28D"}}); err != nil {
		t.Fatal(err)
	}
	b, err := e.svc.RotateKey(e.ctx, "kv-man", "k")
	if err != nil || b.Attributes.Expires == nil || *b.Attributes.Expires != e.clock.Now().AddDate(0, 0, 28).Unix() {
		t.Fatalf("rotated = %+v, %v", b, err)
	}
}

func TestSchedulersStopWhenTheirContextEnds(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 2)
	go func() { done <- e.svc.RunRotationScheduler(ctx) }()
	go func() { done <- e.svc.RunPurgeScheduler(ctx) }()
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("loop ended with %v", err)
		}
	}
	if _, err := e.svc.RotateDue(ctx); err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("step on an ended context = %v", err)
	}
}
