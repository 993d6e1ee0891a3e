package rulefile

import (
	"encoding/json"
	"testing"
)

// FuzzRead: no input makes Read panic, and what it accepts is a rule the
// API can be sent: a valid ID, a known kind, properties that are a JSON
// object with a display name and a query.
func FuzzRead(f *testing.F) {
	f.Add(true, []byte(baseYAML))
	f.Add(true, []byte("id: x\nname: n\nseverity: Low\nquery: T\nkind: NRT\n"))
	f.Add(true, []byte("a: &a [*a]\n"))
	f.Add(false, []byte(`{"value":[{"name":"a","kind":"NRT","properties":{"displayName":"d","query":"T"}}]}`))
	f.Add(false, []byte(`[{"name":"a","kind":"Scheduled","properties":{"displayName":"d","query":"T","triggerThreshold":1e400}}]`))
	f.Fuzz(func(t *testing.T, yaml bool, data []byte) {
		name := "fuzz.json"
		if yaml {
			name = "fuzz.yaml"
		}
		rules, err := Read(name, data, Options{})
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Read refused with %T %v, want an *Error", err, err)
			}
			return
		}
		for _, r := range rules {
			if err := CheckID(r.ID); err != nil {
				t.Fatalf("accepted rule ID %q: %v", r.ID, err)
			}
			if r.Kind != KindScheduled && r.Kind != KindNRT {
				t.Fatalf("accepted kind %q", r.Kind)
			}
			buf, err := json.Marshal(r.Properties)
			if err != nil {
				t.Fatalf("properties do not marshal: %v", err)
			}
			var back map[string]any
			if err := json.Unmarshal(buf, &back); err != nil {
				t.Fatalf("properties are not a JSON object: %v", err)
			}
			if s, _ := back["displayName"].(string); s == "" {
				t.Fatalf("accepted a rule without a display name: %s", buf)
			}
			if s, _ := back["query"].(string); s == "" {
				t.Fatalf("accepted a rule without a query: %s", buf)
			}
		}
	})
}
