package objstore

import (
	"errors"
	"path"
	"strings"
	"testing"
)

func TestValidKeyAcceptsTheKeysTheLogStoreNames(t *testing.T) {
	for _, key := range []string{
		"manifest",
		"0f8fad5b-d9cb-469f-a165-70867728950e/SecurityEvent/manifest",
		"0f8fad5b-d9cb-469f-a165-70867728950e/Custom_CL/-62135596800000_1733500000000_000000000000002a_0.seg",
		"ws/day=2026-12-06/part.0",
		strings.Repeat("a", MaxSegmentLength),
		strings.Repeat("a/", MaxKeyLength/2-1) + "ab",
	} {
		if err := ValidKey(key); err != nil {
			t.Errorf("ValidKey(%q) = %v, want nil", key, err)
		}
	}
}

func TestValidKeyRefusesKeysThatCouldEscapeOrMislead(t *testing.T) {
	for _, c := range []struct{ name, key string }{
		{"empty", ""},
		{"absolute", "/etc/passwd"},
		{"parent segment", "ws/../other/manifest"},
		{"parent at the start", "../manifest"},
		{"parent at the end", "ws/.."},
		{"dot segment", "ws/./manifest"},
		{"hidden name, kept for backends", "ws/.manifest-123.tmp"},
		{"empty segment", "ws//manifest"},
		{"trailing slash", "ws/table/"},
		{"backslash", `ws\..\manifest`},
		{"NUL", "ws/mani\x00fest"},
		{"newline", "ws/mani\nfest"},
		{"space", "ws/my table"},
		{"percent escape", "ws/%2e%2e/manifest"},
		{"query", "ws/manifest?versionId=1"},
		{"non-ASCII", "ws/maniféste"},
		{"invalid UTF-8", "ws/\xff"},
		{"segment too long", strings.Repeat("a", MaxSegmentLength+1)},
		{"key too long", strings.Repeat("a/", MaxKeyLength/2) + "a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := ValidKey(c.key)
			var ke *KeyError
			if !errors.As(err, &ke) || !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("ValidKey(%q) = %v, want a *KeyError that is ErrInvalidKey", c.key, err)
			}
			if len(ke.Key) > 64+len("…") {
				t.Errorf("the error repeats %d bytes of the key; it cuts to 64", len(ke.Key))
			}
		})
	}
}

func TestValidPrefix(t *testing.T) {
	for _, c := range []struct {
		prefix string
		ok     bool
	}{
		{"", true},
		{"ws/", true},
		{"ws/table/", true},
		{"ws/table/17335", true}, // a partial last segment
		{"ws", true},
		{"/", false},
		{"/ws/", false},
		{"ws//", false},
		{"ws/../", false},
		{"ws/.", false},
		{"ws/.tmp", false},
		{"ws/a b", false},
	} {
		err := ValidPrefix(c.prefix)
		if (err == nil) != c.ok {
			t.Errorf("ValidPrefix(%q) = %v, want ok=%v", c.prefix, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ValidPrefix(%q) = %v, want ErrInvalidKey", c.prefix, err)
		}
	}
}

// FuzzValidKey holds that no key ValidKey accepts can leave a root it is
// joined to, or is read differently once cleaned as a path.
func FuzzValidKey(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../a", "a/./b", "/a", "a//b", "a/", ".a", "a/b.c=d-e_f", "\x00", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		err := ValidKey(key)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("ValidKey(%q) = %v, not ErrInvalidKey", key, err)
			}
			return
		}
		if path.Clean(key) != key || path.IsAbs(key) || key == ".." || strings.HasPrefix(key, "../") {
			t.Fatalf("ValidKey accepted %q, which cleans to %q", key, path.Clean(key))
		}
		joined := path.Join("/root", key)
		if !strings.HasPrefix(joined, "/root/") {
			t.Fatalf("ValidKey accepted %q, which leaves the root: %q", key, joined)
		}
		if strings.ContainsAny(key, "\\\x00%?#") || len(key) > MaxKeyLength {
			t.Fatalf("ValidKey accepted %q", key)
		}
		if ValidPrefix(key) != nil || ValidPrefix(key+"/") != nil {
			t.Fatalf("ValidPrefix refuses %q, a valid key or the keys under it", key)
		}
	})
}
