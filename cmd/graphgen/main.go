// Command graphgen generates the GraphQL executor: it runs gqlgen exactly as
// `gqlgen generate` does, on gqlgen.yml, and then changes seven things in
// how the executor resolves fields whose data is already in memory. Run it from
// the repository root (`go generate ./...` does, through graph/generate.go).
//
// gqlgen's executor assumes any field might block on I/O, so it spends a
// goroutine on every element of every list and on every object with two or
// more fields that take a context, and builds a @defer group (with the
// object's full path) for every object it writes. Here most of those fields
// are ent edges and connections that entgql's field collection has already
// eager-loaded, so that work is pure overhead: on the contract's
// ProjectTree it was about a quarter of the request's CPU (docs/BENCHMARKS.md).
//
//  1. Objects whose fields are all ent struct fields or ent methods (no
//     resolver of ours) are marked DisableConcurrency, as gqlgen marks
//     Mutation: their fields resolve one after the other. An edge that was
//     not eager-loaded still queries, in line. A @defer on one of their
//     fields is answered in line too, as gqlgen answers it on Mutation (over
//     POST, which writes only the first payload, gqlgen would otherwise
//     answer null and drop the deferred part).
//  2. Every list is marshalled through graph.marshalSlice instead of
//     graphql.MarshalSliceConcurrently. It marshals the elements one after
//     the other when nothing under the list's selection set reaches one of
//     our resolvers, and concurrently otherwise, so that resolvers behind a
//     dataloader (User.memberships) still batch across the list. The fields
//     that keep a list concurrent are written to graph/concurrency_gen.go.
//  3. Every object takes its @defer group from graph.newDeferredGroup, which
//     builds gqlgen's group only when one of the object's fields is deferred.
//  4. Every object is written by graph.marshalObject, which writes the same
//     JSON as gqlgen's FieldSet without a map and a heap copy per field. An
//     object that resolves none of its fields concurrently (1, and any
//     object without a context-taking field) collects its values in a
//     graph.objectOut instead of a graphql.FieldSet: one allocation instead
//     of three.
//  5. A query's response is written into a buffer sized after the
//     operation's previous response (graph.responseBuffer) rather than one
//     that grows from nothing by doubling.
//  6. A field that is a plain struct field (a project's name, a comment's
//     body, an edge's node: most of any response) is marshalled straight
//     from the struct, without ResolveField's trip through the field
//     middleware, its closures and its panic guard; a scalar or enum field
//     also without a field context of its own. Field interceptors
//     (graphql.FieldInterceptor) therefore see only the fields that resolve
//     through a method or a resolver, as the tracing one asks for anyway. A
//     panic while marshalling such a field nulls the nearest list element or
//     field that has a guard, rather than the field alone; marshalling a
//     struct field does not panic. And should a scalar field hold a value
//     its non-null type cannot encode (a zero time), the error's path ends
//     at the object rather than at the field (the object is nulled as
//     before); the NOT NULL columns behind these fields rule it out.
//  7. Every object's fields are collected by graph.collectFields, which
//     remembers them across requests (gqlgen remembers them per request,
//     behind a hash and a lock), unless a directive of the operation takes
//     a variable.
//
// It fails when gqlgen's output no longer has the calls it replaces, so that
// a gqlgen upgrade that changes them is noticed at generation time.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"go/format"
	"go/types"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/99designs/gqlgen/api"
	"github.com/99designs/gqlgen/codegen"
	"github.com/99designs/gqlgen/codegen/config"
	"github.com/vektah/gqlparser/v2/ast"
)

// entPackage is where the ent types the schema binds to live.
const entPackage = "tenantgraph/ent"

// concurrencyFile lists the fields that keep a list concurrent.
const concurrencyFile = "graph/concurrency_gen.go"

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "graphgen:", err)
		os.Exit(1)
	}
}

func run(stdout io.Writer) error {
	cfg, err := config.LoadConfigFromDefaultLocations()
	if err != nil {
		return fmt.Errorf("load gqlgen.yml: %w", err)
	}
	p := &executorPlan{}
	if err := api.Generate(cfg, api.AddPlugin(p)); err != nil {
		return fmt.Errorf("gqlgen: %w", err)
	}
	if p.concurrent == nil {
		return errors.New("gqlgen did not hand its code-generation data to the plugin")
	}
	if err := rewriteExecutor(cfg.Exec.Filename, p.leaves); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "graphgen: %d objects resolve serially; %d fields keep a list concurrent\n", len(p.serial), len(p.fields()))
	return nil
}

// executorPlan is a gqlgen plugin. gqlgen calls GenerateCode with the data
// it is about to write the executor from, so changes to it reach the output.
type executorPlan struct {
	serial     []string
	concurrent map[string][]string // field name -> object types where it is one of our resolvers
	leaves     map[string]bool     // "_Object_field" of every scalar and enum field
}

func (*executorPlan) Name() string { return "tenantgraph-executor-plan" }

func (p *executorPlan) GenerateCode(data *codegen.Data) error {
	p.concurrent, p.leaves = map[string][]string{}, map[string]bool{}
	for _, o := range data.Objects {
		if o.Root {
			continue
		}
		isEnt := fromEnt(o.Type)
		inMemory := isEnt
		for _, f := range o.Fields {
			if k := f.TypeReference.Definition.Kind; k == ast.Scalar || k == ast.Enum {
				p.leaves["_"+o.Name+"_"+f.Name] = true
			}
			if f.IsResolver || (f.MethodHasContext && !isEnt) {
				// Ours, or a method of a type outside ent: it may do I/O.
				p.concurrent[f.Name] = append(p.concurrent[f.Name], o.Name)
				inMemory = false
			}
		}
		if inMemory && !o.DisableConcurrency {
			o.DisableConcurrency = true
			p.serial = append(p.serial, o.Name)
		}
	}
	// Written now, before gqlgen writes the executor and type-checks the
	// package, which uses concurrentFields.
	return os.WriteFile(concurrencyFile, p.concurrencySource(), 0o644)
}

// fromEnt reports whether t is one of ent's generated types (or a pointer
// to one), whose context-taking methods read eager-loaded edges.
func fromEnt(t types.Type) bool {
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	n, ok := t.(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == entPackage
}

func (p *executorPlan) fields() []string {
	names := make([]string, 0, len(p.concurrent))
	for name := range p.concurrent {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func (p *executorPlan) concurrencySource() []byte {
	var b bytes.Buffer
	b.WriteString("// Code generated by cmd/graphgen, DO NOT EDIT.\n\npackage graph\n\n")
	b.WriteString("// concurrentFields names, by field and then by object type, the fields that\n")
	b.WriteString("// our resolvers answer (they may do I/O or wait on a dataloader). A list\n")
	b.WriteString("// whose selection set reaches one of them is marshalled concurrently.\n")
	b.WriteString("var concurrentFields = map[string]map[string]bool{\n")
	for _, name := range p.fields() {
		objs := append([]string(nil), p.concurrent[name]...)
		sort.Strings(objs)
		fmt.Fprintf(&b, "\t%q: {", name)
		for i, o := range objs {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q: true", o)
		}
		b.WriteString("},\n")
	}
	b.WriteString("}\n")
	src, err := format.Source(b.Bytes())
	if err != nil {
		panic(err) // the text above is fixed; a failure is a bug here
	}
	return src
}

// rewrites are the calls in gqlgen's executor that graphgen replaces.
var rewrites = []struct{ from, to string }{
	{"graphql.MarshalSliceConcurrently(ctx,", "marshalSlice(ctx,"},
	{"deferred := graphql.NewDeferredGroup(ctx)", "deferred := newDeferredGroup(ctx, fields)"},
	{"\n\treturn out\n}", "\n\treturn marshalObject(fields, out)\n}"},
	{"graphql.CollectFields(ec.OperationContext, sel, ", "collectFields(ec.OperationContext, sel, "},
	{"\t\t\tvar buf bytes.Buffer\n\t\t\tdata.MarshalGQL(&buf)\n\t\t\tresponse.Data = buf.Bytes()\n",
		"\t\t\tbuf := responseBuffer(opCtx.Operation)\n\t\t\tdata.MarshalGQL(buf)\n\t\t\tresponse.Data = responseWritten(opCtx, buf)\n"},
	// A query's next deferred result is awaited until the query's context
	// ends too (awaitDeferred); gqlgen's bare receive waited for ever once
	// the deferred work, seeing that context end, gave up sending.
	{"\t\t\t\t\tresult := <-ec.DeferredResults\n",
		"\t\t\t\t\tresult, ok := awaitDeferred(ctx, ec.DeferredResults)\n\t\t\t\t\tif !ok {\n\t\t\t\t\t\tatomic.StoreInt32(&ec.PendingDeferred, 0)\n\t\t\t\t\t\treturn deferredAbandoned(ctx)\n\t\t\t\t\t}\n"},
}

func rewriteExecutor(path string, leaves map[string]bool) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out := string(src)
	for _, r := range rewrites {
		if !strings.Contains(out, r.from) {
			return fmt.Errorf("%s no longer contains %q: gqlgen's output changed, so cmd/graphgen needs updating", path, r.from)
		}
		out = strings.ReplaceAll(out, r.from, r.to)
	}
	out = plainObjects(out)
	out, n := inlineStructFields(out, leaves)
	if n == 0 {
		return fmt.Errorf("%s: no field resolver has the shape of a plain struct field any more: gqlgen's output changed, so cmd/graphgen needs updating", path)
	}
	formatted, err := format.Source([]byte(out))
	if err != nil {
		return fmt.Errorf("format %s after rewriting: %w", path, err)
	}
	return os.WriteFile(path, formatted, 0o644)
}

// structField matches the resolver gqlgen writes for a field read straight
// from a struct field, with no directive (the nil middleware) and a
// concrete type: its name, its field-context function, the struct field, the
// Go type and the marshaller.
var structField = regexp.MustCompile(`(?m)^func \(ec \*executionContext\) (_\w+)\(ctx context\.Context, field graphql\.CollectedField, obj \*[\w.]+\) \(ret graphql\.Marshaler\) \{
	return graphql\.ResolveField\(
		ctx,
		ec\.OperationContext,
		field,
		func\(ctx context\.Context, field graphql\.CollectedField\) \(\*graphql\.FieldContext, error\) \{
			return ec\.(fieldContext\w+)\(ctx, field\)
		\},
		func\(ctx context\.Context\) \(any, error\) \{
			return obj\.(\w+), nil
		\},
		nil,
		func\(ctx context\.Context, selections ast\.SelectionSet, v ([^)]+)\) graphql\.Marshaler \{
			return ec\.(marshal[^(\s]+)\(ctx, selections, v\)
		\},
		(?:true|false),
		(?:true|false),
	\)
\}
`)

// inlineStructFields replaces the calls to the resolvers that structField
// matches with their marshaller applied to the struct field, and removes
// those resolvers. A scalar or enum field (one of leaves) is marshalled in
// its parent's context. Any other field still gets the field context
// ResolveField would make (graph.withField), because it is the parent of
// everything under it: the paths of errors there, and marshalSlice's view of
// a list; only when that context cannot fail to build, as for every field
// without arguments. It returns the new source and how many it inlined.
func inlineStructFields(src string, leaves map[string]bool) (string, int) {
	inlined := 0
	for _, m := range structField.FindAllStringSubmatch(src, -1) {
		name, fieldContext, goField, goType, marshal := m[1], m[2], m[3], m[4], m[5]
		if goType == "any" || strings.HasPrefix(goType, "interface") {
			continue // a nil interface takes gqlgen's null handling
		}
		call := "ec." + name + "(ctx, field, obj)"
		if !strings.Contains(src, call) {
			continue
		}
		value := "obj." + goField
		var inline string
		switch {
		case leaves[name]:
			inline = "ec." + marshal + "(ctx, field.Selections, " + value + ")"
		case infallible(src, fieldContext):
			inline = "ec." + marshal + "(withField(ctx, ec, (*executionContext)." + fieldContext + ", field, " + value + "), field.Selections, " + value + ")"
		default:
			continue
		}
		src = strings.ReplaceAll(src, call, inline)
		src = strings.Replace(src, m[0], "", 1)
		inlined++
	}
	return src, inlined
}

// infallible reports whether the generated function that makes a field's
// context always succeeds: it builds the context and returns it with a nil
// error, with no arguments to parse and nothing to recover from.
func infallible(src, fieldContext string) bool {
	start := strings.Index(src, "func (ec *executionContext) "+fieldContext+"(")
	if start < 0 {
		return false
	}
	end := strings.Index(src[start:], "\n}\n")
	if end < 0 {
		return false
	}
	body := src[start : start+end]
	return strings.HasSuffix(body, "return fc, nil") && !strings.Contains(body, "defer") && !strings.Contains(body, "err =")
}

// objectMarshaller matches the function gqlgen writes to marshal an object
// type, up to the closing brace at the start of a line.
var objectMarshaller = regexp.MustCompile(`(?s)func \(ec \*executionContext\) _\w+\(ctx context\.Context, sel ast\.SelectionSet[^)]*\) graphql\.Marshaler \{\n.*?\n\}\n`)

// plainObjects makes each object marshaller that schedules no field
// concurrently collect its values in a graph.objectOut.
func plainObjects(src string) string {
	return objectMarshaller.ReplaceAllStringFunc(src, func(fn string) string {
		if strings.Contains(fn, "Concurrently(") || !strings.Contains(fn, "out := graphql.NewFieldSet(fields)") {
			return fn
		}
		fn = strings.Replace(fn, "out := graphql.NewFieldSet(fields)", "out := newObject(fields)", 1)
		return strings.Replace(fn, "return marshalObject(fields, out)", "return out", 1)
	})
}
