package kql

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// kqlCase is one query over the fixture tables with its expected rows (as the query API's
// JSON), optionally its expected columns ("name:type,...") or an error it must fail with.
type kqlCase struct {
	name, q, want string
	cols          string
	err           string
}

var operatorCases = []kqlCase{
	{name: "where equality", q: `Events | where EventID == 4625 | project Account`, want: `[["bob"],["carol"],[""]]`},
	{name: "where and", q: `Events | where EventID == 4624 and Computer == "web01" | project Account`, want: `[["alice"]]`},
	{name: "where or with null", q: `Events | where Account == "carol" or Count == 6 | project Count`, want: `[[null],[6]]`},
	{name: "filter alias on bool column", q: `Events | filter Ok | count`, want: `[[3]]`},
	{name: "where not()", q: `Events | where not(Ok) | count`, want: `[[3]]`},
	{name: "where bool == false", q: `Events | where Ok == false | project Account`, want: `[["bob"],["carol"],[""]]`},
	{name: "chained where", q: `Events | where Ok | where Count > 1 | project Count`, want: `[[3],[5]]`},
	{name: "extend named", q: `Events | take 1 | extend Double = Count * 2 | project Double`, want: `[[2]]`},
	{name: "extend auto name Column1", q: `Events | take 1 | extend Count * 2 | project Column1`, want: `[[2]]`, cols: "Column1:long"},
	{name: "extend replaces column in place", q: `Events | take 2 | extend Count = Count + 10 | project Count`, want: `[[11],[12]]`},
	{name: "extend keeps columns", q: `Users | take 1 | extend x = 1`, want: `[["alice","eng",3,1]]`, cols: "Account:string,Dept:string,Level:long,x:long"},
	{name: "project renames", q: `Events | take 1 | project A = Account, C = Computer`, want: `[["alice","web01"]]`},
	{name: "project property name", q: `Events | take 1 | project Props.ip`, want: `[["10.0.0.1"]]`, cols: "Props_ip:dynamic"},
	{name: "project expression auto name", q: `Users | take 1 | project strlen(Account)`, want: `[[5]]`, cols: "Column1:long"},
	{name: "project-away", q: `Events | take 1 | project-away TimeGenerated, Props, Ok, Score`, want: `[["web01",4624,"alice",1]]`, cols: "Computer:string,EventID:int,Account:string,Count:long"},
	{name: "project-away wildcard", q: `Events | take 1 | project-away *e*`, want: `[["alice",1,{"ip":"10.0.0.1","tags":["a","b"]},true]]`},
	{name: "project-keep wildcard", q: `Events | take 1 | project-keep Acc*, Count`, want: `[["alice",1]]`},
	{name: "project-rename", q: `Events | take 1 | project-rename Host = Computer | project Host`, want: `[["web01"]]`},
	{name: "project-reorder", q: `Events | take 1 | project Account, Computer, Count | project-reorder Count, Computer`, want: `[[1,"web01","alice"]]`},
	{name: "project-reorder wildcard", q: `Events | take 1 | project Account, Computer, Count | project-reorder C*`, want: `[["web01",1,"alice"]]`},
	{name: "summarize count by", q: `Events | summarize count() by Computer | sort by Computer asc`, want: `[["WEB01",1],["db01",2],["dc01",1],["web01",2]]`, cols: "Computer:string,count_:long"},
	{name: "summarize named count", q: `Events | summarize n = count() by EventID | sort by EventID asc`, want: `[[4624,2],[4625,3],[4688,1]]`, cols: "EventID:int,n:long"},
	{name: "summarize without by", q: `Events | summarize count(), sum(Count), avg(Score)`, want: `[[6,17,1.5]]`, cols: "count_:long,sum_Count:long,avg_Score:real"},
	{name: "summarize by bin hour", q: `Events | summarize count() by bin(TimeGenerated, 1h) | sort by TimeGenerated asc`, want: `[["2026-11-26T08:00:00Z",2],["2026-11-26T09:00:00Z",2],["2026-11-26T10:00:00Z",1],["2026-11-26T11:00:00Z",1]]`, cols: "TimeGenerated:datetime,count_:long"},
	{name: "summarize empty input no by gives one row", q: `Events | where EventID == 1 | summarize count(), sum(Count), make_set(Account), max(Score)`, want: `[[0,0,[],null]]`},
	{name: "summarize empty input with by gives none", q: `Events | where EventID == 1 | summarize count() by Computer`, want: `[]`},
	{name: "summarize by two keys", q: `Events | summarize c = count() by Ok, EventID | sort by EventID asc`, want: `[[true,4624,2],[false,4625,3],[true,4688,1]]`},
	{name: "summarize by expression", q: `Events | summarize count() by c = tolower(Computer) | sort by c asc`, want: `[["db01",2],["dc01",1],["web01",3]]`},
	{name: "summarize by computed unnamed", q: `Events | summarize count() by tolower(Computer) | count`, want: `[[3]]`},
	{name: "summarize by unnamed function of a column is Column1", q: `Events | summarize count() by tolower(Computer) | sort by Column1 asc | take 1`, want: `[["db01",2]]`, cols: "Column1:string,count_:long"},
	{name: "summarize by tostring names the group after its column", q: `Events | summarize count() by tostring(EventID) | sort by EventID asc`, want: `[["4624",2],["4625",3],["4688",1]]`, cols: "EventID:string,count_:long"},
	{name: "summarize by tostring of a property path", q: `Events | where isnotempty(Props.ip) | summarize count() by tostring(Props.ip) | sort by Props_ip asc | take 1`, want: `[["10.0.0.1",1]]`, cols: "Props_ip:string,count_:long"},
	{name: "aggregates named after their argument", q: `Events | summarize count(Account), dcount(Account), min(Count), max(Count), avg(Count)`, want: `[[6,5,1,6,3.4]]`, cols: "count_Account:long,dcount_Account:long,min_Count:long,max_Count:long,avg_Count:real"},
	{name: "aggregate of a conversion named after its column", q: `Events | summarize sum(toint(Count))`, want: `[[17]]`, cols: "sum_Count:long"},
	{name: "extend tostring replaces its column", q: `Events | take 1 | extend tostring(EventID) | project EventID`, want: `[["4624"]]`, cols: "EventID:string"},
	{name: "project todatetime keeps the name", q: `Events | take 1 | project todatetime(TimeGenerated)`, want: `[["2026-11-26T08:00:00Z"]]`, cols: "TimeGenerated:datetime"},
	{name: "gettype named type_ and its argument", q: `Events | take 1 | project gettype(Count)`, want: `[["long"]]`, cols: "type_Count:string"},
	{name: "sort default is descending with nulls last", q: `Events | sort by Count | project Count`, want: `[[6],[5],[3],[2],[1],[null]]`},
	{name: "sort asc nulls first", q: `Events | sort by Count asc | project Count`, want: `[[null],[1],[2],[3],[5],[6]]`},
	{name: "sort asc nulls last", q: `Events | sort by Count asc nulls last | project Count`, want: `[[1],[2],[3],[5],[6],[null]]`},
	{name: "sort desc nulls first", q: `Events | sort by Count desc nulls first | project Count`, want: `[[null],[6],[5],[3],[2],[1]]`},
	{name: "order by two keys", q: `Events | order by Computer asc, TimeGenerated desc | project Computer, Count`, want: `[["WEB01",5],["db01",null],["db01",3],["dc01",6],["web01",2],["web01",1]]`},
	{name: "top", q: `Events | top 2 by Score | project Score`, want: `[[4],[2.5]]`},
	{name: "top asc nulls first", q: `Events | top 2 by Score asc | project Score`, want: `[[null],[-1]]`},
	{name: "top asc nulls last", q: `Events | top 2 by Score asc nulls last | project Score`, want: `[[-1],[0.5]]`},
	{name: "take", q: `Events | take 2 | project Count`, want: `[[1],[2]]`},
	{name: "limit", q: `Events | limit 1 | project Count`, want: `[[1]]`},
	{name: "take zero", q: `Events | take 0`, want: `[]`},
	{name: "count", q: `Events | count`, want: `[[6]]`, cols: "Count:long"},
	{name: "count after filter", q: `Events | where Computer startswith "web" | count`, want: `[[3]]`},
	{name: "distinct", q: `Events | distinct EventID | sort by EventID asc`, want: `[[4624],[4625],[4688]]`},
	{name: "distinct two columns", q: `Events | distinct Computer, EventID | count`, want: `[[6]]`},
	{name: "distinct star", q: `Users | distinct * | count`, want: `[[4]]`},
	{name: "join default innerunique dedupes left", q: `Events | join (Users) on Account | project Account, Dept, Count`, want: `[["alice","eng",1],["bob","ops",2],["bob","sec",2]]`},
	{name: "join inner", q: `Events | join kind=inner (Users) on Account | project Account, Dept, Count`, want: `[["alice","eng",1],["bob","ops",2],["bob","sec",2],["bob","ops",5],["bob","sec",5]]`},
	{name: "join leftouter", q: `Events | join kind=leftouter (Users) on Account | project Account, Dept, Account1`, want: `[["alice","eng","alice"],["bob","ops","bob"],["bob","sec","bob"],["Alice","",""],["carol","",""],["bob","ops","bob"],["bob","sec","bob"],["","",""]]`},
	{name: "join rightouter", q: `Events | join kind=rightouter (Users) on Account | project Account, Account1, Dept`, want: `[["alice","alice","eng"],["bob","bob","ops"],["bob","bob","sec"],["bob","bob","ops"],["bob","bob","sec"],["","dave","eng"]]`},
	{name: "join fullouter", q: `Events | join kind=fullouter (Users) on Account | count`, want: `[[9]]`},
	{name: "join fullouter null left side", q: `Events | join kind=fullouter (Users) on Account | where isnull(EventID) | project Account1, Level`, want: `[["dave",1]]`},
	{name: "join leftanti", q: `Events | join kind=leftanti (Users) on Account | project Account`, want: `[["Alice"],["carol"],[""]]`},
	{name: "join rightanti", q: `Events | join kind=rightanti (Users) on Account`, want: `[["dave","eng",1]]`, cols: "Account:string,Dept:string,Level:long"},
	{name: "join leftsemi", q: `Events | join kind=leftsemi (Users) on Account | project Account`, want: `[["alice"],["bob"],["bob"]]`},
	{name: "join rightsemi", q: `Events | join kind=rightsemi (Users) on Account`, want: `[["alice","eng",3],["bob","ops",2],["bob","sec",5]]`},
	{name: "join $left $right", q: `Events | join kind=inner (Users | project User = Account, Dept) on $left.Account == $right.User | project Account, User, Dept | take 1`, want: `[["alice","alice","eng"]]`},
	{name: "join $right $left order", q: `Events | join kind=inner (Users | project User = Account, Dept) on $right.User == $left.Account | count`, want: `[[5]]`},
	{name: "join clash suffix 1", q: `Events | join kind=inner (Users) on Account | project-keep Account* | take 1`, want: `[["alice","alice"]]`, cols: "Account:string,Account1:string"},
	{name: "join clash TimeGenerated1", q: `Events | take 1 | join (Logs | take 1 | extend Computer = Host) on Computer | project-keep TimeGenerated*`, want: `[["2026-11-26T08:00:00Z","2026-11-26T07:00:00Z"]]`, cols: "TimeGenerated:datetime,TimeGenerated1:datetime"},
	{name: "project-away *1 after join", q: `Events | join kind=inner (Users) on Account | project-away *1 | getschema | where ColumnName endswith "1" | count`, want: `[[0]]`},
	{name: "join two keys", q: `Users | join kind=inner (Users | project Account, Dept, L2 = Level) on Account, Dept | project Account, Dept, Level, L2`, want: `[["alice","eng",3,3],["bob","ops",2,2],["dave","eng",1,1],["bob","sec",5,5]]`},
	{name: "join null keys never match", q: `datatable(k:long, a:string)[1,"x", long(null),"y"] | join kind=inner (datatable(k:long, b:string)[1,"p", long(null),"q"]) on k | project a, b`, want: `[["x","p"]]`},
	{name: "join leftouter null key kept", q: `datatable(k:long, a:string)[1,"x", long(null),"y"] | join kind=leftouter (datatable(k:long, b:string)[1,"p"]) on k | project a, b`, want: `[["x","p"],["y",""]]`},
	{name: "join right side table name", q: `Events | join kind=inner Users on Account | count`, want: `[[5]]`},
	{name: "union", q: `union Users, (Users | take 1) | count`, want: `[[5]]`},
	{name: "union withsource", q: `union withsource=Src Users, Logs | summarize count() by Src | sort by Src asc`, want: `[["Logs",4],["Users",4]]`},
	{name: "union isfuzzy skips missing", q: `union isfuzzy=true Users, NoSuchTable | count`, want: `[[4]]`},
	{name: "union type clash names", q: `union (print x=1), (print x="a") | getschema | project ColumnName`, want: `[["x_long"],["x_string"]]`},
	{name: "union operator", q: `Users | union Logs | count`, want: `[[8]]`},
	{name: "union wildcard", q: `union U* | count`, want: `[[4]]`},
	{name: "union columns by name", q: `union (print a=1, b="x"), (print b="y", c=2.5)`, want: `[[1,"x",null],[null,"y",2.5]]`, cols: "a:long,b:string,c:real"},
	{name: "union kind=inner", q: `union kind=inner (print a=1, b="x"), (print b="y", c=2.5)`, want: `[["x"],["y"]]`},
	{name: "mv-expand", q: `Events | take 2 | mv-expand t = Props.tags | project Account, t`, want: `[["alice","a"],["alice","b"],["bob","b"]]`},
	{name: "mv-expand to typeof", q: `print a = dynamic([1,2,3]) | mv-expand a to typeof(long) | summarize sum(a)`, want: `[[6]]`},
	{name: "mv-expand with_itemindex", q: `print a = dynamic(["x","y"]) | mv-expand with_itemindex=i a | project i, a`, want: `[[0,"x"],[1,"y"]]`},
	{name: "mv-expand null keeps empty arrays drop", q: `Events | mv-expand t = Props.tags | count`, want: `[[7]]`},
	{name: "mv-expand bag", q: `print b = dynamic({"k1":1,"k2":2}) | mv-expand b`, want: `[[{"k1":1}],[{"k2":2}]]`},
	{name: "mv-expand bag as array", q: `print b = dynamic({"k1":1}) | mv-expand bagexpansion=array b`, want: `[[["k1",1]]]`},
	{name: "mvexpand legacy", q: `print a = dynamic([1,2]) | mvexpand a | count`, want: `[[2]]`},
	{name: "mv-expand zips columns", q: `print a = dynamic([1,2,3]), b = dynamic(["x"]) | mv-expand a, b | project a, b`, want: `[[1,"x"],[2,null],[3,null]]`},
	{name: "mv-expand limit", q: `print a = dynamic([1,2,3]) | mv-expand a limit 2 | count`, want: `[[2]]`},
	{name: "parse simple typed", q: `Logs | take 1 | parse Msg with "Failed password for " User " from " IP " port " Port:int " " * | project User, IP, Port`, want: `[["root","10.0.0.5",22]]`, cols: "User:string,IP:string,Port:int"},
	{name: "parse leading star", q: `Logs | parse Msg with * "user=" U " id=" Id:long | where isnotempty(U) | project U, Id`, want: `[["carol",42]]`},
	{name: "parse no match gives empty", q: `Logs | parse Msg with "Accepted password for " User " from " * | project User`, want: `[[""],["alice"],[""],[""]]`},
	{name: "parse typed mismatch simple", q: `print s = "id=abc" | parse s with "id=" n:long | project n`, want: `[[null]]`},
	{name: "parse keeps a row the pattern misses, its captures empty", q: `datatable(s:string) ["a=1", "junk"] | parse s with "a=" a:long | project s, a`, want: `[["a=1",1],["junk",null]]`},
	{name: "parse-where drops a row the pattern misses", q: `datatable(s:string) ["a=1", "junk", "a=x"] | parse-where s with "a=" a:long | project s, a`, want: `[["a=1",1]]`},
	{name: "parse relaxed keeps good captures", q: `print s = "a=x b=7" | parse kind=relaxed s with "a=" a:long " b=" b:long | project a, b`, want: `[[null,7]]`},
	{name: "parse simple all or nothing", q: `print s = "a=x b=7" | parse s with "a=" a:long " b=" b:long | project a, b`, want: `[[null,null]]`},
	{name: "parse regex", q: `print s = "user42" | parse kind=regex s with "user" n:long | project n`, want: `[[42]]`},
	{name: "parse last capture takes rest", q: `print s = "k=v rest of it" | parse s with "k=" k " " rest | project k, rest`, want: `[["v","rest of it"]]`},
	{name: "lookup", q: `Events | lookup (Users | where Dept != "sec") on Account | project Account, Dept`, want: `[["alice","eng"],["bob","ops"],["Alice",""],["carol",""],["bob","ops"],["",""]]`},
	{name: "lookup does not repeat key", q: `Events | take 1 | lookup (Users | where Dept != "sec") on Account | getschema | count`, want: `[[10]]`},
	{name: "lookup inner", q: `Events | lookup kind=inner (Users | where Dept != "sec") on Account | count`, want: `[[3]]`},
	{name: "as", q: `Users | as U | count`, want: `[[4]]`},
	{name: "as binds a name for a later join", q: `Users | as U | join kind=inner (U) on Account | count`, want: `[[6]]`},
	{name: "as binds a name for a later statement", q: `Users | where Level > 2 | as Senior; Senior | count`, want: `[["alice","eng",3],["bob","sec",5]]`},
	{name: "getschema", q: `Users | getschema | project ColumnName, DataType, ColumnType`, want: `[["Account","System.String","string"],["Dept","System.String","string"],["Level","System.Int64","long"]]`},
	{name: "print", q: `print x = 1, y = "a"`, want: `[[1,"a"]]`, cols: "x:long,y:string"},
	{name: "print auto names", q: `print 1, "a"`, want: `[[1,"a"]]`, cols: "print_0:long,print_1:string"},
	{name: "datatable", q: `datatable(a:long, b:string)[1,"x",2,"y"] | where a > 1`, want: `[[2,"y"]]`},
	{name: "datatable typed values", q: `datatable(t:datetime, d:timespan, g:guid, b:bool, r:real)[datetime(2026-01-02), 1h, guid(74be27de-1e4e-49d9-b579-fe0b331d3642), true, 1]`, want: `[["2026-01-02T00:00:00Z","01:00:00","74be27de-1e4e-49d9-b579-fe0b331d3642",true,1]]`},
	{name: "range", q: `range x from 1 to 5 step 2`, want: `[[1],[3],[5]]`},
	{name: "search all tables", q: `search "carol" | summarize count() by $table | sort by $table asc`, want: `[["Events",1],["Logs",1]]`},
	{name: "search in table", q: `search in (Users) "eng" | count`, want: `[[2]]`},
	{name: "search piped", q: `Users | search "ops" | project Account`, want: `[["bob"]]`},
	{name: "search column term", q: `search in (Events) Account:"bob" | count`, want: `[[2]]`},
	{name: "search prefix wildcard", q: `Logs | search "pass*" | count`, want: `[[2]]`},
	{name: "search contains wildcard", q: `Logs | search "*sda*" | count`, want: `[[1]]`},
	{name: "search and", q: `Logs | search "password" and "root" | count`, want: `[[1]]`},
	{name: "search case sensitive", q: `Users | search kind=case_sensitive "ENG" | count`, want: `[[0]]`},
	{name: "search predicate", q: `Users | search Level > 2 | count`, want: `[[2]]`},
	{name: "let scalar", q: `let n = 4625; Events | where EventID == n | count`, want: `[[3]]`},
	{name: "let tabular", q: `let T = Events | where Ok; T | count`, want: `[[3]]`},
	{name: "let materialize used twice", q: `let M = materialize(Events | summarize c = count() by Computer); M | join kind=inner (M) on Computer | count`, want: `[[4]]`},
	{name: "materialized rows survive a filtering use", q: `let M = materialize(Users); union (M | where Level > 2), M | count`, want: `[[6]]`},
	{name: "let function scalar", q: `let f = (x:long) { x * 2 }; print f(21)`, want: `[[42]]`},
	{name: "let function tabular", q: `let ByEvent = (id:int) { Events | where EventID == id }; ByEvent(4625) | count`, want: `[[3]]`},
	{name: "let function default param", q: `let f = (x:long, y:long = 10) { x + y }; print f(1)`, want: `[[11]]`},
	{name: "let function tabular param", q: `let cnt = (T:(*)) { T | count }; cnt(Users)`, want: `[[4]]`},
	{name: "let function over column", q: `let norm = (s:string) { tolower(trim(" ", s)) }; Events | where norm(Computer) == "web01" | count`, want: `[[3]]`},
	{name: "let function with inner let", q: `let f = (x:long) { let y = x + 1; y * 10 }; print f(1)`, want: `[[20]]`},
	{name: "let chain", q: `let a = 2; let b = a * 3; print b`, want: `[[6]]`},
	{name: "let timespan window", q: `let window = 3h; Events | where TimeGenerated > ago(window) | count`, want: `[[3]]`},
	{name: "table()", q: `table("Users") | count`, want: `[[4]]`},
	{name: "table() of let", q: `let X = Users | take 2; table("X") | count`, want: `[[2]]`},
	{name: "toscalar", q: `let m = toscalar(Events | summarize max(Count)); Events | where Count == m | project Account`, want: `[[""]]`},
	{name: "toscalar in print", q: `print toscalar(Users | count)`, want: `[[4]]`},
	{name: "toscalar empty is null", q: `print isnull(toscalar(Users | where Level > 100 | project Level))`, want: `[[true]]`},
	{name: "serialize", q: `Users | serialize | extend n = row_number() | project n`, want: `[[1],[2],[3],[4]]`},
	{name: "multiple statements", q: `Users | count; Logs | count`, want: `[[4]]`},
	{name: "comments", q: "// hunting query\nUsers // all users\n| count // done", want: `[[4]]`},
	{name: "bracketed names", q: `print ['my col'] = 1 | project ['my col']`, want: `[[1]]`, cols: "my col:long"},
}

var aggregateCases = []kqlCase{
	{name: "countif", q: `Events | summarize countif(Ok)`, want: `[[3]]`, cols: "countif_:long"},
	{name: "count(col) skips nulls", q: `Events | summarize count(Count)`, want: `[[5]]`},
	{name: "dcount counts empty string", q: `Events | summarize dcount(Account)`, want: `[[5]]`, cols: "dcount_Account:long"},
	{name: "dcountif", q: `Events | summarize dcountif(Account, Ok)`, want: `[[3]]`, cols: "dcountif_Account:long"},
	{name: "sum", q: `Events | summarize sum(Count)`, want: `[[17]]`, cols: "sum_Count:long"},
	{name: "sum real", q: `Events | summarize sum(Score)`, want: `[[7.5]]`, cols: "sum_Score:real"},
	{name: "sum int is long", q: `Events | summarize sum(EventID)`, want: `[[27811]]`, cols: "sum_EventID:long"},
	{name: "sum timespan", q: `datatable(d:timespan)[1h, 30m] | summarize sum(d)`, want: `[["01:30:00"]]`},
	{name: "sumif", q: `Events | summarize sumif(Count, EventID == 4625)`, want: `[[8]]`, cols: "sumif_Count:long"},
	{name: "avg skips nulls", q: `Events | summarize avg(Count)`, want: `[[3.4]]`, cols: "avg_Count:real"},
	{name: "avgif", q: `Events | summarize avgif(Count, Ok)`, want: `[[3]]`},
	{name: "min max", q: `Events | summarize min(Score), max(Score), min(TimeGenerated), max(Account)`, want: `[[-1,4,"2026-11-26T08:00:00Z","carol"]]`, cols: "min_Score:real,max_Score:real,min_TimeGenerated:datetime,max_Account:string"},
	{name: "minif maxif", q: `Events | summarize minif(Count, Ok), maxif(Count, Ok)`, want: `[[1,5]]`},
	{name: "arg_max columns", q: `Events | summarize arg_max(TimeGenerated, Account, Count) by Computer | sort by Computer asc`, want: `[["WEB01","2026-11-26T10:00:00Z","bob",5],["db01","2026-11-26T09:15:00Z","carol",null],["dc01","2026-11-26T11:45:00Z","",6],["web01","2026-11-26T08:30:00Z","bob",2]]`, cols: "Computer:string,TimeGenerated:datetime,Account:string,Count:long"},
	{name: "arg_max star", q: `Events | summarize arg_max(Count, *) by EventID | project EventID, Count, Account | sort by EventID asc`, want: `[[4624,3,"Alice"],[4625,6,""],[4688,5,"bob"]]`},
	{name: "arg_max star schema", q: `Events | summarize arg_max(Count, *) by EventID | getschema | project ColumnName`, want: `[["EventID"],["Count"],["TimeGenerated"],["Computer"],["Account"],["Score"],["Props"],["Ok"]]`},
	{name: "arg_min", q: `Events | summarize arg_min(Score, Account)`, want: `[[-1,""]]`, cols: "Score:real,Account:string"},
	{name: "named arg_max names the maximized column", q: `Events | summarize Latest = arg_max(TimeGenerated, Account) by Computer | sort by Computer asc | take 1`, want: `[["WEB01","2026-11-26T10:00:00Z","bob"]]`, cols: "Computer:string,Latest:datetime,Account:string"},
	{name: "named arg_max star keeps the maximized column too", q: `Events | summarize Top = arg_max(Count, *) by EventID | getschema | project ColumnName`, want: `[["EventID"],["Top"],["TimeGenerated"],["Computer"],["Account"],["Count"],["Score"],["Props"],["Ok"]]`},
	{name: "named arg_max star values", q: `Events | summarize Top = arg_max(Count, *) by EventID | project EventID, Top, Count, Account | sort by EventID asc`, want: `[[4624,3,3,"Alice"],[4625,6,6,""],[4688,5,5,"bob"]]`},
	{name: "arg_max named after its own column", q: `Events | summarize Count = arg_max(Count, *) by EventID | getschema | project ColumnName`, want: `[["EventID"],["Count"],["TimeGenerated"],["Computer"],["Account"],["Score"],["Props"],["Ok"]]`},
	{name: "arg_max star leaves out a computed group's column", q: `Events | summarize arg_max(Count, *) by tostring(EventID) | getschema | project ColumnName`, want: `[["EventID"],["Count"],["TimeGenerated"],["Computer"],["Account"],["Score"],["Props"],["Ok"]]`},
	{name: "arg_max star keeps a column a group renamed", q: `Events | summarize arg_max(Count, *) by Id = EventID | project Id, EventID | sort by Id asc`, want: `[[4624,4624],[4625,4625],[4688,4688]]`},
	{name: "tuple assignment names arg_max columns", q: `Events | summarize (Latest, LatestUser) = arg_max(TimeGenerated, Account) by Computer | sort by Computer asc | take 1`, want: `[["WEB01","2026-11-26T10:00:00Z","bob"]]`, cols: "Computer:string,Latest:datetime,LatestUser:string"},
	{name: "tuple assignment names arg_min columns", q: `Events | summarize (Low, Who) = arg_min(Score, Account)`, want: `[[-1,""]]`, cols: "Low:real,Who:string"},
	{name: "tuple of fewer names leaves the rest", q: `Events | summarize (Low) = arg_min(Score, Account)`, want: `[[-1,""]]`, cols: "Low:real,Account:string"},
	{name: "legacy argmax names its columns max_t and max_t_c", q: `Events | summarize argmax(Count, Account)`, want: `[[6,""]]`, cols: "max_Count:long,max_Count_Account:string"},
	{name: "legacy argmin named keeps min_t_c for the others", q: `Events | summarize Low = argmin(Score, Account)`, want: `[[-1,""]]`, cols: "Low:real,min_Score_Account:string"},
	{name: "a derived group name that repeats is made unique", q: `Events | summarize by tostring(Account), tostring(Account) | count`, want: `[[5]]`},
	{name: "a derived group name that repeats is numbered", q: `Events | summarize by tostring(Account), tostring(Account) | getschema | project ColumnName`, want: `[["Account"],["Account1"]]`},
	{name: "a column grouped twice is refused", q: `Events | summarize by Account, Account`, err: `column "Account" appears twice in summarize`},
	{name: "legacy argmax of star", q: `Events | summarize Count = argmax(Count, *) by Computer | where Computer == "web01" | project Count, max_Count_Account`, want: `[[2,"bob"]]`, cols: "Count:long,max_Count_Account:string"},
	{name: "parenthesized aggregate is not a tuple", q: `Events | summarize (count())`, want: `[[6]]`, cols: "count_:long"},
	{name: "expression over aggregates is Column1", q: `Events | summarize sum(Count) / count()`, want: `[[2]]`, cols: "Column1:long"},
	{name: "named expression over aggregates", q: `Events | summarize Rate = 100.0 * countif(Ok) / count()`, want: `[[50]]`, cols: "Rate:real"},
	{name: "expressions and aggregates keep their order", q: `Events | summarize n = count(), twice = sum(Count) * 2, max(Score) by EventID | sort by EventID asc`, want: `[[4624,2,8,1.5],[4625,3,16,4],[4688,1,10,0.5]]`, cols: "EventID:int,n:long,twice:long,max_Score:real"},
	{name: "expression name after a Column1 group", q: `Events | summarize count() * 10 by tolower(Computer) | sort by Column1 asc | take 1`, want: `[["db01",20]]`, cols: "Column1:string,Column2:long"},
	{name: "expression beside arg_max columns", q: `Events | summarize arg_max(Count, Account), total = sum(Count) + 0`, want: `[[6,"",17]]`, cols: "Count:long,Account:string,total:long"},
	{name: "scalar function of an aggregate", q: `Events | summarize r = round(avg(Score), 1), s = strcat("n=", count())`, want: `[[1.5,"n=6"]]`, cols: "r:real,s:string"},
	{name: "conversion of an aggregate named after the aggregate", q: `Users | summarize tostring(make_set(Dept))`, want: `[["[\"eng\",\"ops\",\"sec\"]"]]`, cols: "set_Dept:string"},
	{name: "aggregate after an expression keeps its name", q: `Events | summarize sum(Count) / count(), count()`, want: `[[2,6]]`, cols: "Column1:long,count_:long"},
	{name: "same aggregate twice in an expression", q: `Events | summarize d = max(Count) - min(Count), max(Count)`, want: `[[5,6]]`, cols: "d:long,max_Count:long"},
	{name: "make_set", q: `Events | summarize make_set(Computer)`, want: `[[["web01","db01","WEB01","dc01"]]]`, cols: "set_Computer:dynamic"},
	{name: "make_set limit", q: `Events | summarize make_set(Computer, 2)`, want: `[[["web01","db01"]]]`},
	{name: "make_set_if", q: `Events | summarize make_set_if(Account, Ok)`, want: `[[["alice","Alice","bob"]]]`},
	{name: "make_set of arrays flattens", q: `Events | summarize make_set(Props.tags)`, want: `[[["a","b","c"]]]`},
	{name: "make_list", q: `Events | where EventID == 4625 | summarize make_list(Account)`, want: `[[["bob","carol",""]]]`, cols: "list_Account:dynamic"},
	{name: "make_list_if", q: `Events | summarize make_list_if(Count, Ok)`, want: `[[[1,3,5]]]`},
	{name: "make_list skips nulls", q: `Events | summarize make_list(Count)`, want: `[[[1,2,3,5,6]]]`},
	{name: "makeset legacy", q: `Users | summarize makeset(Dept)`, want: `[[["eng","ops","sec"]]]`, cols: "set_Dept:dynamic"},
	{name: "makelist legacy", q: `Users | summarize makelist(Level)`, want: `[[[3,2,1,5]]]`, cols: "list_Level:dynamic"},
	{name: "make_bag", q: `datatable(d:dynamic)[dynamic({"a":1}), dynamic({"b":2})] | summarize make_bag(d)`, want: `[[{"a":1,"b":2}]]`},
	{name: "percentile", q: `range x from 1 to 10 step 1 | summarize percentile(x, 50)`, want: `[[5]]`, cols: "percentile_x_50:long"},
	{name: "percentiles", q: `range x from 1 to 10 step 1 | summarize percentiles(x, 10, 90)`, want: `[[1,9]]`, cols: "percentile_x_10:long,percentile_x_90:long"},
	{name: "stdev", q: `datatable(x:real)[2,4,4,4,5,5,7,9] | summarize s = stdev(x) | project round(s, 4)`, want: `[[2.1381]]`},
	{name: "take_any", q: `Users | where Dept == "ops" | summarize take_any(Account)`, want: `[["bob"]]`, cols: "Account:string"},
	{name: "take_any of several keeps their names", q: `Users | where Dept == "ops" | summarize take_any(Account, Level)`, want: `[["bob",2]]`, cols: "Account:string,Level:long"},
	{name: "deprecated any adds any_", q: `Users | where Dept == "ops" | summarize any(Account)`, want: `[["bob"]]`, cols: "any_Account:string"},
	{name: "any", q: `Users | where Dept == "ops" | summarize any(Level)`, want: `[[2]]`},
	{name: "make_bag_if", q: `datatable(d:dynamic, k:bool)[dynamic({"a":1}), true, dynamic({"b":2}), false] | summarize make_bag_if(d, k)`, want: `[[{"a":1}]]`},
	{name: "variance", q: `datatable(x:real)[2,4,4,4,5,5,7,9] | summarize v = variance(x) | project round(v, 4)`, want: `[[4.5714]]`},
	{name: "stdevif", q: `datatable(x:real, k:bool)[1, true, 3, true, 100, false] | summarize stdevif(x, k) | project round(stdevif_x, 4)`, want: `[[1.4142]]`},
	{name: "take_anyif", q: `Users | summarize take_anyif(Account, Dept == "sec")`, want: `[["bob"]]`},
	{name: "join kind=innerunique explicit", q: `Events | join kind=innerunique (Users) on Account | count`, want: `[[3]]`},
	{name: "aggregates ignore nulls", q: `Events | summarize count(Count), sum(Score), min(Count)`, want: `[[5,7.5,1]]`},
	{name: "summarize by dynamic value", q: `Events | summarize count() by ip = tostring(Props.ip) | where ip startswith "10." | count`, want: `[[3]]`},
	{name: "nested aggregates expression arg", q: `Events | summarize max(Count * 2)`, want: `[[12]]`, cols: "max_Count:long"},
	{name: "dcount by", q: `Events | summarize dcount(EventID) by Ok | sort by Ok asc`, want: `[[false,1],[true,2]]`},
	{name: "bin in summarize with day", q: `Events | summarize count() by bin(TimeGenerated, 1d)`, want: `[["2026-11-26T00:00:00Z",6]]`},
	{name: "count in summarize without parens arg", q: `Users | summarize c = count() by Dept | sort by c desc, Dept asc`, want: `[["eng",2],["ops",1],["sec",1]]`},
}

var scalarCases = []kqlCase{
	{name: "== is case-sensitive", q: `Events | where Computer == "web01" | count`, want: `[[2]]`},
	{name: "=~ is case-insensitive", q: `Events | where Computer =~ "web01" | count`, want: `[[3]]`},
	{name: "!~", q: `Events | where Computer !~ "web01" | count`, want: `[[3]]`},
	{name: "!=", q: `Events | where Computer != "web01" | count`, want: `[[4]]`},
	{name: "<> is !=", q: `Events | where Computer <> "web01" | count`, want: `[[4]]`},
	{name: "has term", q: `Logs | where Msg has "password" | count`, want: `[[2]]`},
	{name: "has case-insensitive", q: `Logs | where Msg has "PASSWORD" | count`, want: `[[2]]`},
	{name: "has whole term only", q: `Logs | where Msg has "pass" | count`, want: `[[0]]`},
	{name: "has phrase ip", q: `Logs | where Msg has "10.0.0.5" | count`, want: `[[1]]`},
	{name: "has ip not partial", q: `Logs | where Msg has "10.0.0.50" | count`, want: `[[0]]`},
	{name: "has_cs", q: `Logs | where Msg has_cs "PASSWORD" | count`, want: `[[0]]`},
	{name: "has_cs match", q: `Logs | where Msg has_cs "password" | count`, want: `[[2]]`},
	{name: "!has", q: `Logs | where Msg !has "password" | count`, want: `[[2]]`},
	{name: "!has_cs", q: `Logs | where Msg !has_cs "Password" | count`, want: `[[4]]`},
	{name: "contains", q: `Logs | where Msg contains "PASS" | count`, want: `[[2]]`},
	{name: "contains_cs", q: `Logs | where Msg contains_cs "PASS" | count`, want: `[[0]]`},
	{name: "!contains", q: `Logs | where Msg !contains "pass" | count`, want: `[[2]]`},
	{name: "!contains_cs", q: `Logs | where Msg !contains_cs "PASS" | count`, want: `[[4]]`},
	{name: "startswith", q: `Logs | where Msg startswith "failed" | count`, want: `[[1]]`},
	{name: "startswith_cs", q: `Logs | where Msg startswith_cs "failed" | count`, want: `[[0]]`},
	{name: "!startswith", q: `Logs | where Msg !startswith "failed" | count`, want: `[[3]]`},
	{name: "!startswith_cs", q: `Logs | where Msg !startswith_cs "Failed" | count`, want: `[[3]]`},
	{name: "endswith", q: `Logs | where Msg endswith "SSH2" | count`, want: `[[2]]`},
	{name: "endswith_cs", q: `Logs | where Msg endswith_cs "SSH2" | count`, want: `[[0]]`},
	{name: "!endswith", q: `Logs | where Msg !endswith "ssh2" | count`, want: `[[2]]`},
	{name: "!endswith_cs", q: `Logs | where Msg !endswith_cs "ssh2" | count`, want: `[[2]]`},
	{name: "hasprefix", q: `Logs | where Msg hasprefix "pass" | count`, want: `[[2]]`},
	{name: "hassuffix", q: `Logs | where Msg hassuffix "word" | count`, want: `[[2]]`},
	{name: "in", q: `Events | where Account in ("alice", "bob") | count`, want: `[[3]]`},
	{name: "in~", q: `Events | where Account in~ ("alice", "bob") | count`, want: `[[4]]`},
	{name: "!in", q: `Events | where Account !in ("alice", "bob") | count`, want: `[[3]]`},
	{name: "!in~", q: `Events | where Account !in~ ("alice", "bob") | count`, want: `[[2]]`},
	{name: "in dynamic array", q: `Events | where EventID in (dynamic([4624, 4688])) | count`, want: `[[3]]`},
	{name: "in subquery", q: `Events | where Account in (Users | project Account) | count`, want: `[[3]]`},
	{name: "in let table", q: `let U = Users | project Account; Events | where Account in (U) | count`, want: `[[3]]`},
	{name: "!in subquery", q: `Events | where Account !in (Users | project Account) | count`, want: `[[3]]`},
	{name: "has_any", q: `Logs | where Msg has_any ("root", "carol") | count`, want: `[[2]]`},
	{name: "has_any dynamic", q: `let bad = dynamic(["root", "admin"]); Logs | where Msg has_any (bad) | count`, want: `[[1]]`},
	{name: "has_all", q: `Logs | where Msg has_all ("password", "alice") | count`, want: `[[1]]`},
	{name: "between", q: `Events | where Count between (2 .. 5) | count`, want: `[[3]]`},
	{name: "!between", q: `Events | where Count !between (2 .. 5) | count`, want: `[[2]]`},
	{name: "between datetime", q: `Events | where TimeGenerated between (datetime(2026-11-26 08:30) .. datetime(2026-11-26 09:15)) | count`, want: `[[3]]`},
	{name: "between is inclusive", q: `Events | where TimeGenerated between (ago(3h) .. now()) | count`, want: `[[4]]`},
	{name: "matches regex", q: `Events | where Computer matches regex "^[a-z]+0[1-9]$" | count`, want: `[[5]]`},
	{name: "computed string == number is a bind error", q: `Events | where tolower(Account) == 1`, err: "cannot compare values of types string and long"},
	{name: "string > number is a bind error", q: `Events | where Computer > 5`, err: "cannot compare values of types string and long"},
	{name: "number == string literal is a bind error", q: `print 5 == "5"`, err: "cannot compare"},
	{name: "tostring compares with string", q: `Events | where tostring(EventID) == "4688" | count`, want: `[[1]]`},
	{name: "toint of string compares with number", q: `print toint("42") == 42`, want: `[[true]]`},
	{name: "dynamic == string", q: `Events | where Props.ip == "8.8.8.8" | count`, want: `[[1]]`},
	{name: "dynamic > number", q: `print d = dynamic({"n": 5}) | where d.n > 3 | count`, want: `[[1]]`},
	{name: "int compares with real", q: `print 1 == 1.0, 2 > 1.5`, want: `[[true,true]]`},
	{name: "iff", q: `Events | take 2 | project r = iff(Ok, "yes", "no")`, want: `[["yes"],["no"]]`},
	{name: "iif", q: `print iif(1 > 2, 1, 2)`, want: `[[2]]`},
	{name: "iff branch types must agree", q: `print iff(true, 1, "a")`, err: "different types"},
	{name: "case", q: `Events | project c = case(Count > 4, "high", Count > 1, "mid", "low")`, want: `[["low"],["mid"],["mid"],["low"],["high"],["high"]]`},
	{name: "coalesce", q: `Events | where Account == "carol" | project coalesce(Count, 0)`, want: `[[0]]`, cols: "Column1:long"},
	{name: "coalesce strings skip empty", q: `print coalesce("", "x")`, want: `[["x"]]`},
	{name: "isempty", q: `Events | where isempty(Account) | count`, want: `[[1]]`},
	{name: "isnotempty", q: `Events | where isnotempty(Account) | count`, want: `[[5]]`},
	{name: "isnull", q: `Events | where isnull(Count) | count`, want: `[[1]]`},
	{name: "isnotnull", q: `Events | where isnotnull(Score) | count`, want: `[[5]]`},
	{name: "isempty of null number", q: `Events | where isempty(Count) | count`, want: `[[1]]`},
	{name: "tostring", q: `print tostring(123), tostring(datetime(2026-01-02)), tostring(dynamic({"a":1})), tostring(long(null))`, want: `[["123","2026-01-02T00:00:00Z","{\"a\":1}",""]]`},
	{name: "toint", q: `print toint("42"), toint(4.7), toint("x")`, want: `[[42,4,null]]`, cols: "print_0:int,print_1:int,print_2:int"},
	{name: "tolong", q: `print tolong("9000000000")`, want: `[[9000000000]]`},
	{name: "toreal todouble", q: `print toreal("1.5"), todouble(2)`, want: `[[1.5,2]]`, cols: "print_0:real,print_1:real"},
	{name: "tobool", q: `print tobool("true"), tobool(0)`, want: `[[true,false]]`},
	{name: "todatetime", q: `print todatetime("2026-11-26T10:00:00Z"), todatetime("2026-11-26 10:00")`, want: `[["2026-11-26T10:00:00Z","2026-11-26T10:00:00Z"]]`},
	{name: "totimespan", q: `print totimespan("01:30:00"), totimespan("1.00:00:00"), totimespan("00:00:00.5")`, want: `[["01:30:00","1.00:00:00","00:00:00.5000000"]]`},
	{name: "parse_json member index", q: `print parse_json('{"a":[1,2]}').a[1]`, want: `[[2]]`},
	{name: "todynamic", q: `print todynamic("[1]")`, want: `[[[1]]]`},
	{name: "dynamic path name", q: `print d = dynamic({"a":{"b":"c"}}) | project d.a.b`, want: `[["c"]]`, cols: "d_a_b:dynamic"},
	{name: "dynamic bracket key", q: `print d = dynamic({"k":1}) | project d["k"]`, want: `[[1]]`, cols: "d_k:dynamic"},
	{name: "dynamic array index", q: `print a = dynamic([10,20,30]) | project first = a[0], last = a[-1], none = a[5]`, want: `[[10,30,null]]`},
	{name: "dynamic member of string is a bind error", q: `Events | project Account.x`, err: "only dynamic values have properties"},
	{name: "array_length", q: `print array_length(dynamic([1,2,3])), array_length(dynamic({}))`, want: `[[3,null]]`},
	{name: "arraylength legacy", q: `print arraylength(dynamic([1,2]))`, want: `[[2]]`},
	{name: "split", q: `print split("a,b,c", ",")`, want: `[[["a","b","c"]]]`},
	{name: "split index", q: `print split("a,b,c", ",", 1)`, want: `[[["b"]]]`},
	{name: "strcat", q: `print strcat("a", 1, "b")`, want: `[["a1b"]]`},
	{name: "strcat_array", q: `print strcat_array(dynamic(["a","b"]), "-")`, want: `[["a-b"]]`},
	{name: "strlen unicode", q: `print strlen("héllo")`, want: `[[5]]`},
	{name: "substring", q: `print substring("abcdef", 2, 3), substring("abc", 1)`, want: `[["cde","bc"]]`},
	{name: "indexof", q: `print indexof("abcdef", "cd"), indexof("abc", "z")`, want: `[[2,-1]]`},
	{name: "trim", q: `print trim("-", "--ab--"), trim_start("-", "--ab--"), trim_end("-", "--ab--")`, want: `[["ab","ab--","--ab"]]`},
	{name: "trim regex", q: `print trim(@"\s+", "  x  ")`, want: `[["x"]]`},
	{name: "tolower toupper", q: `print tolower("AbC"), toupper("AbC")`, want: `[["abc","ABC"]]`},
	{name: "replace_string", q: `print replace_string("a.b.c", ".", "-")`, want: `[["a-b-c"]]`},
	{name: "replace_regex", q: `print replace_regex("abc123", @"\d", "#")`, want: `[["abc###"]]`},
	{name: "replace_regex groups", q: `print replace_regex("john smith", @"(\w+) (\w+)", @"\2 \1")`, want: `[["smith john"]]`},
	{name: "extract", q: `print extract(@"id=(\d+)", 1, "user id=42 ok")`, want: `[["42"]]`},
	{name: "extract typed", q: `print extract(@"id=(\d+)", 1, "id=42", typeof(long))`, want: `[[42]]`, cols: "print_0:long"},
	{name: "extract no match", q: `print extract(@"id=(\d+)", 1, "nothing")`, want: `[[""]]`},
	{name: "extract_all", q: `print extract_all(@"(\d+)", "a1b22c333")`, want: `[[["1","22","333"]]]`},
	{name: "extract_all groups", q: `print extract_all(@"(\w)=(\d)", "a=1 b=2")`, want: `[[[["a","1"],["b","2"]]]]`},
	{name: "parse_url", q: `print u = parse_url("https://user:pw@example.com:8443/path/x?q=1#frag") | project u.Host, u.Port, u["Query Parameters"].q, u.Path`, want: `[["example.com","8443","1","/path/x"]]`},
	{name: "parse_path", q: `print p = parse_path(@"C:\Windows\System32\cmd.exe") | project p.Filename, p.Extension, p.DirectoryPath`, want: `[["cmd.exe","exe","C:\\Windows\\System32"]]`},
	{name: "base64_decode_tostring", q: `print base64_decode_tostring("aGVsbG8=")`, want: `[["hello"]]`},
	{name: "hash_sha256", q: `print hash_sha256("abc")`, want: `[["ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"]]`},
	{name: "now", q: `print now()`, want: `[["2026-11-26T12:00:00Z"]]`},
	{name: "ago", q: `print ago(1h)`, want: `[["2026-11-26T11:00:00Z"]]`},
	{name: "ingestion_time of rows without one", q: `Events | extend At = ingestion_time() | take 1 | project At`, want: `[[null]]`, cols: "At:datetime"},
	{name: "where ago", q: `Events | where TimeGenerated > ago(1h) | count`, want: `[[1]]`},
	{name: "where ago 3h", q: `Events | where TimeGenerated > ago(3h) | count`, want: `[[3]]`},
	{name: "bin numbers", q: `print bin(7, 5), bin(-1, 5), bin(7.5, 2)`, want: `[[5,-5,6]]`},
	{name: "floor", q: `print floor(7, 5), floor(datetime(2026-11-26 10:30), 1d)`, want: `[[5,"2026-11-26T00:00:00Z"]]`},
	// a bin size under one tick (100 ns) is none: null, as a size of zero, never a division by zero
	{name: "bin under a tick", q: `print bin(datetime(2026-11-26 10:30), 1tick / 2), bin(datetime(2026-11-26 10:30), 0s)`, want: `[[null,null]]`},
	{name: "bin timespan", q: `print bin(90m, 1h)`, want: `[["01:00:00"]]`},
	{name: "bin datetime 15m", q: `print bin(datetime(2026-11-26 10:37:12), 15m)`, want: `[["2026-11-26T10:30:00Z"]]`},
	{name: "startofday endofday", q: `print startofday(datetime(2026-11-26 10:30)), endofday(datetime(2026-11-26 10:30))`, want: `[["2026-11-26T00:00:00Z","2026-11-26T23:59:59.9999999Z"]]`},
	{name: "startofweek startofmonth", q: `print startofweek(datetime(2026-11-26 10:30)), startofmonth(datetime(2026-11-26 10:30))`, want: `[["2026-11-22T00:00:00Z","2026-11-01T00:00:00Z"]]`},
	{name: "datetime_diff", q: `print datetime_diff("day", datetime(2026-11-26), datetime(2026-11-20)), datetime_diff("hour", datetime(2026-11-26 10:30), datetime(2026-11-26 08:59)), datetime_diff("month", datetime(2026-03-01), datetime(2025-12-31))`, want: `[[6,2,3]]`},
	{name: "datetime_add", q: `print datetime_add("day", 2, datetime(2026-11-26)), datetime_add("hour", -2, datetime(2026-11-26))`, want: `[["2026-11-28T00:00:00Z","2026-11-25T22:00:00Z"]]`},
	{name: "format_datetime", q: `print format_datetime(datetime(2026-11-26 08:05:09), "yyyy-MM-dd HH:mm:ss"), format_datetime(datetime(2026-11-26), "M/d/yy")`, want: `[["2026-11-26 08:05:09","11/26/26"]]`},
	{name: "dayofweek", q: `print dayofweek(datetime(2026-11-26))`, want: `[["4.00:00:00"]]`},
	{name: "hourofday", q: `print hourofday(datetime(2026-11-26 13:45))`, want: `[[13]]`},
	{name: "ipv4_is_private", q: `print ipv4_is_private("10.1.2.3"), ipv4_is_private("8.8.8.8"), ipv4_is_private("192.168.0.1"), ipv4_is_private("172.16.5.5")`, want: `[[true,false,true,true]]`},
	{name: "ipv4_is_match", q: `print ipv4_is_match("192.168.1.1", "192.168.1.255", 24), ipv4_is_match("10.0.0.1", "10.0.0.2")`, want: `[[true,false]]`},
	{name: "ipv4_is_in_range", q: `print ipv4_is_in_range("10.1.2.3", "10.0.0.0/8"), ipv4_is_in_range("11.0.0.1", "10.0.0.0/8")`, want: `[[true,false]]`},
	{name: "has_any_ipv4", q: `print has_any_ipv4("from 10.0.0.5 port", dynamic(["10.0.0.5", "1.2.3.4"])), has_any_ipv4("ip 10.0.0.55", "10.0.0.5")`, want: `[[true,false]]`},
	{name: "set_union", q: `print set_union(dynamic([1,2]), dynamic([2,3]))`, want: `[[[1,2,3]]]`},
	{name: "set_intersect", q: `print set_intersect(dynamic([1,2]), dynamic([2,3]))`, want: `[[[2]]]`},
	{name: "set_difference", q: `print set_difference(dynamic([1,2,3]), dynamic([2]))`, want: `[[[1,3]]]`},
	{name: "array_concat", q: `print array_concat(dynamic([1]), dynamic(["a"]))`, want: `[[[1,"a"]]]`},
	{name: "pack", q: `print pack("a", 1, "b", "x")`, want: `[[{"a":1,"b":"x"}]]`},
	{name: "bag_pack", q: `print bag_pack("k", true)`, want: `[[{"k":true}]]`},
	{name: "bag_keys", q: `print bag_keys(dynamic({"b":1,"a":2}))`, want: `[[["a","b"]]]`},
	{name: "column_ifexists", q: `Events | take 1 | project c = column_ifexists("Computer", "none"), d = column_ifexists("Nope", "none")`, want: `[["web01","none"]]`},
	{name: "round", q: `print round(2.567, 2), round(2.5)`, want: `[[2.57,3]]`},
	{name: "abs", q: `print abs(-5), abs(-1.5)`, want: `[[5,1.5]]`},
	{name: "log pow sqrt", q: `print round(log(10), 4), pow(2, 10), sqrt(16)`, want: `[[2.3026,1024,4]]`},
	{name: "datetime minus datetime", q: `print datetime(2026-11-26 10:00) - datetime(2026-11-26 08:30)`, want: `[["01:30:00"]]`},
	{name: "datetime plus timespan", q: `print datetime(2026-11-26) + 1d`, want: `[["2026-11-27T00:00:00Z"]]`, cols: "print_0:datetime"},
	{name: "timespan times number", q: `print 2h * 3, 3 * 1m`, want: `[["06:00:00","00:03:00"]]`},
	{name: "timespan divided by timespan", q: `print 1d / 1h`, want: `[[24]]`, cols: "print_0:real"},
	{name: "timespan minus timespan", q: `print 1h - 15m`, want: `[["00:45:00"]]`},
	{name: "timespan divided by number", q: `print 3h / 2`, want: `[["01:30:00"]]`},
	{name: "age column", q: `Events | extend age = now() - TimeGenerated | where age < 2h | project age`, want: `[["00:15:00"]]`},
	{name: "negative timespan", q: `print -1d`, want: `[["-1.00:00:00"]]`},
	{name: "integer division", q: `print 7 / 2, 7.0 / 2, 7 % 3`, want: `[[3,3.5,1]]`},
	{name: "divide by zero is null", q: `print 1 / 0`, want: `[[null]]`},
	{name: "string comparison", q: `print "a" < "b"`, want: `[[true]]`},
	{name: "hex literal", q: `print 0xFF`, want: `[[255]]`},
	{name: "real literal", q: `print 1e3, .5`, want: `[[1000,0.5]]`, cols: "print_0:real,print_1:real"},
	{name: "adding string to number is a bind error", q: `print "a" + 1`, err: "operator + is not defined for string and long"},
	{name: "arithmetic with null", q: `Events | where Account == "carol" | project Count + 1`, want: `[[null]]`},
	{name: "int plus int widens to long", q: `print toint(1) + toint(2)`, want: `[[3]]`, cols: "print_0:long"},
	{name: "long plus real is real", q: `print 1 + 0.5`, want: `[[1.5]]`, cols: "print_0:real"},
	{name: "guid literal", q: `print g = guid(74BE27DE-1E4E-49D9-B579-FE0B331D3642)`, want: `[["74be27de-1e4e-49d9-b579-fe0b331d3642"]]`, cols: "g:guid"},
	{name: "verbatim string", q: `print @"C:\temp"`, want: `[["C:\\temp"]]`},
	{name: "escaped string", q: `print "a\tb\"c"`, want: `[["a\tb\"c"]]`},
	{name: "string concat literal", q: `print "ab" 'cd'`, want: `[["abcd"]]`},
	{name: "typed nulls", q: `print int(null), datetime(null), dynamic(null)`, want: `[[null,null,null]]`, cols: "print_0:int,print_1:datetime,print_2:dynamic"},
	{name: "timespan literal forms", q: `print 1d, 90s, 100ms, 2min, time(1.02:03:04), timespan(00:10:00)`, want: `[["1.00:00:00","00:01:30","00:00:00.1000000","00:02:00","1.02:03:04","00:10:00"]]`},
	{name: "datetime literal forms", q: `print datetime(2026-11-26), datetime(2026-11-26T10:11:12.5Z), datetime("2026-11-26 10:11")`, want: `[["2026-11-26T00:00:00Z","2026-11-26T10:11:12.5Z","2026-11-26T10:11:00Z"]]`},
	{name: "gettype", q: `print gettype(1), gettype("a"), gettype(dynamic([1])), gettype(dynamic({}))`, want: `[["long","string","array","dictionary"]]`},
	{name: "not on expression", q: `print not(1 > 2)`, want: `[[true]]`},
	{name: "max_of min_of", q: `print max_of(1, 5, 3), min_of(2, -1)`, want: `[[5,-1]]`},
	{name: "countof", q: `print countof("abcabc", "bc")`, want: `[[2]]`},
	{name: "bag_has_key", q: `print bag_has_key(dynamic({"a":1}), "a")`, want: `[[true]]`},
	{name: "array_sort_asc", q: `print array_sort_asc(dynamic([3,1,2]))`, want: `[[[1,2,3]]]`},
	{name: "set_has_element", q: `print set_has_element(dynamic(["a","b"]), "b")`, want: `[[true]]`},
	{name: "array_slice", q: `print array_slice(dynamic([1,2,3,4]), 1, 2)`, want: `[[[2,3]]]`},
	{name: "startofyear endofmonth", q: `print startofyear(datetime(2026-11-26)), endofmonth(datetime(2026-02-10))`, want: `[["2026-01-01T00:00:00Z","2026-02-28T23:59:59.9999999Z"]]`},
	{name: "monthofyear dayofmonth", q: `print monthofyear(datetime(2026-11-26)), dayofmonth(datetime(2026-11-26)), dayofyear(datetime(2026-02-01))`, want: `[[11,26,32]]`},
	{name: "unixtime_seconds_todatetime", q: `print unixtime_seconds_todatetime(1700000000)`, want: `[["2023-11-14T22:13:20Z"]]`},
	{name: "url_decode", q: `print url_decode("a%20b")`, want: `[["a b"]]`},
	{name: "base64 encode", q: `print base64_encode_tostring("hi")`, want: `[["aGk="]]`},
	{name: "reverse", q: `print reverse("abc")`, want: `[["cba"]]`},
	{name: "strcat_delim", q: `print strcat_delim("-", "a", "b")`, want: `[["a-b"]]`},
	{name: "hash_md5", q: `print hash_md5("abc")`, want: `[["900150983cd24fb0d6963f7d28e17f72"]]`},
	{name: "exp log10 log2", q: `print exp(0), log10(100), log2(8)`, want: `[[1,2,3]]`},
	{name: "sign", q: `print sign(-3), sign(0)`, want: `[[-1,0]]`},
	{name: "format_timespan", q: `print format_timespan(90m, "hh:mm")`, want: `[["01:30:00"]]`},
	{name: "like", q: `print "abcdef" like "a%f"`, want: `[[true]]`},
	{name: "ipv4_compare", q: `print ipv4_compare("10.0.0.1", "10.0.0.2")`, want: `[[-1]]`},
	{name: "week_of_year", q: `print week_of_year(datetime(2026-11-26))`, want: `[[48]]`},
	{name: "datetime_part", q: `print datetime_part("hour", datetime(2026-11-26 13:00))`, want: `[[13]]`},
	{name: "todecimal as real", q: `print todecimal("1.25")`, want: `[[1.25]]`},
	{name: "endofweek", q: `print endofweek(datetime(2026-11-26))`, want: `[["2026-11-28T23:59:59.9999999Z"]]`},
	{name: "array_sort_desc", q: `print array_sort_desc(dynamic([1,3,2]))`, want: `[[[3,2,1]]]`},
	{name: "pack_array", q: `print pack_array(1, "a", true)`, want: `[[[1,"a",true]]]`},
	{name: "new_guid has guid type", q: `print g = new_guid() | project isnotempty(tostring(g))`, want: `[[true]]`},
	{name: "url_encode", q: `print url_encode("a b&c")`, want: `[["a+b%26c"]]`},
	{name: "array_index_of", q: `print array_index_of(dynamic(["a","b"]), "b")`, want: `[[1]]`},
	{name: "unixtime_milliseconds_todatetime", q: `print unixtime_milliseconds_todatetime(1700000000500)`, want: `[["2023-11-14T22:13:20.5Z"]]`},
	{name: "toboolean", q: `print toboolean("false")`, want: `[[false]]`},
	{name: "ceiling", q: `print ceiling(1.2)`, want: `[[2]]`},
	{name: "toguid", q: `print toguid("74BE27DE1E4E49D9B579FE0B331D3642")`, want: `[["74be27de-1e4e-49d9-b579-fe0b331d3642"]]`, cols: "print_0:guid"},
	{name: "hash_sha1", q: `print hash_sha1("abc")`, want: `[["a9993e364706816aba3e25717850c26c9cd0d89d"]]`},
	{name: "bag_merge keeps first", q: `print bag_merge(dynamic({"a":1}), dynamic({"a":2,"b":3}))`, want: `[[{"a":1,"b":3}]]`},
	{name: "base64_encodestring legacy", q: `print base64_encodestring("hi")`, want: `[["aGk="]]`},
	{name: "isnan", q: `print isnan(toreal("nan")), isnan(1.0)`, want: `[[true,false]]`},
	{name: "getmonth getyear", q: `print getmonth(datetime(2026-11-26)), getyear(datetime(2026-11-26))`, want: `[[11,2026]]`},
	{name: "replace legacy argument order", q: `print replace(@"(\d)", @"<\1>", "a1b2")`, want: `[["a<1>b<2>"]]`},
	{name: "hash modulo", q: `print hash("abc", 10) between (0 .. 9)`, want: `[[true]]`},
	{name: "pack_all", q: `Users | take 1 | project b = pack_all()`, want: `[[{"Account":"alice","Dept":"eng","Level":3}]]`},
	{name: "bag_pack_all is pack_all", q: `Users | take 1 | project b = bag_pack_all()`, want: `[[{"Account":"alice","Dept":"eng","Level":3}]]`},
	{name: "bin_at", q: `print bin_at(datetime(2026-11-26 10:20), 1h, datetime(2026-11-26 09:30)), bin_at(7, 5, 1)`, want: `[["2026-11-26T09:30:00Z",6]]`},
	{name: "iff dynamic and string branch", q: `print iff(true, dynamic({"a":1}).a, "x")`, want: `[[1]]`, cols: "print_0:dynamic"},
	{name: "new lines in query", q: "Events\n| where EventID == 4688\n| project Account", want: `[["bob"]]`},
}

var errorCases = []kqlCase{
	{name: "unknown table", q: `Nope | count`, err: `1:1: unknown table or let name "Nope"`},
	{name: "unknown column", q: `Events | where Nope == 1`, err: `1:16: unknown column or variable "Nope"`},
	{name: "unknown function", q: `Events | extend x = nope(1)`, err: `1:21: unknown function "nope"`},
	{name: "unknown operator", q: `Events | frobnicate`, err: `1:10: unknown tabular operator "frobnicate"`},
	{name: "syntax error position line 2", q: "Events\n| where (EventID == ", err: `2:21: expected an expression but found end of query`},
	{name: "unterminated string", q: `print "abc`, err: `1:7: unterminated string literal`},
	{name: "missing by after sort", q: `Events | sort Count`, err: `expected "by"`},
	{name: "expression over aggregates and a column", q: `Events | summarize count() + Count`, err: `unknown column or variable "Count"`},
	{name: "expression with no aggregate", q: `Events | summarize Count + 1`, err: `summarize needs an aggregation function`},
	{name: "tuple naming an expression", q: `Events | summarize (a, b) = count() + 1`, err: `a tuple (a, b) = names the columns of one aggregation call`},
	{name: "aggregate of several columns in an expression", q: `Events | summarize percentiles(Count, 50, 95) * 2`, err: `1:20: percentiles() gives 2 columns and cannot be part of an expression`},
	{name: "tuple with more names than columns", q: `Events | summarize (a, b, c) = arg_max(Count, Account)`, err: `3 names for the 2 columns of arg_max()`},
	{name: "tuple assignment in by", q: `Events | summarize count() by (a, b) = Account`, err: `expected`},
	{name: "aggregate outside summarize", q: `Events | extend c = count()`, err: `allowed only in summarize`},
	{name: "summarize without aggregate", q: `Events | summarize tolower(Account)`, err: `needs an aggregation function`},
	{name: "wrong arity", q: `print strlen("a", "b")`, err: `strlen() expects 1 argument(s), got 2`},
	{name: "where needs bool", q: `Events | where Count`, err: `where needs a bool predicate, not long`},
	{name: "join unknown key", q: `Events | join (Users) on Nope`, err: `join key "Nope"`},
	{name: "bad join kind", q: `Events | join kind=sideways (Users) on Account`, err: `unknown join kind "sideways"`},
	{name: "datatable arity", q: `datatable(a:long, b:string)[1]`, err: `not a multiple of its 2 columns`},
	{name: "bad type name", q: `datatable(a:nope)[1]`, err: `unknown type "nope"`},
	{name: "function arg type", q: `let f = (x:long) { x }; print f("a")`, err: `argument x must be long, not string`},
	{name: "scalar used as table", q: `let x = 1; x | count`, err: `x is a scalar, not a table`},
	{name: "project twice", q: `Users | project Account, Account`, err: `projected twice`},
	{name: "union without fuzzy fails on missing", q: `union Users, Missing`, err: `unknown table or let name "Missing"`},
	{name: "bad regex literal", q: `Users | where Account matches regex "("`, err: `bad regular expression`},
	{name: "bad datetime literal", q: `print datetime(not a date)`, err: `bad datetime literal`},
	{name: "empty query", q: ``, err: `expected a tabular expression`},
	{name: "trailing garbage", q: `Users | count )`, err: `expected ";", "|" or end of query`},
	{name: "let without body", q: `let x = 1;`, err: `expected a tabular expression after the let statements`},
	{name: "dollar left outside join", q: `Users | where $left.Account == "a"`, err: `allowed only in join conditions`},
}

func allCases() map[string][]kqlCase {
	return map[string][]kqlCase{"limits": limitCases, "operators": operatorCases, "aggregates": aggregateCases, "scalars": scalarCases, "errors": errorCases, "syntax": syntaxCases, "syntax errors": syntaxErrorCases, "content functions": contentFuncCases, "binary, time zone and long-tail functions": binaryFuncCases, "hll": hllCases, "series functions": seriesFuncCases, "xml functions": xmlFuncCases, "geo functions": geoFuncCases, "ip functions": ipFuncCases, "make-series": makeSeriesCases, "function calls": funcCallCases, "window functions": windowCases, "scan": scanCases, "sample and top-nested": sampleCases, "mv-apply": mvApplyCases, "evaluate": evaluateCases, "evaluate ipv4_lookup": ipv4LookupCases, "evaluate autocluster and basket": patternCases}
}

func normJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad expected JSON %s: %v", s, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func runCase(t *testing.T, src Source, cat Catalog, c kqlCase) {
	t.Helper()
	q, err := Compile(c.q, cat)
	var res *Result
	if err == nil {
		res, err = q.Run(context.Background(), src, Options{Now: fixtureNow})
	}
	if c.err != "" {
		if err == nil {
			t.Fatalf("query %q: want error containing %q, got none", c.q, c.err)
		}
		if !strings.Contains(err.Error(), c.err) {
			t.Fatalf("query %q: error %q does not contain %q", c.q, err, c.err)
		}
		var se *SyntaxError
		var be *BindError
		if !errors.As(err, &se) && !errors.As(err, &be) {
			t.Fatalf("query %q: error %T is neither a SyntaxError nor a BindError", c.q, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("query %q: %v", c.q, err)
	}
	tb, _ := json.Marshal(res.Tables[0])
	var got struct {
		Columns []Column        `json:"columns"`
		Rows    json.RawMessage `json:"rows"`
	}
	if err := json.Unmarshal(tb, &got); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	json.Compact(&buf, got.Rows)
	if g, w := normJSON(t, buf.String()), normJSON(t, c.want); g != w {
		t.Errorf("query %q:\n got %s\nwant %s", c.q, g, w)
	}
	if c.cols != "" {
		var parts []string
		for _, col := range got.Columns {
			parts = append(parts, col.Name+":"+col.Type.String())
		}
		if g := strings.Join(parts, ","); g != c.cols {
			t.Errorf("query %q: columns\n got %s\nwant %s", c.q, g, c.cols)
		}
	}
}

func TestQueriesGiveDocumentedResults(t *testing.T) {
	src := fixtureSource(t)
	total := 0
	for group, cases := range allCases() {
		t.Run(group, func(t *testing.T) {
			seen := map[string]bool{}
			for _, c := range cases {
				if seen[c.name] {
					t.Fatalf("duplicate case name %q", c.name)
				}
				seen[c.name] = true
				t.Run(c.name, func(t *testing.T) { runCase(t, src, src.Catalog(), c) })
			}
		})
		total += len(cases)
	}
	t.Logf("%d table-driven cases", total)
}

var limitCases = []kqlCase{
	{name: "recursive function is refused", q: `let f = (x:long) { f(x) }; print f(1)`, err: "calls itself"},
	{name: "recursive tabular function is refused", q: `let f = () { f() | take 1 }; f()`, err: "calls itself"},
	{name: "exponential lets are refused", q: `let a = Users; let b = a | union a; let c = b | union b; let d = c | union c; let e = d | union d; let f = e | union e; let g = f | union f; let h = g | union g; let i = h | union h; let j = i | union i; let k = j | union j; let l = k | union k; let m = l | union l; let n = m | union m; let o = n | union n; let p = o | union o; p | count`, err: "too complex"},
}
