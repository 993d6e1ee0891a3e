package kql

// binaryFuncCases cover funcs_binary.go, funcs_timezone.go, the functions the detection
// corpus's long tail calls in funcs_content.go and the forms it writes (a between ending in a
// timespan, Defender XDR's cloud functions): results, result types, nulls and what is refused
// when the query binds.
var binaryFuncCases = []kqlCase{
	// bitwise
	{name: "binary and, or, xor, not", q: `print binary_and(12, 10), binary_or(12, 10), binary_xor(12, 10), binary_not(0), binary_not(-1)`, want: `[[8,14,6,-1,0]]`, cols: "print_0:long,print_1:long,print_2:long,print_3:long,print_4:long"},
	{name: "binary functions take ints", q: `print binary_and(toint(6), 3), binary_xor(toint(-1), toint(1))`, want: `[[2,-2]]`, cols: "print_0:long,print_1:long"},
	{name: "binary shifts count modulo 64", q: `print binary_shift_left(1, 2), binary_shift_left(1, 66), binary_shift_right(16, 2), binary_shift_right(-16, 2), binary_shift_left(1, 63)`, want: `[[4,4,4,-4,-9223372036854775808]]`, cols: "print_0:long,print_1:long,print_2:long,print_3:long,print_4:long"},
	{name: "binary shift by a negative count is null", q: `print binary_shift_left(1, -1), binary_shift_right(8, -2)`, want: `[[null,null]]`},
	{name: "bitset_count_ones", q: `print bitset_count_ones(42), bitset_count_ones(0), bitset_count_ones(-1)`, want: `[[3,0,64]]`, cols: "print_0:long,print_1:long,print_2:long"},
	{name: "binary functions of null are null", q: `Events | where Account == "carol" | project binary_and(Count, 1), binary_not(Count), bitset_count_ones(Count), binary_shift_left(1, Count)`, want: `[[null,null,null,null]]`},
	{name: "binary_and refuses a real", q: `print binary_and(1.5, 1)`, err: "binary_and(): argument 1 must be int or long, not real"},
	{name: "binary_xor refuses a string", q: `print binary_xor(1, "2")`, err: "binary_xor(): argument 2 must be int or long, not string"},
	{name: "binary_not arity", q: `print binary_not(1, 2)`, err: "binary_not() expects 1 argument(s), got 2"},
	{name: "bitset_count_ones refuses a bool", q: `print bitset_count_ones(true)`, err: "argument 1 must be int or long, not bool"},

	// time zones
	{name: "datetime_utc_to_local", q: `print datetime_utc_to_local(datetime(2022-07-11 22:18:48), "US/Pacific"), datetime_utc_to_local(datetime(2022-07-11 22:18:48), "Australia/Canberra"), datetime_utc_to_local(datetime(2026-01-15 12:00), "UTC")`, want: `[["2022-07-11T15:18:48Z","2022-07-12T08:18:48Z","2026-01-15T12:00:00Z"]]`, cols: "print_0:datetime,print_1:datetime,print_2:datetime"},
	{name: "datetime_local_to_utc", q: `print datetime_local_to_utc(datetime(2020-02-02 20:02:20), "US/Pacific"), datetime_local_to_utc(datetime(2020-02-02 20:02:20), "America/Chicago"), datetime_local_to_utc(datetime(2020-02-02 20:02:20), "Europe/Paris")`, want: `[["2020-02-03T04:02:20Z","2020-02-03T02:02:20Z","2020-02-02T19:02:20Z"]]`, cols: "print_0:datetime,print_1:datetime,print_2:datetime"},
	{name: "datetime_local_to_utc in the hour the clock skips takes the later offset", q: `print datetime_local_to_utc(datetime(2022-03-27 01:00), "Europe/Brussels"), datetime_local_to_utc(datetime(2022-03-27 02:00), "Europe/Brussels"), datetime_local_to_utc(datetime(2022-03-27 03:00), "Europe/Brussels")`, want: `[["2022-03-27T00:00:00Z","2022-03-27T00:00:00Z","2022-03-27T01:00:00Z"]]`},
	{name: "datetime_local_to_utc in the hour the clock repeats takes standard time", q: `print datetime_local_to_utc(datetime(2022-10-30 02:30), "Europe/Brussels")`, want: `[["2022-10-30T01:30:00Z"]]`},
	{name: "time zone conversions of null are null", q: `print datetime_utc_to_local(datetime(null), "UTC"), datetime_local_to_utc(datetime(null), "UTC")`, want: `[[null,null]]`},
	{name: "an unknown time zone read from a row is null", q: `print z = "Nowhere/Nope" | project datetime_utc_to_local(datetime(2026-01-01), z)`, want: `[[null]]`},
	{name: "an unknown constant time zone is refused", q: `print datetime_utc_to_local(now(), "Nowhere/Nope")`, err: `unknown time zone "Nowhere/Nope"`},
	{name: "datetime_local_to_utc refuses a string date", q: `print datetime_local_to_utc("2026-01-01", "UTC")`, err: "argument 1 must be datetime, not string"},

	// strings, bags, arrays
	{name: "pack_dictionary is bag_pack", q: `print pack_dictionary("a", 1, "b", "x")`, want: `[[{"a":1,"b":"x"}]]`, cols: "print_0:dynamic"},
	{name: "unicode_codepoints_from_string", q: `print unicode_codepoints_from_string("Kus"), unicode_codepoints_from_string("é€"), unicode_codepoints_from_string("")`, want: `[[[75,117,115],[233,8364],[]]]`, cols: "print_0:dynamic,print_1:dynamic,print_2:dynamic"},
	{name: "unicode_codepoints_from_string refuses a number", q: `print unicode_codepoints_from_string(1)`, err: "argument 1 must be string, not long"},
	{name: "strcmp", q: `print strcmp("abc", "abd"), strcmp("b", "a"), strcmp("a", "a"), strcmp("", "a")`, want: `[[-1,1,0,-1]]`, cols: "print_0:int,print_1:int,print_2:int,print_3:int"},
	{name: "strcmp refuses a number", q: `print strcmp("a", 1)`, err: "strcmp(): argument 2 must be string, not long"},
	{name: "jaccard_index", q: `print jaccard_index(dynamic([1,2,3]), dynamic([1,2,3,4])), jaccard_index(dynamic(["a","a","b"]), dynamic(["b"])), jaccard_index(dynamic([1]), dynamic([2]))`, want: `[[0.75,0.5,0]]`, cols: "print_0:real,print_1:real,print_2:real"},
	{name: "jaccard_index of two empty sets is NaN", q: `print isnan(jaccard_index(dynamic([]), dynamic([])))`, want: `[[true]]`},
	{name: "jaccard_index of a non-array is null", q: `Events | where Account == "carol" | project jaccard_index(Props, dynamic([1]))`, want: `[[null]]`},
	{name: "jaccard_index refuses a string", q: `print jaccard_index("a", dynamic([]))`, err: "jaccard_index(): argument 1 must be dynamic, not string"},
	{name: "bag_remove_keys", q: `print bag_remove_keys(dynamic({"key1":123,"key2":"abc"}), dynamic(["key2","key4"]))`, want: `[[{"key1":123}]]`, cols: "print_0:dynamic"},
	{name: "bag_remove_keys with a JSONPath", q: `print bag_remove_keys(dynamic({"key1":123,"key2":{"prop1":"abc","prop2":"xyz"},"key3":[100,200]}), dynamic(["$.key2.prop1","key3","$.key3[0]"]))`, want: `[[{"key1":123,"key2":{"prop2":"xyz"}}]]`},
	{name: "bag_remove_keys leaves its input as it was", q: `print b = dynamic({"a":{"b":1,"c":2}}) | extend r = bag_remove_keys(b, dynamic(["$.a.b"]))`, want: `[[{"a":{"b":1,"c":2}},{"a":{"c":2}}]]`},
	{name: "bag_remove_keys of a non-bag is null", q: `print bag_remove_keys(dynamic([1]), dynamic(["a"]))`, want: `[[null]]`},
	{name: "bag_remove_keys refuses a string key list", q: `print bag_remove_keys(dynamic({}), "a")`, err: "bag_remove_keys(): argument 2 must be dynamic, not string"},
	{name: "parse_urlquery", q: `print parse_urlquery("k1=v1&k2=v2&k1=v3"), parse_urlquery("?view=vs-2019&preserve-view=true")["Query Parameters"]["preserve-view"], parseurlquery("")`, want: `[[{"Query Parameters":{"k1":"v3","k2":"v2"}},"true",{"Query Parameters":{}}]]`, cols: "print_0:dynamic,print_1:dynamic,print_2:dynamic"},
	{name: "parse_urlquery refuses a number", q: `print parse_urlquery(1)`, err: "argument 1 must be string, not long"},
	{name: "dynamic_to_json sorts keys and quotes strings", q: `print dynamic_to_json(dynamic({"b":[1,"x",{"d":1,"c":2}],"a":null})), dynamic_to_json(parse_json(@'"s"')), dynamic_to_json(1), dynamic_to_json("s")`, want: `[["{\"a\":null,\"b\":[1,\"x\",{\"c\":2,\"d\":1}]}","\"s\"","1","s"]]`, cols: "print_0:string,print_1:string,print_2:string,print_3:string"},
	{name: "dynamic_to_json of null is empty", q: `Events | where Account == "carol" | project dynamic_to_json(Props)`, want: `[[""]]`},
	{name: "endofyear", q: `print endofyear(datetime(2026-03-04 05:06)), endofyear(datetime(null))`, want: `[["2026-12-31T23:59:59.9999999Z",null]]`, cols: "print_0:datetime,print_1:datetime"},
	{name: "endofyear refuses a string", q: `print endofyear("2026")`, err: "endofyear(): argument 1 must be datetime, not string"},

	// aggregates
	{name: "count_distinct", q: `Events | summarize count_distinct(Computer), count_distinctif(Account, Ok)`, want: `[[4,3]]`, cols: "count_distinct_Computer:long,count_distinctif_Account:long"},
	{name: "count_distinct skips nulls", q: `Events | summarize count_distinct(Count)`, want: `[[5]]`},
	{name: "count_distinct takes no accuracy", q: `Events | summarize count_distinct(Computer, 1)`, err: "count_distinct() expects 1 to 1 arguments, got 2"},
	{name: "make_list_with_nulls keeps nulls", q: `Events | summarize make_list_with_nulls(Count), make_list_with_nulls(Score, 2)`, want: `[[[1,2,3,null,5,6],[1.5,2.5]]]`, cols: "list_Count:dynamic,list_Score:dynamic"},
	{name: "make_list_with_nulls refuses a computed limit", q: `Events | summarize make_list_with_nulls(Count, Count)`, err: "the size limit must be a constant number"},
	// between a datetime and a timespan: the range ends that long after its start
	{name: "datetime between a start and a timespan", q: `Events | where TimeGenerated between (datetime(2026-11-26T08:00:00Z) .. 1h) | project Account`, want: `[["alice"],["bob"],["Alice"]]`},
	{name: "datetime not between a start and a timespan", q: `Events | where TimeGenerated !between (datetime(2026-11-26T08:00:00Z) .. 1h) | count`, want: `[[3]]`},
	{name: "datetime between a row's start and a timespan", q: `Events | extend s = TimeGenerated - 1m | where TimeGenerated between (s .. 2m) | count`, want: `[[6]]`},
	{name: "a number between a start and a timespan is refused", q: `print 1 between (1 .. 1h)`, err: "between needs values of comparable types, not long and timespan"},

	// Defender XDR's functions that answer from Microsoft's service
	{name: "invoke FileProfile is refused as a cloud function", q: `Events | extend SHA1 = "a" | invoke FileProfile(SHA1, 1000)`, err: "FileProfile() is a Microsoft Defender XDR function that looks file hashes up in Microsoft's global file intelligence; a sealed workspace does not have it"},
	{name: "DeviceFromIP as a table is refused as a cloud function", q: `DeviceFromIP("10.0.0.1", now()) | take 1`, err: "DeviceFromIP() is a Microsoft Defender XDR function"},
	{name: "AssignedIPAddresses as a scalar is refused as a cloud function", q: `print AssignedIPAddresses("web01", now())`, err: "AssignedIPAddresses() is a Microsoft Defender XDR function"},
	{name: "a let function of a cloud function's name is called", q: `let FileProfile = (T:(*)) { T | take 1 }; Events | invoke FileProfile() | count`, want: `[[1]]`},
	{name: "another spelling of a cloud function is just unknown", q: `Events | invoke fileprofile()`, err: `invoke: unknown function "fileprofile"`},
	{name: "anyif is take_anyif", q: `Users | summarize anyif(Account, Dept == "sec")`, want: `[["bob"]]`},
}

// hllCases cover agg_hll.go: the sets hll() builds, merged by hll_merge() over rows or within
// one, and counted by dcount_hll().
var hllCases = []kqlCase{
	{name: "dcount_hll of hll is the distinct count", q: `Events | summarize h = hll(Computer) | project n = dcount_hll(h)`, want: `[[4]]`, cols: "n:long"},
	{name: "hll names its column", q: `Events | summarize hll(Account), hll_if(Account, Ok) | project dcount_hll(hll_Account), dcount_hll(hll_if_Account)`, want: `[[5,3]]`},
	{name: "hll skips nulls", q: `Events | summarize h = hll(Count, 2) | project dcount_hll(h)`, want: `[[5]]`},
	{name: "hll_merge over rows", q: `Events | summarize h = hll(Account) by Computer | summarize m = hll_merge(h) | project dcount_hll(m)`, want: `[[5]]`},
	{name: "hll_merge within a row", q: `Users | summarize a = hll(Account), d = hll(Dept) | extend m = hll_merge(a, d, a) | project dcount_hll(m)`, want: `[[6]]`},
	{name: "hll_merge of one argument is the aggregation", q: `Users | extend h = hll_merge(Account)`, err: "aggregation hll_merge() is allowed only in summarize"},
	{name: "dcount_hll of null is null", q: `print dcount_hll(dynamic(null))`, want: `[[null]]`},
	{name: "hll refuses an accuracy out of range", q: `Events | summarize hll(Account, 5)`, err: "hll(): the accuracy must be a constant 0 to 4"},
	{name: "dcount_hll refuses a string", q: `print dcount_hll("x")`, err: "dcount_hll(): argument 1 must be dynamic, not string"},
}
