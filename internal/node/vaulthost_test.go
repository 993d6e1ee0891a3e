package node

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// unresolvable is a transport on which the host names under suffix do not
// resolve, as a vault host with no DNS or hosts entry does not.
type unresolvable struct {
	next   http.RoundTripper
	suffix string
}

func (u *unresolvable) RoundTrip(r *http.Request) (*http.Response, error) {
	if host := r.URL.Hostname(); strings.HasSuffix(host, "."+u.suffix) {
		return nil, &url.Error{Op: r.Method, URL: r.URL.String(),
			Err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}}
	}
	return u.next.RoundTrip(r)
}

// TestClusterKeyInAVaultWhoseHostDoesNotResolveSaysWhatToDo: setting a
// cluster's key in a vault whose host name the node cannot look up is
// refused as unreachable (a name can come back), naming the host and the
// command that writes hosts entries.
func TestClusterKeyInAVaultWhoseHostDoesNotResolveSaysWhatToDo(t *testing.T) {
	const suffix = "vault.example.test"
	rn := startNodeWith(t, Config{DataDir: t.TempDir(),
		WrapKeyServiceTransport: func(next http.RoundTripper) http.RoundTripper { return &unresolvable{next: next, suffix: suffix} }})
	mgmt := rn.adminToken("https://management.azure.com/.default")
	var out map[string]any
	if st := rn.call("PUT", rn.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1"), mgmt,
		map[string]any{"location": "local", "identity": map[string]string{"type": "SystemAssigned"}, "sku": map[string]any{"name": "CapacityReservation", "capacity": 100}}, &out); st != 201 {
		t.Fatalf("create cluster: %d %v", st, out)
	}
	var er struct {
		Error struct{ Code, Message string }
	}
	body := map[string]any{"properties": map[string]any{"keyVaultProperties": map[string]string{
		"keyVaultUri": "https://cmk1." + suffix + ":8443/", "keyName": "ws-cmk"}}}
	st := rn.call("PATCH", rn.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1"), mgmt, body, &er)
	for _, want := range []string{"the vault host cmk1." + suffix + " does not resolve from this node", "sealwatch keyvault hosts | sudo tee -a /etc/hosts"} {
		if st != http.StatusServiceUnavailable || er.Error.Code != "KeyVaultUnreachable" || !strings.Contains(er.Error.Message, want) {
			t.Fatalf("got %d %s %q, want 503 KeyVaultUnreachable saying %q", st, er.Error.Code, er.Error.Message, want)
		}
	}
}
