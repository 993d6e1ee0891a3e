package node

import (
	"context"
	"strings"
	"testing"
)

func TestABadPublicURLIsRefusedBeforeAnythingStarts(t *testing.T) {
	for _, tc := range []struct{ name, url string }{
		{"plain http", "http://sealwatch.example.com"},
		{"no host", "https://"},
		{"a path", "https://sealwatch.example.com/sealwatch"},
		{"a query", "https://sealwatch.example.com?x=1"},
		{"credentials", "https://user:pass@sealwatch.example.com"},
		{"a port out of range", "https://sealwatch.example.com:70000"},
		{"not a URL", "sealwatch.example.com"},
		{"unparsable, with a password", "https://user:pass@sealwatch.example.com:80 80"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Open(context.Background(), Config{DataDir: dir, Addr: "127.0.0.1:0", PublicURL: tc.url})
			if err == nil || !strings.Contains(err.Error(), "public URL") {
				t.Fatalf("Open with public URL %q: %v", tc.url, err)
			}
			if strings.Contains(err.Error(), "pass@") {
				t.Fatalf("the error repeats the URL's credentials: %v", err)
			}
		})
	}
}

func TestThePublicURLIsKeptWithoutItsTrailingSlash(t *testing.T) {
	for in, want := range map[string]string{
		"https://Sealwatch.Example.com/": "https://sealwatch.example.com",
		"https://10.0.0.5:8443":          "https://10.0.0.5:8443",
		"":                               "",
	} {
		got, err := checkPublicURL(in)
		if err != nil || got != want {
			t.Errorf("checkPublicURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
