package tables

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sealwatch/sealwatch/internal/alert"
	"github.com/sealwatch/sealwatch/internal/kql"
)

// requiredStandard are the tables detection content names most; each must
// be built in.
var requiredStandard = []string{
	"SecurityEvent", "OfficeActivity", "CommonSecurityLog", "ThreatIntelligenceIndicator", "ThreatIntelIndicators",
	"AzureDevOpsAuditing", "DnsEvents", "AzureActivity", "AWSCloudTrail", "AuditLogs", "SigninLogs",
	"AADNonInteractiveUserSignInLogs", "AADServicePrincipalSignInLogs", "AADManagedIdentitySignInLogs",
	"VMConnection", "SecurityAlert", "SecurityIncident", "W3CIISLog", "AzureDiagnostics", "Syslog", "Event",
	"Heartbeat", "WindowsEvent", "BehaviorAnalytics", "SentinelHealth", "Watchlist", "IdentityInfo",
	"DeviceProcessEvents", "DeviceNetworkEvents", "DeviceFileEvents", "DeviceRegistryEvents", "DeviceLogonEvents",
	"DeviceImageLoadEvents", "DeviceEvents", "DeviceInfo", "DeviceNetworkInfo", "DeviceFileCertificateInfo",
	"IdentityLogonEvents", "IdentityQueryEvents", "IdentityDirectoryEvents", "CloudAppEvents",
	"EmailEvents", "EmailUrlInfo", "EmailAttachmentInfo", "UrlClickEvents",
	"ASimProcessEventLogs", "ASimDnsActivityLogs", "ASimNetworkSessionLogs", "ASimWebSessionLogs",
	"ASimAuthenticationEventLogs", "ASimAuditEventLogs", "ASimFileEventLogs",
	"AZFWNetworkRule", "AZFWApplicationRule", "StorageBlobLogs", "GCPAuditLogs",
	"AADSignInEventsBeta", "AADSpnSignInEventsBeta", "GraphAPIAuditEvents", "OAuthAppInfo",
	"ExposureGraphEdges", "ExposureGraphNodes", "IntuneDevices", "IntuneAuditLogs",
	"DeviceTvmSoftwareInventory", "DeviceTvmSoftwareVulnerabilities", "DeviceTvmSoftwareVulnerabilitiesKB",
	"DeviceTvmSecureConfigurationAssessment", "DeviceTvmSecureConfigurationAssessmentKB",
	"DeviceTvmBrowserExtensions", "DeviceTvmBrowserExtensionsKB", "DeviceTvmInfoGathering",
	"BehaviorInfo", "BehaviorEntities", "CloudAuditEvents", "EntraIdSignInEvents", "EntraIdSpnSignInEvents",
	"DeviceTvmInfoGatheringKB", "DeviceTvmCertificateInfo", "DeviceTvmHardwareFirmware", "IntuneOperationalLogs",
	"Usage", "MicrosoftAzureBastionAuditLogs", "AzureMetrics", "AppServiceHTTPLogs",
	"ContainerLog", "KubeEvents", "SecurityRecommendation",
}

// minStandard is the fewest standard tables the issue asks for.
const minStandard = 45

// defenderTables are the Microsoft Defender XDR tables: in a Sentinel
// workspace they keep the advanced hunting schema's Timestamp beside
// TimeGenerated, and hunting queries carried over use it.
var defenderTables = []string{
	"DeviceProcessEvents", "DeviceNetworkEvents", "DeviceFileEvents", "DeviceRegistryEvents", "DeviceLogonEvents",
	"DeviceImageLoadEvents", "DeviceEvents", "DeviceInfo", "DeviceNetworkInfo", "DeviceFileCertificateInfo",
	"IdentityLogonEvents", "IdentityQueryEvents", "IdentityDirectoryEvents", "CloudAppEvents",
	"EmailEvents", "EmailUrlInfo", "EmailAttachmentInfo", "EmailPostDeliveryEvents", "UrlClickEvents",
	"AlertInfo", "AlertEvidence", "AADSignInEventsBeta", "AADSpnSignInEventsBeta", "GraphAPIAuditEvents",
	"OAuthAppInfo", "DeviceTvmSecureConfigurationAssessment", "DeviceTvmInfoGathering", "BehaviorInfo",
	"BehaviorEntities", "CloudAuditEvents", "EntraIdSignInEvents", "EntraIdSpnSignInEvents",
}

// hiddenColumns are the standard columns a workspace adds to every table
// and leaves out of getschema and project *; a table does not declare them.
var hiddenColumns = []string{"_BilledSize", "_IsBillable", "_ResourceId", "_SubscriptionId", "_ItemId", "_TimeReceived"}

// caseVariants are the column pairs the published schema of a table lists
// in two spellings that differ only in case; KQL names are case-sensitive,
// and content uses both.
var caseVariants = map[string][]string{
	"AzureDiagnostics": {"clientIP_s", "clientIp_s", "status_s", "Status_s"},
}

// TestStandardFilesRead reads the embedded files as Standard does, so that
// a broken file fails here by name rather than panicking elsewhere.
func TestStandardFilesRead(t *testing.T) {
	if _, err := loadStandard(standardFiles, "standard"); err != nil {
		t.Fatal(err)
	}
}

func TestStandardTablesAreBuiltIn(t *testing.T) {
	std := Standard()
	names := make([]string, len(std))
	for i, s := range std {
		names[i] = s.Name
	}
	if !slices.IsSorted(names) {
		t.Errorf("Standard() is not sorted by name: %v", names)
	}
	if len(names) < minStandard {
		t.Errorf("%d standard tables, want at least %d", len(names), minStandard)
	}
	if c := slices.Compact(slices.Clone(names)); len(c) != len(names) {
		t.Errorf("a table name is listed twice: %v", names)
	}
	for _, want := range slices.Concat(requiredStandard, defenderTables) {
		if !slices.Contains(names, want) {
			t.Errorf("standard table %s is missing", want)
		}
	}
}

func TestStandardTableSchemas(t *testing.T) {
	for _, s := range Standard() {
		t.Run(s.Name, func(t *testing.T) {
			if err := ValidName(s.Name); err != nil {
				t.Error(err)
			}
			seen := map[string]string{}
			for _, c := range s.Columns {
				if !wordChars(strings.TrimLeft(c.Name, "_")) {
					t.Errorf("column %q is not letters, digits and underscores starting with a letter or underscores", c.Name)
				}
				if slices.Contains(hiddenColumns, c.Name) {
					t.Errorf("column %s is one the workspace adds to every table, hidden from getschema", c.Name)
				}
				if typ, ok := ColumnType(c.Type); !ok || typ != c.Type {
					t.Errorf("column %s has type %q, not a type spelled as a declared column keeps it (%s)", c.Name, c.Type, typeList)
				}
				key := strings.ToLower(c.Name)
				if prev, dup := seen[key]; dup && !(slices.Contains(caseVariants[s.Name], prev) && slices.Contains(caseVariants[s.Name], c.Name)) {
					t.Errorf("columns %s and %s are the same name", prev, c.Name)
				}
				seen[key] = c.Name
			}
			if typ := columnType(s, TimeColumn); typ != "datetime" {
				t.Errorf("%s is %q, want datetime", TimeColumn, typ)
			}
			for _, std := range []string{"TenantId", "Type"} {
				if typ := columnType(s, std); typ != "string" {
					t.Errorf("standard column %s is %q, want string", std, typ)
				}
			}
			if slices.Contains(defenderTables, s.Name) {
				if typ := columnType(s, "Timestamp"); typ != "datetime" {
					t.Errorf("Timestamp is %q, want datetime", typ)
				}
			}
		})
	}
}

func TestStandardSchemaLooksUpExactName(t *testing.T) {
	s, ok := StandardSchema("SecurityEvent")
	if !ok || s.Name != "SecurityEvent" {
		t.Fatalf("StandardSchema(SecurityEvent) = %q, %v", s.Name, ok)
	}
	if typ := columnType(s, "EventID"); typ != "int" {
		t.Errorf("SecurityEvent.EventID is %q, want int", typ)
	}
	for _, name := range []string{"securityevent", "SECURITYEVENT", "SecurityEvent_CL", "", "Nope"} {
		if _, ok := StandardSchema(name); ok {
			t.Errorf("StandardSchema(%q) found a table", name)
		}
	}
}

func TestStandardReturnsCopies(t *testing.T) {
	s, _ := StandardSchema("Syslog")
	s.Columns[0].Name = "Changed"
	all := Standard()
	all[0].Name = "Changed"
	all[0].Columns[0].Type = "dynamic"
	all = append(all[:1], all[2:]...)

	again, _ := StandardSchema("Syslog")
	if again.Columns[0].Name == "Changed" {
		t.Error("changing StandardSchema's answer changed the built-in table")
	}
	fresh := Standard()
	if fresh[0].Name == "Changed" || fresh[0].Columns[0].Type == "dynamic" || len(fresh) != len(all)+1 {
		t.Error("changing Standard's answer changed the built-in tables")
	}
}

// TestEveryStandardTableBinds compiles a projection of every column and
// getschema against each table, and runs getschema over the empty table:
// it must list the declared columns in declared order with their types.
func TestEveryStandardTableBinds(t *testing.T) {
	cat, src := standardCatalog(t)
	for _, ts := range cat.Tables {
		t.Run(ts.Name, func(t *testing.T) {
			names := make([]string, len(ts.Columns))
			for i, c := range ts.Columns {
				names[i] = c.Name
			}
			q, err := kql.Compile(ts.Name+" | project "+strings.Join(names, ", "), cat)
			if err != nil {
				t.Fatalf("project every column: %v", err)
			}
			if got := q.ResultColumns(); !slices.Equal(got, ts.Columns) {
				t.Errorf("project every column gives %v, want %v", got, ts.Columns)
			}
			q, err = kql.Compile(ts.Name+" | getschema", cat)
			if err != nil {
				t.Fatalf("getschema: %v", err)
			}
			res, err := q.Run(context.Background(), src, kql.Options{})
			if err != nil {
				t.Fatalf("run getschema: %v", err)
			}
			rows := res.Tables[0].Rows
			if len(rows) != len(ts.Columns) {
				t.Fatalf("getschema lists %d columns, want %d", len(rows), len(ts.Columns))
			}
			for i, r := range rows {
				if want := ts.Columns[i]; r[0] != want.Name || r[3] != want.Type.String() {
					t.Errorf("getschema row %d is %v %v, want %s %s", i, r[0], r[3], want.Name, want.Type)
				}
			}
		})
	}
}

// TestDetectionQueriesBind compiles queries of the kind analytics rules run
// against the standard tables.
func TestDetectionQueriesBind(t *testing.T) {
	cat, _ := standardCatalog(t)
	queries := map[string]string{
		"failed Windows logons": `SecurityEvent
| where TimeGenerated > ago(1h) and EventID == 4625
| summarize Failures = count() by TargetAccount, Computer, IpAddress
| where Failures > 10`,
		"sign-in failures by user": `SigninLogs
| where ResultType in ("50126", "50053")
| summarize Attempts = count(), IPs = make_set(IPAddress) by UserPrincipalName, AppDisplayName`,
		"firewall denies by vendor": `CommonSecurityLog
| where DeviceVendor == "Palo Alto Networks" and DeviceAction =~ "deny"
| summarize count() by SourceIP, DestinationIP, DestinationPort`,
		"AWS console logins without MFA": `AWSCloudTrail
| where EventName == "ConsoleLogin"
| extend MFA = tostring(parse_json(AdditionalEventData).MFAUsed)
| where MFA != "Yes"
| project TimeGenerated, UserIdentityArn, SourceIpAddress, AWSRegion`,
		"mailbox rule creation": `OfficeActivity
| where Operation in ("New-InboxRule", "Set-InboxRule") and ResultStatus == "True"
| project TimeGenerated, UserId, ClientIP, Parameters`,
		"Azure role assignment": `AzureActivity
| where OperationNameValue =~ "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE" and ActivityStatusValue == "Success"
| summarize by Caller, CallerIpAddress, ResourceGroup`,
		"TI IP match on DNS": `ThreatIntelligenceIndicator
| where Active == true and isnotempty(NetworkIP)
| join kind=inner (DnsEvents | where isnotempty(IPAddresses)) on $left.NetworkIP == $right.IPAddresses
| project TimeGenerated, Computer, Name, NetworkIP, ThreatType`,
		"web shell requests": `W3CIISLog
| where csMethod == "POST" and csUriStem endswith ".aspx" and scStatus == "200"
| summarize count() by cIP, csUriStem, sSiteName`,
		"sudo in syslog": `Syslog
| where Facility == "authpriv" and SyslogMessage has "sudo"
| project TimeGenerated, HostName, ProcessName, SyslogMessage`,
		"encoded PowerShell": `DeviceProcessEvents
| where Timestamp > ago(1d) and FileName in~ ("powershell.exe", "pwsh.exe")
| where ProcessCommandLine has_any ("-enc", "-EncodedCommand")
| project Timestamp, DeviceName, AccountName, ProcessCommandLine, InitiatingProcessFileName`,
		"connections to rare ports": `DeviceNetworkEvents
| where ActionType == "ConnectionSuccess" and RemotePort in (4444, 1337)
| summarize count() by DeviceName, RemoteIP, RemotePort, InitiatingProcessFileName`,
		"LDAP reconnaissance": `IdentityQueryEvents
| where QueryType == "AllUsers" or Query has "admincount"
| summarize Queries = count() by AccountUpn, DeviceName, bin(Timestamp, 1h)`,
		"clicked phishing links": `EmailEvents
| where ThreatTypes has "Phish" and DeliveryAction == "Delivered"
| join kind=inner (UrlClickEvents | where ActionType == "ClickAllowed") on NetworkMessageId
| project Timestamp, RecipientEmailAddress, Subject, Url`,
		"new admin in directory": `AuditLogs
| where OperationName == "Add member to role" and Result == "success"
| extend Target = tostring(TargetResources[0].userPrincipalName)
| project TimeGenerated, Target, InitiatedBy, CorrelationId`,
		"service principal sign-in from new IP": `AADServicePrincipalSignInLogs
| where ResultType == "0"
| summarize FirstSeen = min(TimeGenerated) by ServicePrincipalName, IPAddress`,
		"UEBA anomalous activity": `BehaviorAnalytics
| where InvestigationPriority > 5
| project TimeGenerated, UserPrincipalName, ActivityType, ActionType, SourceIPAddress`,
		"DNS to known-bad domains": `ASimDnsActivityLogs
| where DnsQuery endswith ".onion.to" and EventResult == "Success"
| summarize count() by SrcIpAddr, DnsQuery`,
		"firewall allowed outbound SMB": `AZFWNetworkRule
| where DestinationPort == 445 and Action == "Allow"
| project TimeGenerated, SourceIp, DestinationIp, Policy, Rule`,
		"incidents closed as true positive": `SecurityIncident
| summarize arg_max(LastModifiedTime, *) by IncidentNumber
| where Status == "Closed" and Classification == "TruePositive"
| project IncidentNumber, Title, Severity, Owner`,
		"failed analytics rule runs": `SentinelHealth
| where SentinelResourceType == "Analytics Rule" and Status == "Failure"
| summarize Failures = count() by SentinelResourceName, Reason`,
		"watchlist items": `Watchlist
| where _DTItemType == "watchlist-item" and WatchlistAlias == "HighValueAssets"
| extend Host = tostring(WatchlistItem.Hostname)
| project SearchKey, Host, _DTTimestamp`,
		"key vault access": `AzureDiagnostics
| where ResourceProvider == "MICROSOFT.KEYVAULT" and OperationName == "SecretGet"
| summarize count() by CallerIPAddress, identity_claim_appid_g, Resource`,
	}
	for name, q := range queries {
		t.Run(name, func(t *testing.T) {
			if _, err := kql.Compile(q, cat); err != nil {
				t.Errorf("%v\n%s", err, q)
			}
		})
	}
}

// TestSecurityAlertHoldsWhatSealwatchWrites checks every column of the row
// an alert is written as is a declared column of SecurityAlert, with a
// value its declared type holds.
func TestSecurityAlertHoldsWhatSealwatchWrites(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	host, err := alert.NewEntity("Host", map[string]string{"HostName": "web01"})
	if err != nil {
		t.Fatal(err)
	}
	a := &alert.Alert{
		SystemAlertID: "0b6f7e3a-6a53-4a4c-9d5e-2f1f1a7c9e01", DisplayName: "Failed logons", Severity: "Medium",
		Tactics: []string{"CredentialAccess"}, Techniques: []string{"T1110"},
		StartTime: now.Add(-time.Hour), EndTime: now, TimeGenerated: now,
		RuleID: "5d5b2a8e-1f7e-4d0a-8a8f-7b9c1d2e3f40", RuleName: "Failed logons",
		QueryStart: now.Add(-time.Hour), QueryEnd: now, Entities: []alert.Entity{host},
		CustomDetails: map[string][]any{"Account": {"alice"}},
		WorkspaceID:   "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w",
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	s, ok := StandardSchema("SecurityAlert")
	if !ok {
		t.Fatal("SecurityAlert is not built in")
	}
	for name, v := range a.Row() {
		typ := columnType(s, name)
		switch {
		case typ == "":
			t.Errorf("Sealwatch writes column %s, which SecurityAlert does not declare", name)
		case !holds(typ, v):
			t.Errorf("Sealwatch writes %s as %T, which a %s column does not hold", name, v, typ)
		}
	}
}

// TestSentinelHealthHoldsWhatSealwatchWrites checks every field of the
// record a rule run is written to SentinelHealth as is a declared column
// that holds it. The record's type is the detection package's own, so its
// fields are read from its declaration.
func TestSentinelHealthHoldsWhatSealwatchWrites(t *testing.T) {
	fields := jsonFields(t, "../detection/health.go", "healthRecord")
	s, ok := StandardSchema("SentinelHealth")
	if !ok {
		t.Fatal("SentinelHealth is not built in")
	}
	for name, goType := range fields {
		typ := columnType(s, name)
		switch {
		case typ == "":
			t.Errorf("Sealwatch writes column %s, which SentinelHealth does not declare", name)
		case !holds(typ, sampleOf(goType)):
			t.Errorf("Sealwatch writes %s as %s, which a %s column does not hold", name, goType, typ)
		}
	}
}

// jsonFields returns the JSON field names of struct typeName declared in
// file, each with its Go type as written.
func jsonFields(t *testing.T, file, typeName string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var st *ast.StructType
	ast.Inspect(f, func(n ast.Node) bool {
		if ts, ok := n.(*ast.TypeSpec); ok && ts.Name.Name == typeName {
			st, _ = ts.Type.(*ast.StructType)
		}
		return st == nil
	})
	if st == nil {
		t.Fatalf("%s declares no struct %s", file, typeName)
	}
	out := map[string]string{}
	for _, fld := range st.Fields.List {
		if fld.Tag == nil {
			t.Fatalf("%s.%s has a field without a JSON name", typeName, fld.Names[0].Name)
		}
		tag, _ := strconv.Unquote(fld.Tag.Value)
		name, _, _ := strings.Cut(reflect.StructTag(tag).Get("json"), ",")
		out[name] = types.ExprString(fld.Type)
	}
	return out
}

// sampleOf is a value of the Go type named as written in a declaration;
// any other type marshals as a JSON object.
func sampleOf(goType string) any {
	switch goType {
	case "time.Time":
		return time.Time{}
	case "string":
		return ""
	case "bool":
		return false
	case "int", "int64":
		return int64(0)
	case "float64":
		return 0.0
	}
	return map[string]any{}
}

func TestLoadStandardRefusesMalformedFiles(t *testing.T) {
	for _, tc := range []struct{ name, file, body string }{
		{"not JSON", "T.json", `{"name": "T", "columns": [`},
		{"unknown field", "T.json", `{"name": "T", "columns": [{"name": "TimeGenerated", "typ": "datetime"}]}`},
		{"name differs from file", "T.json", `{"name": "U", "columns": [{"name": "TimeGenerated", "type": "datetime"}]}`},
		{"two schemas", "T.json", `{"name": "T", "columns": [{"name": "A", "type": "string"}]} {}`},
		{"no columns", "T.json", `{"name": "T", "columns": []}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{"d/" + tc.file: {Data: []byte(tc.body)}}
			if s, err := loadStandard(fsys, "d"); err == nil {
				t.Errorf("loaded %v", s)
			}
		})
	}
	fsys := fstest.MapFS{
		"d/B.json": {Data: []byte(`{"name": "B", "columns": [{"name": "TimeGenerated", "type": "datetime"}]}`)},
		"d/A.json": {Data: []byte(`{"name": "A", "description": "a", "columns": [{"name": "X", "type": "long"}]}`)},
	}
	s, err := loadStandard(fsys, "d")
	if err != nil || len(s) != 2 || s[0].Name != "A" || s[1].Name != "B" || s[0].Columns[0] != (Column{Name: "X", Type: "long"}) {
		t.Errorf("loadStandard = %v, %v; want A then B", s, err)
	}
}

// standardCatalog is the standard tables as a query catalog, and a source
// holding each of them empty.
func standardCatalog(t *testing.T) (kql.Catalog, *kql.MemSource) {
	t.Helper()
	var tabs []*kql.MemTable
	for _, s := range Standard() {
		cols := make([]kql.Column, len(s.Columns))
		for i, c := range s.Columns {
			typ, ok := kql.ParseType(c.Type)
			if !ok {
				t.Fatalf("%s.%s: the query engine has no type %q", s.Name, c.Name, c.Type)
			}
			cols[i] = kql.Column{Name: c.Name, Type: typ}
		}
		tabs = append(tabs, kql.NewMemTable(s.Name, cols...))
	}
	src := kql.NewMemSource(tabs...)
	return src.Catalog(), src
}

func columnType(s Schema, name string) string {
	for _, c := range s.Columns {
		if c.Name == name {
			return c.Type
		}
	}
	return ""
}

// holds reports whether a column of type typ holds the Go value v as a
// writer puts it in a row.
func holds(typ string, v any) bool {
	switch v.(type) {
	case nil:
		return true
	case string:
		return typ == "string" || typ == "dynamic"
	case bool:
		return typ == "boolean" || typ == "dynamic"
	case time.Time:
		return typ == "datetime"
	case int, int32, int64:
		return typ == "int" || typ == "long" || typ == "real" || typ == "dynamic"
	case float64:
		return typ == "real" || typ == "dynamic"
	}
	return typ == "dynamic"
}
