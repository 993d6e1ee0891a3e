// Package parserfile reads the parser files of detection-content
// repositories into the saved searches that install them as workspace
// functions. Two formats are read, both YAML, one parser a file:
//
//   - a normalizing (ASIM) parser: ParserName, EquivalentBuiltInParser,
//     ParserParams [{Name, Type, Default}], ParserQuery, and Parser.Title
//     and Parser.Version;
//   - a solution's (connector's) parser: FunctionName, FunctionAlias,
//     FunctionParams [{Name, Type, Default}], FunctionQuery, Category, and
//     Function.Title and Function.Version.
//
// A normalizing parser is installed under two names. Content calls it by
// EquivalentBuiltInParser (_Im_Dns, _ASim_Dns_AzureFirewall): the cloud
// builds those in, Sealwatch has them only as they are imported. The
// parsers' own queries call one another by ParserName (imDns's union calls
// vimDnsAzureFirewall), the name the content's deployment templates give
// the workspace function. Installing only one name would leave either the
// content or the unifying parsers calling functions that do not exist.
package parserfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/savedsearch"
)

// Formats of parser files.
const (
	FormatASIM     = "ASIM"
	FormatSolution = "solution"
)

// queryLanguageVersion is the saved searches' version, as the content's
// deployment templates write it.
const queryLanguageVersion = 1

// Tags carried from the file.
const (
	TagParserVersion = "ParserVersion"
	TagParserName    = "ParserName"
	TagSchema        = "Schema"
	TagSchemaVersion = "SchemaVersion"
)

// Search is a saved search that installs one name of a parser.
type Search struct {
	ID         string
	Properties savedsearch.Properties
}

// Parser is a parser file read.
type Parser struct {
	Format  string // FormatASIM or FormatSolution
	Name    string // ParserName or FunctionName
	Title   string
	Version string
	// Searches are the saved searches that install it, one per name it is
	// called by; each saved search's ID is its function alias, so that
	// importing the file again updates them.
	Searches []Search
}

// ErrNotParser is a file that holds neither format's name field: another
// kind of content, such as a rule.
var ErrNotParser = errors.New("not a parser file")

// Error is a file that cannot be read as a parser: it names the file, the
// line and the field.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
	Err   error // ErrNotParser, or nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// IsParserFile reports whether a file's name is one a parser may have.
func IsParserFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		return true
	}
	return false
}

// fields is a YAML mapping's values by key.
type fields struct {
	file string
	keys map[string]*yaml.Node // key → the key's node (for its line)
	vals map[string]*yaml.Node
	line int // of the mapping
}

func (f *fields) errAt(n *yaml.Node, field, format string, args ...any) *Error {
	line := f.line
	if n != nil {
		line = n.Line
	}
	return &Error{File: f.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func mapping(file string, n *yaml.Node, field string) (*fields, error) {
	f := &fields{file: file, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}, line: n.Line}
	if n.Kind != yaml.MappingNode {
		return nil, f.errAt(n, field, "must be a mapping of fields")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := f.keys[k.Value]; dup {
			return nil, f.errAt(k, k.Value, "appears twice")
		}
		f.keys[k.Value], f.vals[k.Value] = k, v
	}
	return f, nil
}

// str returns a scalar field's text ("" when absent or null); required
// refuses it absent or blank.
func (f *fields) str(key, field string, required bool) (string, error) {
	v, ok := f.vals[key]
	if !ok || v.Tag == "!!null" {
		if required {
			return "", f.errAt(f.keys[key], field, "is required")
		}
		return "", nil
	}
	if v.Kind != yaml.ScalarNode {
		return "", f.errAt(v, field, "must be text, not a list or a mapping")
	}
	if required && strings.TrimSpace(v.Value) == "" {
		return "", f.errAt(v, field, "is required")
	}
	return v.Value, nil
}

// sub returns a nested mapping's fields, or nil when absent.
func (f *fields) sub(key string) (*fields, error) {
	v, ok := f.vals[key]
	if !ok || v.Tag == "!!null" {
		return nil, nil
	}
	return mapping(f.file, v, key)
}

// Read reads one parser file. A file in neither format is an *Error
// wrapping ErrNotParser; a parser whose fields are missing, of the wrong
// kind, or whose parameters or query do not parse is an *Error naming the
// field and its line in the file.
func Read(file string, data []byte) (*Parser, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: file, Msg: "the file is empty", Err: ErrNotParser}
		}
		return nil, yamlError(file, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, &Error{File: file, Line: root.Line, Msg: "the file is not a YAML mapping of a parser's fields", Err: ErrNotParser}
	}
	f, err := mapping(file, root, "")
	if err != nil {
		return nil, err
	}
	switch {
	case f.vals["ParserName"] != nil:
		return f.asim()
	case f.vals["FunctionName"] != nil || f.vals["FunctionAlias"] != nil:
		return f.solution()
	}
	return nil, &Error{File: file, Line: root.Line, Field: "ParserName",
		Msg: "not a parser file: it has neither ParserName (a normalizing parser) nor FunctionName (a solution's parser)", Err: ErrNotParser}
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError names the line of a YAML syntax error.
func yamlError(file string, err error) *Error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Msg: "not valid YAML: " + m[2]}
	}
	return &Error{File: file, Msg: "not valid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// header reads the Title and Version of a parser's descriptive mapping
// (Parser or Function).
func (f *fields) header(key string) (title, version string, err error) {
	h, err := f.sub(key)
	if err != nil || h == nil {
		return "", "", err
	}
	if title, err = h.str("Title", key+".Title", false); err != nil {
		return "", "", err
	}
	version, err = h.str("Version", key+".Version", false)
	return title, version, err
}

func (f *fields) asim() (*Parser, error) {
	name, err := f.str("ParserName", "ParserName", true)
	if err != nil {
		return nil, err
	}
	builtIn, err := f.str("EquivalentBuiltInParser", "EquivalentBuiltInParser", false)
	if err != nil {
		return nil, err
	}
	builtIn = strings.TrimSpace(builtIn)
	p := &Parser{Format: FormatASIM, Name: strings.TrimSpace(name)}
	if p.Title, p.Version, err = f.header("Parser"); err != nil {
		return nil, err
	}
	params, err := f.params("ParserParams")
	if err != nil {
		return nil, err
	}
	query, err := f.query("ParserQuery")
	if err != nil {
		return nil, err
	}
	tags := []savedsearch.Tag{{Name: TagParserName, Value: p.Name}}
	if p.Version != "" {
		tags = append(tags, savedsearch.Tag{Name: TagParserVersion, Value: p.Version})
	}
	norm, err := f.sub("Normalization")
	if err != nil {
		return nil, err
	}
	if norm != nil {
		for _, kt := range [][2]string{{"Schema", TagSchema}, {"Version", TagSchemaVersion}} {
			key, tag := kt[0], kt[1]
			v, err := norm.str(key, "Normalization."+key, false)
			if err != nil {
				return nil, err
			}
			if v != "" {
				tags = append(tags, savedsearch.Tag{Name: tag, Value: v})
			}
		}
	}
	names := []struct{ name, field string }{{p.Name, "ParserName"}}
	if builtIn != "" && builtIn != p.Name {
		names = append(names, struct{ name, field string }{builtIn, "EquivalentBuiltInParser"})
	}
	for _, n := range names {
		s, err := f.search(n.name, n.field, "ASIM", p.Title, params, query, tags)
		if err != nil {
			return nil, err
		}
		p.Searches = append(p.Searches, s)
	}
	return p, nil
}

func (f *fields) solution() (*Parser, error) {
	name, err := f.str("FunctionName", "FunctionName", false)
	if err != nil {
		return nil, err
	}
	alias, err := f.str("FunctionAlias", "FunctionAlias", false)
	if err != nil {
		return nil, err
	}
	name, alias = strings.TrimSpace(name), strings.TrimSpace(alias)
	field := "FunctionAlias"
	if alias == "" {
		alias, field = name, "FunctionName"
	}
	p := &Parser{Format: FormatSolution, Name: name}
	if p.Name == "" {
		p.Name = alias
	}
	if p.Title, p.Version, err = f.header("Function"); err != nil {
		return nil, err
	}
	category, err := f.str("Category", "Category", false)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(category) == "" {
		category = "Parser"
	}
	params, err := f.params("FunctionParams")
	if err != nil {
		return nil, err
	}
	query, err := f.query("FunctionQuery")
	if err != nil {
		return nil, err
	}
	var tags []savedsearch.Tag
	if p.Version != "" {
		tags = append(tags, savedsearch.Tag{Name: TagParserVersion, Value: p.Version})
	}
	s, err := f.search(alias, field, category, p.Title, params, query, tags)
	if err != nil {
		return nil, err
	}
	p.Searches = []Search{s}
	return p, nil
}

// queryText is a parser's query and the file line its text starts on.
type queryText struct {
	text  string
	line  int
	field string
}

func (f *fields) query(key string) (queryText, error) {
	text, err := f.str(key, key, true)
	if err != nil {
		return queryText{}, err
	}
	v := f.vals[key]
	line := v.Line
	if v.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		line++ // a block's text starts on the line after its indicator
	}
	return queryText{text: strings.TrimRight(text, "\n"), line: line, field: key}, nil
}

// paramsText is a parser's parameter list as a saved search holds it.
type paramsText struct {
	text  string
	field string
}

// params renders a parser's parameters as a let declares them:
// name:type=default, the default of a string parameter quoted unless it
// already is a string literal.
func (f *fields) params(key string) (paramsText, error) {
	pt := paramsText{field: key}
	v, ok := f.vals[key]
	if !ok || v.Tag == "!!null" {
		return pt, nil
	}
	if v.Kind != yaml.SequenceNode {
		return pt, f.errAt(v, key, "must be a list of {Name, Type, Default}")
	}
	parts := make([]string, 0, len(v.Content))
	for i, item := range v.Content {
		field := fmt.Sprintf("%s[%d]", key, i)
		pf, err := mapping(f.file, item, field)
		if err != nil {
			return pt, err
		}
		name, err := pf.str("Name", field+".Name", true)
		if err != nil {
			return pt, err
		}
		if !kql.ValidFunctionName(name) { // a parameter is named as a function is
			return pt, f.errAt(pf.vals["Name"], field+".Name", "%q is not a parameter name: letters, digits and underscores, not starting with a digit", name)
		}
		typ, err := pf.str("Type", field+".Type", true)
		if err != nil {
			return pt, err
		}
		param := name + ":" + strings.TrimSpace(typ)
		if d, ok := pf.vals["Default"]; ok && d.Tag != "!!null" {
			if d.Kind != yaml.ScalarNode {
				return pt, f.errAt(d, field+".Default", "must be a value, not a list or a mapping")
			}
			param += "=" + defaultLiteral(typ, d.Value)
		}
		// Each parameter is checked alone, so that a refusal names its line.
		if err := kql.CheckFunction(kql.Function{Name: "f", Parameters: param, Body: "print 0"}); err != nil {
			var se *kql.SyntaxError
			if errors.As(err, &se) {
				err = errors.New(se.Msg)
			}
			return pt, f.errAt(item, field, "%s does not parse: %v", param, err)
		}
		parts = append(parts, param)
	}
	pt.text = strings.Join(parts, ", ")
	return pt, nil
}

// defaultLiteral is a parameter's default as KQL: a string parameter's
// value is the text itself (Default: '*' means the string *), quoted, unless
// the author wrote a KQL string literal already; other types' values are
// KQL as written (datetime(null), dynamic([]), false, 10).
func defaultLiteral(typ, value string) string {
	if !strings.EqualFold(strings.TrimSpace(typ), "string") || isStringLiteral(value) {
		return value
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(value) + "'"
}

func isStringLiteral(v string) bool {
	return len(v) >= 2 && (v[0] == '\'' && v[len(v)-1] == '\'' || v[0] == '"' && v[len(v)-1] == '"')
}

// search is the saved search installing the parser as function alias,
// checked as the server will check it, with a refusal placed in the file.
func (f *fields) search(alias, aliasField, category, title string, params paramsText, query queryText, tags []savedsearch.Tag) (Search, error) {
	if !kql.ValidFunctionName(alias) {
		return Search{}, f.errAt(f.vals[aliasField], aliasField, "%q is not a function name: 1-%d letters, digits and underscores, not starting with a digit",
			alias, kql.MaxFunctionNameLength)
	}
	if title == "" {
		title = alias
	}
	fn := kql.Function{Name: alias, Parameters: params.text, Body: query.text}
	if err := kql.CheckFunction(fn); err != nil {
		return Search{}, f.placed(err, params, query)
	}
	s := Search{ID: alias, Properties: savedsearch.Properties{
		Category: category, DisplayName: title, Query: query.text, FunctionAlias: alias,
		FunctionParameters: params.text, Version: queryLanguageVersion, Tags: tags,
	}}
	// What the server would refuse (a title too long, too many tags) is
	// refused here, naming the file.
	if err := savedsearch.Check(s.Properties); err != nil {
		var fe *fault.Error
		if errors.As(err, &fe) {
			err = errors.New(fe.Message)
		}
		return Search{}, &Error{File: f.file, Line: f.line, Msg: fmt.Sprintf("the saved search for %s would be refused: %v", alias, err)}
	}
	return s, nil
}

// placed turns CheckFunction's refusal of a query into one at the file's
// line and the query's column. (The parameters were checked one by one.)
func (f *fields) placed(err error, params paramsText, query queryText) error {
	var fe *kql.FunctionError
	if !errors.As(err, &fe) {
		return err
	}
	if fe.Part == kql.FunctionPartBody {
		return &Error{File: f.file, Line: query.line + fe.Err.Line - 1, Field: query.field,
			Msg: fmt.Sprintf("column %d: %s", fe.Err.Col, fe.Err.Msg)}
	}
	return &Error{File: f.file, Line: f.line, Field: params.field, Msg: fe.Err.Msg}
}
