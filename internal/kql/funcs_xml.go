package kql

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// This file holds parse_xml(), which turns an XML document into a dynamic value the way the
// cloud documents it, the mapping most XML-to-JSON converters share:
//
//	<e/>                              {"e": null}
//	<e>text</e>                       {"e": "text"}
//	<e name="value"/>                 {"e": {"@name": "value"}}
//	<e name="value">text</e>          {"e": {"@name": "value", "#text": "text"}}
//	<e><a>x</a><b>y</b></e>           {"e": {"a": "x", "b": "y"}}
//	<e><a>x</a><a>y</a></e>           {"e": {"a": ["x", "y"]}}
//	<e>text<a>x</a></e>               {"e": {"#text": "text", "a": "x"}}
//
// Only elements, attributes and text are translated; the declaration, comments, processing
// instructions and DOCTYPE are skipped. Names keep their namespace prefixes as written
// (x:Data, @xmlns:x) and values stay strings. Text that is only whitespace between elements is
// not text; other text is kept as written. Input that is not well-formed XML, that has no
// single root element, or that is longer than 1 MB is null, as the cloud documents.

// maxXMLInput is the longest string parse_xml reads; longer input is null, as in the cloud.
const maxXMLInput = 1 << 20

// maxXMLDepth bounds the nesting parse_xml follows, the bound encoding/json sets for
// parse_json; deeper documents are null.
const maxXMLDepth = 10000

// registerXMLFuncs adds this file's functions to the table built in funcs.go.
func registerXMLFuncs(m map[string]fnSpec) {
	m["parse_xml"] = fnSpec{min: 1, max: 1, ret: checked(TypeDynamic, kString), impl: func(a []any) any {
		s, ok := a[0].(string)
		if !ok {
			return nil
		}
		v, err := parseXML(s)
		if err != nil {
			return nil
		}
		return v
	}}
}

// xmlNode is an element being read: its attributes and children in document order, and its
// text chunks.
type xmlNode struct {
	name    string
	keys    []string // attribute keys ("@name") and child names, first occurrence order
	values  map[string][]any
	text    []string
	pending strings.Builder // text since the last child element
}

var errNotXML = errors.New("not a well-formed XML document with one root element")

// parseXML reads s into the dynamic form above.
func parseXML(s string) (any, error) {
	if len(s) > maxXMLInput {
		return nil, errNotXML
	}
	d := xml.NewDecoder(strings.NewReader(s))
	// The document is already text: an encoding declaration names what it was, not what it is.
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	var stack []*xmlNode
	var root any
	rooted := false
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if rooted && len(stack) == 0 || len(stack) >= maxXMLDepth {
				return nil, errNotXML // a second root, or too deep
			}
			n := &xmlNode{name: xmlName(t.Name), values: map[string][]any{}}
			for _, at := range t.Attr {
				n.add("@"+xmlName(at.Name), at.Value)
			}
			if len(stack) > 0 {
				stack[len(stack)-1].flushText()
			}
			stack = append(stack, n)
		case xml.EndElement:
			// RawToken leaves matching the end to its start to the caller
			if len(stack) == 0 || stack[len(stack)-1].name != xmlName(t.Name) {
				return nil, errNotXML
			}
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			v := n.value()
			if len(stack) == 0 {
				root, rooted = map[string]any{n.name: v}, true
				continue
			}
			stack[len(stack)-1].add(n.name, v)
		case xml.CharData:
			if len(stack) == 0 {
				if strings.TrimSpace(string(t)) != "" {
					return nil, errNotXML // text outside the root element
				}
				continue
			}
			stack[len(stack)-1].pending.Write(t)
		}
	}
	if len(stack) > 0 || !rooted {
		return nil, errNotXML
	}
	return root, nil
}

func xmlName(n xml.Name) string {
	if n.Space != "" {
		return n.Space + ":" + n.Local
	}
	return n.Local
}

func (n *xmlNode) add(key string, v any) {
	if _, seen := n.values[key]; !seen {
		n.keys = append(n.keys, key)
	}
	n.values[key] = append(n.values[key], v)
}

// flushText ends a text chunk at a child element; a chunk of whitespace alone is not text.
func (n *xmlNode) flushText() {
	if t := n.pending.String(); strings.TrimSpace(t) != "" {
		n.text = append(n.text, t)
	}
	n.pending.Reset()
}

// value is the element's dynamic form: null when empty, its text when it has nothing else,
// else a bag of its attributes, children (an array where a name repeats) and "#text".
func (n *xmlNode) value() any {
	n.flushText()
	if len(n.keys) == 0 {
		switch len(n.text) {
		case 0:
			return nil
		case 1:
			return n.text[0]
		}
	}
	bag := make(map[string]any, len(n.keys)+1)
	for _, k := range n.keys {
		if vs := n.values[k]; len(vs) == 1 {
			bag[k] = vs[0]
		} else {
			bag[k] = vs
		}
	}
	switch len(n.text) {
	case 0:
	case 1:
		bag["#text"] = n.text[0]
	default:
		texts := make([]any, len(n.text))
		for i, t := range n.text {
			texts[i] = t
		}
		bag["#text"] = texts
	}
	return bag
}
