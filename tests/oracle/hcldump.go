// hcldump: HashiCorp's own reading of HCL files, as JSON, for sgplan's differential tests.
//
// Built by tests/oracle/oracle.py from Debian's golang-github-hashicorp-hcl-v2-dev in GOPATH
// mode (no network). Usage:
//
//	hcldump FILE            one file → one JSON result
//	hcldump -batch          stdin: JSON array of sources; stdout: JSON array of results
//
// A result is {"ok": true, "body": BODY} or {"ok": false, "errors": ["line:col: summary", …]}.
// BODY is {"attributes": {NAME: ATTR}, "blocks": [{"type", "labels", "line", "body"}]} in
// source order; ATTR is {"line": N, "value": V} when the expression evaluates with no
// variables and no functions, else {"line": N, "nonliteral": "why"}. Numbers are written as
// JSON numbers in their shortest exact decimal form; strings are the unescaped cty strings.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"os"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

type result struct {
	OK     bool        `json:"ok"`
	Errors []string    `json:"errors,omitempty"`
	Body   interface{} `json:"body,omitempty"`
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "-batch" {
		batch()
		return
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: hcldump FILE | hcldump -batch")
		os.Exit(2)
	}
	src, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	write(dump(src, os.Args[1]))
}

func batch() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var sources []string
	if err := json.Unmarshal(in, &sources); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	out := make([]result, len(sources))
	for i, src := range sources {
		out[i] = dump([]byte(src), fmt.Sprintf("input%d.hcl", i))
	}
	write(out)
}

func write(v interface{}) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Stdout.Write(buf.Bytes())
}

// dump parses one source; a panic inside the library is reported as an error, not a crash.
func dump(src []byte, name string) (r result) {
	defer func() {
		if p := recover(); p != nil {
			r = result{OK: false, Errors: []string{fmt.Sprintf("panic: %v", p)}}
		}
	}()
	file, diags := hclsyntax.ParseConfig(src, name, hcl.Pos{Line: 1, Column: 1, Byte: 0})
	if diags.HasErrors() {
		return result{OK: false, Errors: messages(diags)}
	}
	return result{OK: true, Body: body(file.Body.(*hclsyntax.Body))}
}

func messages(diags hcl.Diagnostics) []string {
	var out []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		where := ""
		if d.Subject != nil {
			where = fmt.Sprintf("%d:%d: ", d.Subject.Start.Line, d.Subject.Start.Column)
		}
		out = append(out, where+d.Summary+": "+d.Detail)
	}
	return out
}

func body(b *hclsyntax.Body) map[string]interface{} {
	attrs := map[string]interface{}{}
	for name, attr := range b.Attributes {
		attrs[name] = attribute(attr)
	}
	blocks := make([]interface{}, 0, len(b.Blocks))
	for _, blk := range b.Blocks {
		labels := blk.Labels
		if labels == nil {
			labels = []string{}
		}
		blocks = append(blocks, map[string]interface{}{
			"type":   blk.Type,
			"labels": labels,
			"line":   blk.TypeRange.Start.Line,
			"body":   body(blk.Body),
		})
	}
	return map[string]interface{}{"attributes": attrs, "blocks": blocks}
}

func attribute(attr *hclsyntax.Attribute) map[string]interface{} {
	out := map[string]interface{}{"line": attr.NameRange.Start.Line}
	v, diags := attr.Expr.Value(nil) // no variables, no functions: literals only
	if diags.HasErrors() {
		out["nonliteral"] = diags[0].Summary
		return out
	}
	plain, why := plainValue(v)
	if why != "" {
		out["nonliteral"] = why
		return out
	}
	out["value"] = plain
	return out
}

// plainValue converts a cty value to JSON-ready Go values ("" or a reason it cannot).
func plainValue(v cty.Value) (interface{}, string) {
	if !v.IsWhollyKnown() {
		return nil, "unknown value"
	}
	if v.IsNull() {
		return nil, ""
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return v.AsString(), ""
	case t == cty.Number:
		return json.Number(numberText(v.AsBigFloat())), ""
	case t == cty.Bool:
		return v.True(), ""
	case t.IsListType() || t.IsTupleType() || t.IsSetType():
		items := []interface{}{}
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			p, why := plainValue(ev)
			if why != "" {
				return nil, why
			}
			items = append(items, p)
		}
		return items, ""
	case t.IsMapType() || t.IsObjectType():
		m := map[string]interface{}{}
		keys := []string{}
		for it := v.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			p, why := plainValue(ev)
			if why != "" {
				return nil, why
			}
			m[k.AsString()] = p
			keys = append(keys, k.AsString())
		}
		sort.Strings(keys)
		return m, ""
	}
	return nil, "unsupported type " + t.FriendlyName()
}

func numberText(f *big.Float) string {
	if f.IsInf() {
		return "1e999999"
	}
	if f.IsInt() {
		i, _ := f.Int(nil)
		return i.String()
	}
	return f.Text('g', -1)
}
