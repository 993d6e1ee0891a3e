package kql

import (
	"encoding/json"
	"strings"
	"testing"
)

// windowsEvent is the shape of a Windows event's XML as SecurityEvent and WindowsEvent carry
// it, which detection content reads as Event.EventData.Data[i]["#text"].
const windowsEvent = `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/><EventID>4688</EventID><Level>0</Level><TimeCreated SystemTime='2026-11-26T08:00:00.000Z'/><Computer>web01</Computer></System><EventData><Data Name='SubjectUserSid'>S-1-5-18</Data><Data Name='NewProcessName'>C:\Windows\System32\cmd.exe</Data><Data Name='CommandLine'/></EventData></Event>`

// xmlFuncCases cover parse_xml: the documented mapping, Windows event XML, and input that is
// null. TestQueriesGiveDocumentedResults runs them.
var xmlFuncCases = []kqlCase{
	{name: "parse_xml of an empty element", q: `print x = parse_xml("<e/>")`, want: `[[{"e":null}]]`, cols: "x:dynamic"},
	{name: "parse_xml of text", q: `print parse_xml("<e>text</e>")`, want: `[[{"e":"text"}]]`},
	{name: "parse_xml of an attribute", q: `print parse_xml('<e name="value" />')`, want: `[[{"e":{"@name":"value"}}]]`},
	{name: "parse_xml of an attribute and text", q: `print parse_xml('<e name="value">text</e>')`, want: `[[{"e":{"@name":"value","#text":"text"}}]]`},
	{name: "parse_xml of children", q: `print parse_xml("<e> <a>text</a> <b>text</b> </e>")`, want: `[[{"e":{"a":"text","b":"text"}}]]`},
	{name: "parse_xml of repeated children is an array", q: `print parse_xml("<e> <a>text</a> <a>text</a> </e>")`, want: `[[{"e":{"a":["text","text"]}}]]`},
	{name: "parse_xml of mixed text and children", q: `print parse_xml("<e>text<a>x</a></e>"), parse_xml("<e>one<a/>two</e>")`, want: `[[{"e":{"#text":"text","a":"x"}},{"e":{"#text":["one","two"],"a":null}}]]`},
	{name: "parse_xml keeps values strings", q: `print d = parse_xml("<duration><value>118.0</value><count>5</count></duration>") | project d.duration.value, gettype(d.duration.count)`, want: `[["118.0","string"]]`},
	{name: "parse_xml skips the declaration, comments and instructions", q: `print parse_xml('<?xml version="1.0" encoding="UTF-8"?><!-- c --><e><?pi x?><a>1</a><!-- d --></e>')`, want: `[[{"e":{"a":"1"}}]]`},
	{name: "parse_xml reads entities and CDATA as text", q: `print parse_xml("<e>a &amp; b <![CDATA[<c>]]></e>")`, want: `[[{"e":"a & b <c>"}]]`},
	{name: "parse_xml of a UTF-16 declaration", q: `print parse_xml('<?xml version="1.0" encoding="UTF-16"?><e>x</e>')`, want: `[[{"e":"x"}]]`},
	{name: "parse_xml keeps namespace prefixes", q: `print parse_xml('<x:e xmlns:x="urn:a" x:k="v"><x:a>1</x:a></x:e>')`, want: `[[{"x:e":{"@xmlns:x":"urn:a","@x:k":"v","x:a":"1"}}]]`},
	{name: "parse_xml of a Windows event", q: `print x = parse_xml(@"` + windowsEvent + `") | project x.Event.EventData.Data[0]["#text"], x.Event.EventData.Data[1]["@Name"], x.Event.System.EventID, x.Event.System.Provider["@Name"], x.Event["@xmlns"], x.Event.EventData.Data[2]`, want: `[["S-1-5-18","NewProcessName","4688","Microsoft-Windows-Security-Auditing","http://schemas.microsoft.com/win/2004/08/events/event",{"@Name":"CommandLine"}]]`},
	{name: "parse_xml with the dotted index forms content uses", q: `print x = parse_xml(@"` + windowsEvent + `") | mv-expand d = x.Event.EventData.Data | project n = tostring(d["@Name"]), v = tostring(d["#text"])`, want: `[["SubjectUserSid","S-1-5-18"],["NewProcessName","C:\\Windows\\System32\\cmd.exe"],["CommandLine",""]]`},
	{name: "parse_xml of invalid XML is null", q: `print parse_xml("<e>"), parse_xml("<a></b>"), parse_xml("not xml"), parse_xml(""), parse_xml("<a/><b/>"), parse_xml("<a/>tail"), parse_xml("<e>&nope;</e>")`, want: `[[null,null,null,null,null,null,null]]`},
	{name: "parse_xml of a null column is null", q: `Events | where Account == "carol" | project parse_xml(tostring(Props))`, want: `[[null]]`},
	{name: "parse_xml refuses a number", q: `print parse_xml(1)`, err: "parse_xml(): argument 1 must be string, not long"},
}

func TestParseXMLLimits(t *testing.T) {
	big := "<e>" + strings.Repeat("x", maxXMLInput) + "</e>"
	if v, err := parseXML(big); err == nil {
		t.Errorf("input over 1 MB: got %v, want null", v)
	}
	deep := strings.Repeat("<a>", maxXMLDepth+1) + strings.Repeat("</a>", maxXMLDepth+1)
	if _, err := parseXML(deep); err == nil {
		t.Errorf("nesting deeper than %d: want null", maxXMLDepth)
	}
	ok := strings.Repeat("<a>", 100) + "x" + strings.Repeat("</a>", 100)
	v, err := parseXML(ok)
	if err != nil {
		t.Fatalf("nesting of 100: %v", err)
	}
	b, _ := json.Marshal(v)
	if want := strings.Repeat(`{"a":`, 100) + `"x"` + strings.Repeat("}", 100); string(b) != want {
		t.Errorf("nesting of 100 = %s", b)
	}
}

// FuzzParseXML: no input makes parse_xml panic, and what it answers is one root element as a
// one-key bag that renders as JSON.
func FuzzParseXML(f *testing.F) {
	for _, s := range []string{windowsEvent, "<e/>", "<a><b>x</b><b>y</b>t</a>", "<x:e xmlns:x='u' x:k='v'/>", "<e>&amp;<![CDATA[<]]></e>", "<a></b>", "<?xml version='1.0'?><e/>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseXML(s)
		if err != nil {
			return
		}
		bag, ok := v.(map[string]any)
		if !ok || len(bag) != 1 {
			t.Fatalf("parse_xml(%q) = %#v, want a bag of the root element", s, v)
		}
		if _, err := json.Marshal(toJSONValue(v)); err != nil {
			t.Fatalf("parse_xml(%q) does not render: %v", s, err)
		}
	})
}
