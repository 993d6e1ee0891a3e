package kql

// scanCases cover the scan operator with the examples its documentation walks through, the
// "A then B within T" sequence a detection writes with it, output=last and none, and the
// definitions refused when the query binds. TestQueriesGiveDocumentedResults runs them.
var scanCases = []kqlCase{
	{name: "scan cumulative sum as documented", q: `range x from 1 to 5 step 1 | scan declare (cumulative_x:long=0) with (step s1: true => cumulative_x = x + s1.cumulative_x;)`,
		want: `[[1,1],[2,3],[3,6],[4,10],[5,15]]`, cols: "x:long,cumulative_x:long"},
	{name: "scan cumulative sums with a reset as documented", q: `range x from 1 to 5 step 1 | extend y = 2 * x | scan declare (cumulative_x:long=0, cumulative_y:long=0) with (step s1: true => cumulative_x = iff(s1.cumulative_x >= 10, x, x + s1.cumulative_x), cumulative_y = iff(s1.cumulative_y >= 10, y, y + s1.cumulative_y);)`,
		want: `[[1,2,1,2],[2,4,3,6],[3,6,6,12],[4,8,10,8],[5,10,5,18]]`},
	{name: "scan fills forward as documented", q: `datatable (Ts: timespan, Event: string) [0m, "A", 1m, "", 2m, "B", 3m, "", 4m, "", 6m, "C", 8m, "", 11m, "D", 12m, ""] | sort by Ts asc | scan declare (Event_filled: string="") with (step s1: true => Event_filled = iff(isempty(Event), s1.Event_filled, Event);) | project Event_filled`,
		want: `[["A"],["A"],["B"],["B"],["B"],["C"],["C"],["D"],["D"]]`, cols: "Event_filled:string"},
	{name: "scan tags sessions as documented", q: `datatable (Ts: timespan, Event: string) [0m, "A", 1m, "A", 2m, "B", 3m, "D", 32m, "B", 36m, "C", 38m, "D", 41m, "E", 75m, "A"] | sort by Ts asc | scan with_match_id=session_id declare (sessionStart: timespan) with (step inSession: true => sessionStart = iff(isnull(inSession.sessionStart), Ts, inSession.sessionStart); step endSession output=none: Ts - inSession.sessionStart > 30m;)`,
		want: `[["00:00:00","A","00:00:00",0],["00:01:00","A","00:00:00",0],["00:02:00","B","00:00:00",0],["00:03:00","D","00:00:00",0],["00:32:00","B","00:32:00",1],["00:36:00","C","00:32:00",1],["00:38:00","D","00:32:00",1],["00:41:00","E","00:32:00",1],["01:15:00","A","01:15:00",2]]`,
		cols: "Ts:timespan,Event:string,sessionStart:timespan,session_id:long"},
	{name: "scan finds events between start and stop as documented", q: `datatable (Ts: timespan, Event: string) [0m, "A", 1m, "Start", 2m, "B", 3m, "D", 4m, "Stop", 6m, "C", 8m, "Start", 11m, "E", 12m, "Stop"] | sort by Ts asc | scan with_match_id=m_id with (step s1: Event == "Start"; step s2: Event != "Start" and Event != "Stop" and Ts - s1.Ts <= 5m; step s3: Event == "Stop" and Ts - s1.Ts <= 5m;)`,
		want: `[["00:01:00","Start",0],["00:02:00","B",0],["00:03:00","D",0],["00:04:00","Stop",0],["00:08:00","Start",1],["00:11:00","E",1],["00:12:00","Stop",1]]`},
	{name: "scan outputs one row per login and logout pair", q: `datatable(Timestamp:datetime, userID:int, EventType:string) [datetime(2024-05-28 08:15:23), 1, "login", datetime(2024-05-28 12:30:45), 1, "logout"] | sort by Timestamp asc | scan declare (start: datetime, end: datetime, sessionDuration: timespan) with (step s1 output=none: EventType == "login" => start = Timestamp; step s2 output=all: EventType == "logout" => start = s1.start, end = Timestamp, sessionDuration = Timestamp - s1.start;) | project start, end, sessionDuration`,
		want: `[["2024-05-28T08:15:23Z","2024-05-28T12:30:45Z","04:15:22"]]`},
	{name: "scan a failed logon then a success within an hour", q: `Events | sort by TimeGenerated asc | scan with_match_id=m declare (failedAt: datetime) with (step fail: EventID == 4625 => failedAt = TimeGenerated; step success: EventID == 4624 and TimeGenerated - fail.failedAt <= 1h;) | project TimeGenerated, Account, m`,
		want: `[["2026-11-26T08:30:00Z","bob",0],["2026-11-26T09:00:00Z","Alice",0],["2026-11-26T09:15:00Z","carol",1],["2026-11-26T11:45:00Z","",1]]`},
	{name: "scan output=last gives the last of a run of matches", q: `range x from 1 to 6 step 1 | scan with (step a output=last: x <= 3; step b: x > 4;)`, want: `[[3],[5],[6]]`},
	{name: "scan of nothing is nothing", q: `Events | where EventID == 1 | scan with (step s: true;)`, want: `[]`},

	{name: "scan refuses assigning an undeclared column", q: `Events | scan with (step s: true => Count = 1;)`, err: `step s assigns "Count", which scan does not declare`},
	{name: "scan refuses two steps of one name", q: `Events | scan with (step s: true; step s: true;)`, err: "scan has two steps named s"},
	{name: "scan refuses a non-bool condition", q: `Events | scan with (step s: Count;)`, err: "the condition of step s must be bool, not long"},
	{name: "scan refuses an unknown state column", q: `Events | scan with (step s: s.Nope == 1;)`, err: `unknown column "Nope" in the state of step s`},
	{name: "scan refuses an assignment of another type", q: `Events | scan declare (n: long) with (step s: true => n = Account;)`, err: "step s assigns a string to n, which is long"},
	{name: "scan refuses a non-constant default", q: `Events | scan declare (n: long = Count) with (step s: true;)`, err: "the default of n must be a constant long"},
	{name: "scan refuses declaring an input column", q: `Events | scan declare (Count: long) with (step s: true;)`, err: `scan declares "Count", which is already a column`},
	{name: "scan refuses an unknown output mode", q: `Events | scan with (step s output=first: true;)`, err: "a step's output must be all, last or none, not first"},
	{name: "scan needs steps", q: `Events | scan with ()`, err: "scan needs at least one step"},
	{name: "scan needs a semicolon between steps", q: `Events | scan with (step a: true step b: true)`, err: `expected ";" after the step`},
}
