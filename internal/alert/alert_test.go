package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/docstore/docstoretest"
	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/fault"
)

const workspaceID = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.OperationalInsights/workspaces/w"

func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	docs, path := docstoretest.Open(t, envelopetest.New("doc-aek"))
	return New(docs, "ws-1", workspaceID), path
}

func mustEntity(t *testing.T, typ string, ids map[string]string) Entity {
	t.Helper()
	e, err := NewEntity(typ, ids)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func sample(t *testing.T) *Alert {
	t.Helper()
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	return &Alert{
		SystemAlertID: "0d5c9f3e-1111-4a2b-9c8d-000000000001", DisplayName: "Brute force then success",
		Description: "many failures then a logon", Severity: "High",
		Tactics: []string{"CredentialAccess", "InitialAccess"}, Techniques: []string{"T1110"},
		StartTime: at.Add(-10 * time.Minute), EndTime: at.Add(-time.Minute), TimeGenerated: at,
		RuleID: "rule-1", RuleName: "Brute force", Query: "SigninLogs | where ResultType != 0",
		QueryStart: at.Add(-time.Hour), QueryEnd: at, ResultCount: 42,
		Entities: []Entity{
			mustEntity(t, "Account", map[string]string{"Name": "alice", "UPNSuffix": "contoso.com"}),
			mustEntity(t, "IP", map[string]string{"Address": "10.0.0.7"}),
		},
		CustomDetails: map[string][]any{"Attempts": {float64(31)}},
	}
}

func TestNewEntityMapsRuleIdentifiersToTheCloudsProperties(t *testing.T) {
	cases := []struct {
		name, typ string
		ids       map[string]string
		kind      string
		props     map[string]any
	}{
		{"account name and domain", "Account", map[string]string{"Name": "alice", "NTDomain": "CONTOSO"}, "Account", map[string]any{"accountName": "alice", "ntDomain": "CONTOSO"}},
		{"account full name with domain", "Account", map[string]string{"FullName": `CONTOSO\alice`}, "Account", map[string]any{"accountName": "alice", "ntDomain": "CONTOSO"}},
		{"account full name as UPN", "Account", map[string]string{"FullName": "alice@contoso.com"}, "Account", map[string]any{"accountName": "alice", "upnSuffix": "contoso.com"}},
		{"a mapped name beats the full name's", "Account", map[string]string{"FullName": `CONTOSO\alice`, "Name": "bob"}, "Account", map[string]any{"accountName": "bob", "ntDomain": "CONTOSO"}},
		{"account IDs", "Account", map[string]string{"Sid": "S-1-5-21-1", "AadUserId": "u-1", "AadTenantId": "t-1", "ObjectGuid": "g-1"}, "Account", map[string]any{"sid": "S-1-5-21-1", "aadUserId": "u-1", "aadTenantId": "t-1", "objectGuid": "g-1"}},
		{"domain joined is a bool", "Account", map[string]string{"Name": "a", "IsDomainJoined": "True"}, "Account", map[string]any{"accountName": "a", "isDomainJoined": true}},
		{"host", "Host", map[string]string{"HostName": "dc01", "DnsDomain": "contoso.com", "OMSAgentID": "agent-1", "OSFamily": "Windows", "AzureID": "/sub/x"}, "Host", map[string]any{"hostName": "dc01", "dnsDomain": "contoso.com", "omsAgentID": "agent-1", "osFamily": "Windows", "azureID": "/sub/x"}},
		{"host full name", "Host", map[string]string{"FullName": "dc01.contoso.com"}, "Host", map[string]any{"hostName": "dc01", "dnsDomain": "contoso.com"}},
		{"ip", "IP", map[string]string{"Address": "10.0.0.7"}, "Ip", map[string]any{"address": "10.0.0.7"}},
		{"url", "URL", map[string]string{"Url": "https://x.example/a"}, "Url", map[string]any{"url": "https://x.example/a"}},
		{"file hash", "FileHash", map[string]string{"Algorithm": "SHA256", "Value": "ab12"}, "FileHash", map[string]any{"algorithm": "SHA256", "hashValue": "ab12"}},
		{"process", "Process", map[string]string{"ProcessId": "4242", "CommandLine": "cmd /c whoami"}, "Process", map[string]any{"processId": "4242", "commandLine": "cmd /c whoami"}},
		{"dns", "DNS", map[string]string{"DomainName": "evil.example"}, "DnsResolution", map[string]any{"domainName": "evil.example"}},
		{"mail message", "MailMessage", map[string]string{"Recipient": "a@contoso.com", "Sender": "x@evil.example", "NetworkMessageId": "m-1", "SenderIP": "1.2.3.4"}, "MailMessage", map[string]any{"recipient": "a@contoso.com", "sender": "x@evil.example", "networkMessageId": "m-1", "senderIP": "1.2.3.4"}},
		{"cloud application", "CloudApplication", map[string]string{"AppId": "11161", "Name": "Office 365", "InstanceName": "contoso"}, "CloudApplication", map[string]any{"appId": "11161", "appName": "Office 365", "instanceName": "contoso"}},
		{"file", "File", map[string]string{"Name": "evil.exe", "Directory": `C:\tmp`}, "File", map[string]any{"fileName": "evil.exe", "directory": `C:\tmp`}},
		{"empty values are left out", "Account", map[string]string{"Name": "alice", "Sid": "", "NTDomain": " "}, "Account", map[string]any{"accountName": "alice"}},
		{"registry value", "RegistryValue", map[string]string{"Name": "Run", "Value": "evil.exe"}, "RegistryValue", map[string]any{"valueName": "Run", "valueData": "evil.exe"}},
		{"malware", "Malware", map[string]string{"Name": "Emotet", "Category": "Trojan"}, "Malware", map[string]any{"malwareName": "Emotet", "category": "Trojan"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := NewEntity(c.typ, c.ids)
			if err != nil {
				t.Fatal(err)
			}
			if e.Kind != c.kind || !mapsEqual(e.Properties, c.props) {
				t.Fatalf("got %s %v, want %s %v", e.Kind, e.Properties, c.kind, c.props)
			}
		})
	}
}

func mapsEqual(a, b map[string]any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func TestNewEntityRefusesWhatNoRuleCanMap(t *testing.T) {
	cases := []struct {
		name, typ string
		ids       map[string]string
		want      string
	}{
		{"unknown type", "Printer", map[string]string{"Name": "p"}, "not an entity type"},
		{"identifier of another type", "IP", map[string]string{"HostName": "dc01"}, "not an identifier of entity type IP"},
		{"identifier in the wrong case", "Account", map[string]string{"name": "alice"}, "not an identifier"},
		{"no value at all", "Account", map[string]string{"Name": " "}, "at least one"},
		{"no identifiers", "Host", nil, "at least one"},
		{"an oversized value", "URL", map[string]string{"Url": strings.Repeat("u", maxValueBytes+1)}, "at most"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewEntity(c.typ, c.ids)
			if fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want Invalid saying %q", err, c.want)
			}
		})
	}
}

func TestIdentifiersCoverEveryRuleEntityType(t *testing.T) {
	if got := Identifiers("IP"); !slices.Equal(got, []string{"Address"}) {
		t.Fatalf("IP: %v", got)
	}
	if got := Identifiers("Account"); !slices.Contains(got, "UPNSuffix") || !slices.Contains(got, "AadUserId") {
		t.Fatalf("Account: %v", got)
	}
	if Identifiers("Printer") != nil {
		t.Fatal("an unknown type has identifiers")
	}
	if len(EntityTypes()) != 18 {
		t.Fatalf("entity types: %v", EntityTypes())
	}
	for _, typ := range EntityTypes() {
		for _, id := range Identifiers(typ) {
			if _, err := NewEntity(typ, map[string]string{id: "v"}); err != nil {
				t.Errorf("%s.%s: %v", typ, id, err)
			}
		}
	}
}

func TestEntityKeyFoldsCaseWhereTheCloudDoesAndMergeDedupes(t *testing.T) {
	a1 := mustEntity(t, "Account", map[string]string{"Name": "Alice", "NTDomain": "CONTOSO"})
	a2 := mustEntity(t, "Account", map[string]string{"FullName": `contoso\alice`})
	h1 := mustEntity(t, "Host", map[string]string{"HostName": "DC01"})
	h2 := mustEntity(t, "Host", map[string]string{"HostName": "dc01"})
	ip1 := mustEntity(t, "IP", map[string]string{"Address": "::ffff:10.0.0.7"})
	ip2 := mustEntity(t, "IP", map[string]string{"Address": "10.0.0.7"})
	u1 := mustEntity(t, "URL", map[string]string{"Url": "https://x.example/A"})
	u2 := mustEntity(t, "URL", map[string]string{"Url": "https://x.example/a"})
	for _, p := range [][2]Entity{{a1, a2}, {h1, h2}, {ip1, ip2}} {
		if p[0].Key() != p[1].Key() || p[0].ID() != p[1].ID() {
			t.Errorf("%v and %v are one entity: keys %q %q", p[0].Properties, p[1].Properties, p[0].Key(), p[1].Key())
		}
	}
	if u1.Key() == u2.Key() {
		t.Error("a URL's path is case-sensitive")
	}
	if h1.Key() == mustEntity(t, "DNS", map[string]string{"DomainName": "dc01"}).Key() {
		t.Error("a host and a domain of one name are one entity")
	}
	merged := Merge([]Entity{a1, h1}, a2, ip1, h2, ip2, u1, u2)
	if len(merged) != 5 || merged[0].Properties["accountName"] != "Alice" || merged[2].Kind != "Ip" {
		t.Fatalf("merged: %+v", merged)
	}
}

func TestEntityAnswersAsAResourceWithAFriendlyName(t *testing.T) {
	e := mustEntity(t, "Host", map[string]string{"FullName": "dc01.contoso.com"})
	r := e.Resource(workspaceID)
	if r.Kind != "Host" || r.Type != EntityResourceType || r.Name != e.ID() || r.ID != workspaceID+"/providers/Microsoft.SecurityInsights/entities/"+e.ID() ||
		r.Properties["friendlyName"] != "dc01" || r.Properties["dnsDomain"] != "contoso.com" {
		t.Fatalf("resource: %+v", r)
	}
	if _, ok := e.Properties["friendlyName"]; ok {
		t.Fatal("Resource changed the entity")
	}
}

func TestBadAlertsAreRefused(t *testing.T) {
	cases := map[string]func(a *Alert){
		"no ID":                  func(a *Alert) { a.SystemAlertID = "" },
		"ID with a slash":        func(a *Alert) { a.SystemAlertID = "a/b" },
		"no display name":        func(a *Alert) { a.DisplayName = " " },
		"unknown severity":       func(a *Alert) { a.Severity = "Critical" },
		"unknown status":         func(a *Alert) { a.Status = "Open" },
		"no time generated":      func(a *Alert) { a.TimeGenerated = time.Time{} },
		"window ends too soon":   func(a *Alert) { a.EndTime = a.StartTime.Add(-time.Second) },
		"query window backwards": func(a *Alert) { a.QueryEnd = a.QueryStart.Add(-time.Second) },
		"no rule":                func(a *Alert) { a.RuleID = "" },
		"an empty entity":        func(a *Alert) { a.Entities = append(a.Entities, Entity{Kind: "Ip"}) },
		"too many details": func(a *Alert) {
			for i := range maxCustomDetails + 1 {
				a.CustomDetails[strings.Repeat("d", i+1)] = []any{1}
			}
		},
		"too many values of a detail": func(a *Alert) { a.CustomDetails["Attempts"] = make([]any, maxDetailValues+1) },
	}
	s, _ := newStore(t)
	for name, spoil := range cases {
		t.Run(name, func(t *testing.T) {
			a := sample(t)
			spoil(a)
			if err := s.Put(context.Background(), a); fault.KindOf(err) != fault.Invalid {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if _, err := s.Get(context.Background(), "a/b"); fault.KindOf(err) != fault.Invalid {
		t.Fatalf("get of a bad ID: %v", err)
	}
}

func TestRowHasTheSecurityAlertColumnsWithTheirTypes(t *testing.T) {
	s, _ := newStore(t)
	a := sample(t)
	if err := s.Put(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	row := a.Row()
	strs := []string{"DisplayName", "AlertName", "AlertSeverity", "Description", "ProviderName", "VendorName",
		"VendorOriginalId", "SystemAlertId", "ResourceId", "SourceComputerId", "AlertType", "ConfidenceLevel",
		"RemediationSteps", "ExtendedProperties", "Entities", "SourceSystem", "WorkspaceSubscriptionId",
		"WorkspaceResourceGroup", "ExtendedLinks", "ProductName", "ProductComponentName", "AlertLink", "Status",
		"CompromisedEntity", "Tactics", "Techniques", "SubTechniques", "Type"}
	times := []string{"TimeGenerated", "StartTime", "EndTime", "ProcessingEndTime"}
	if len(row) != len(strs)+len(times)+1 {
		t.Fatalf("%d columns, want %d", len(row), len(strs)+len(times)+1)
	}
	for _, c := range strs {
		if _, ok := row[c].(string); !ok {
			t.Errorf("%s is %T, want string", c, row[c])
		}
	}
	for _, c := range times {
		if v, ok := row[c].(time.Time); !ok || v.IsZero() {
			t.Errorf("%s is %T %v, want a time", c, row[c], row[c])
		}
	}
	if v, ok := row["IsIncident"].(bool); !ok || v {
		t.Errorf("IsIncident is %T %v, want false", row["IsIncident"], row["IsIncident"])
	}
	want := map[string]string{
		"AlertSeverity": "High", "Tactics": "CredentialAccess, InitialAccess", "Techniques": `["T1110"]`,
		"SubTechniques": `[]`, "AlertType": "rule-1", "VendorName": "Sealwatch", "ProductName": "Azure Sentinel",
		"WorkspaceSubscriptionId": "sub-1", "WorkspaceResourceGroup": "rg-1", "Type": "SecurityAlert", "Status": "New",
		"SystemAlertId": a.SystemAlertID, "VendorOriginalId": a.SystemAlertID, "ConfidenceLevel": "Unknown",
		"Entities": `[{"$id":"1","Type":"account","Name":"alice","UPNSuffix":"contoso.com"},{"$id":"2","Type":"ip","Address":"10.0.0.7"}]`,
	}
	for c, v := range want {
		if row[c] != v {
			t.Errorf("%s = %q, want %q", c, row[c], v)
		}
	}
	var ext map[string]string
	if err := json.Unmarshal([]byte(row["ExtendedProperties"].(string)), &ext); err != nil {
		t.Fatal(err)
	}
	if ext["Query"] != a.Query || ext["Query Start Time UTC"] != "2026-11-26 11:00:00Z" || ext["Query End Time UTC"] != "2026-11-26 12:00:00Z" || ext["Query Period"] != "01:00:00" ||
		ext["Analytic Rule Ids"] != `["rule-1"]` || ext["Analytic Rule Name"] != "Brute force" || ext["Custom Details"] != `{"Attempts":[31]}` {
		t.Fatalf("extended properties: %v", ext)
	}
	// The row goes through the log store's JSON ingest: it must encode.
	if _, err := json.Marshal([]map[string]any{row}); err != nil {
		t.Fatal(err)
	}
}

func TestTimespansAreWrittenAsTheCloudWritesThem(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Hour: "05:00:00", 14 * 24 * time.Hour: "14.00:00:00", 26*time.Hour + 90*time.Second: "1.02:01:30", 0: "00:00:00",
	} {
		if got := timespan(d); got != want {
			t.Errorf("timespan(%s) = %s, want %s", d, got, want)
		}
	}
	if got := formatTime(time.Date(2022, 7, 3, 8, 31, 2, 500_000_000, time.UTC)); got != "2022-07-03 08:31:02.5Z" {
		t.Errorf("a time with a fraction: %s", got)
	}
}

func TestAlertAnswersInTheCloudsShape(t *testing.T) {
	s, _ := newStore(t)
	a := sample(t)
	if err := s.Put(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(a)
	var got struct {
		ID, Name, Type, Kind string
		Properties           map[string]any
	}
	if err := json.Unmarshal(j, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != workspaceID+"/providers/Microsoft.SecurityInsights/entities/"+a.SystemAlertID || got.Name != a.SystemAlertID ||
		got.Type != "Microsoft.SecurityInsights/Entities" || got.Kind != "SecurityAlert" {
		t.Fatalf("resource: %s", j)
	}
	p := got.Properties
	if p["alertDisplayName"] != a.DisplayName || p["severity"] != "High" || p["status"] != "New" || p["alertType"] != "rule-1" ||
		p["vendorName"] != "Sealwatch" || p["productName"] != "Azure Sentinel" || p["startTimeUtc"] != "2026-11-26T11:50:00Z" ||
		p["systemAlertId"] != a.SystemAlertID || p["additionalData"].(map[string]any)["Query"] != a.Query {
		t.Fatalf("properties: %s", j)
	}
}

func TestAlertsAreStoredSealedAndListedSkippingMissingOnes(t *testing.T) {
	s, path := newStore(t)
	ctx := context.Background()
	a := sample(t)
	canary := "CANARY-5d1e-alert"
	a.DisplayName, a.Query = canary+"-name", "T | where x == '"+canary+"-query'"
	a.Entities = append(a.Entities, mustEntity(t, "Host", map[string]string{"HostName": canary + "-host"}))
	a.CustomDetails["Who"] = []any{canary + "-detail"}
	if err := s.Put(ctx, a); err != nil {
		t.Fatal(err)
	}
	b := sample(t)
	b.SystemAlertID = "0d5c9f3e-1111-4a2b-9c8d-000000000002"
	if err := s.Put(ctx, b); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, a.SystemAlertID)
	if err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal((*stored)(a))
	jg, _ := json.Marshal((*stored)(got))
	if !bytes.Equal(ja, jg) {
		t.Fatalf("read back:\n%s\nwant\n%s", jg, ja)
	}
	list, err := s.List(ctx, []string{b.SystemAlertID, "missing", a.SystemAlertID})
	if err != nil || len(list) != 2 || list[0].SystemAlertID != b.SystemAlertID || list[1].SystemAlertID != a.SystemAlertID {
		t.Fatalf("list: %v %+v", err, list)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(a.SystemAlertID)) {
		t.Fatal("the alert's document is not in the file: the check below would prove nothing")
	}
	if bytes.Contains(raw, []byte("CANARY")) || bytes.Contains(raw, []byte("alice")) || bytes.Contains(raw, []byte("10.0.0.7")) {
		t.Fatal("an alert's fields reached disk in the clear")
	}
}
