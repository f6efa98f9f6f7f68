//go:build ignore

// entc.go generates the ent code and ent/ent.graphql. Run through
// `go generate ./...` from the repository root.
package main

import (
	"bytes"
	"fmt"
	"log"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template/parse"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
	"github.com/vektah/gqlparser/v2/ast"
)

func main() {
	ex, err := entgql.NewExtension(
		entgql.WithSchemaGenerator(),
		entgql.WithWhereInputs(true),
		entgql.WithRelaySpec(true),
		entgql.WithConfigPath("../gqlgen.yml"),
		entgql.WithSchemaPath("ent.graphql"),
		entgql.WithSchemaHook(guardNodeFields),
	)
	if err != nil {
		log.Fatalf("creating entgql extension: %v", err)
	}
	// A page reads its extra row only when hasNextPage or hasPreviousPage
	// is asked for, a nested page is limited per parent in one SELECT, and
	// a top-level page counts its rows only when totalCount is asked for,
	// or pageInfo without a page to tell it (template/page_limit.tmpl).
	for _, p := range []struct {
		t              *gen.Template
		name, old, new string
	}{
		{entgql.PaginationTemplate, "gql_pagination/helper/paginate",
			"limit := paginateLimit(first, last)", "limit := pageLimitOf(ctx, first, last)"},
		{entgql.CollectionTemplate, "gql_collection",
			"modify := entgql.LimitPerRow(", "modify := limitPerRow("},
		{entgql.PaginationTemplate, "gql_pagination/helper/paginate",
			"if hasCollectedField(ctx, totalCountField) || hasCollectedField(ctx, pageInfoField) {",
			"if hasCollectedField(ctx, totalCountField) || hasCollectedField(ctx, pageInfoField) && !pageTellsPageInfo(ignoredEdges, first, last) {"},
		{entgql.CollectionTemplate, "gql_collection",
			"limit := paginateLimit(args.first, args.last)", "limit := pageLimit(opCtx, &field, args.first, args.last)"},
		// after and before each bounded in its own direction, and only
		// by a cursor of the page's order (template/cursors.tmpl).
		{entgql.PaginationTemplate, "gql_pagination",
			"for _, predicate := range entgql.CursorsPredicate(after, before, ",
			"if err := checkCursors(p.order.Field.toCursor, after, before); err != nil {\n\t\t\treturn nil, err\n\t\t}\n\t\tfor _, predicate := range cursorsPredicate(p.reverse, after, before, "},
		// pageInfo of a page that is not read (no edges asked for, or
		// first or last 0) from counts that honour the cursors
		// (template/page_limit.tmpl).
		{entgql.PaginationTemplate, "gql_pagination/helper/paginate",
			"conn.PageInfo.HasNextPage = first != nil && conn.TotalCount > 0\n\t\t\tconn.PageInfo.HasPreviousPage = last != nil && conn.TotalCount > 0",
			"if !pageTellsPageInfo(ignoredEdges, first, last) {\n\t\t\t\tn := conn.TotalCount\n\t\t\t\tif after != nil || before != nil {\n\t\t\t\t\tif c, err = pager.applyCursors(c, after, before); err != nil {\n\t\t\t\t\t\treturn nil, err\n\t\t\t\t\t}\n\t\t\t\t\tif n, err = c.Count(ctx); err != nil {\n\t\t\t\t\t\treturn nil, err\n\t\t\t\t\t}\n\t\t\t\t}\n\t\t\t\tconn.PageInfo = pageInfoOfCount(n, after, first, before, last)\n\t\t\t}"},
		// A connection's edges, node, pageInfo and totalCount are found by
		// name, whatever the client's alias (template/page_limit.tmpl).
		{entgql.PaginationTemplate, "gql_pagination", "if f.Alias == name {", "if pathPartIs(f, name) {"},
		{entgql.EdgeTemplate, "gql_edge/helper/paginate",
			"conn.build(nodes, pager, after, first, before, last)\n\t\t\treturn conn, nil",
			"conn.build(nodes, pager, after, first, before, last)\n\t\t\tif nestedPageInfo(ctx, &conn.PageInfo, conn.TotalCount, after, first, before, last) {\n\t\t\t\treturn conn, nil\n\t\t\t}"},
	} {
		if err := replaceText(p.t, p.name, p.old, p.new); err != nil {
			log.Fatalf("patching entgql's templates: %v", err)
		}
	}
	// A node scans total_in_page into a field of its own
	// (template/total_in_page.tmpl), not ent's map of other columns.
	decode, err := entTemplate("dialect/sql/decode.tmpl")
	if err != nil {
		log.Fatalf("reading ent's templates: %v", err)
	}
	for _, p := range []struct{ old, new string }{
		{"values[i] = new(sql.UnknownType)", "values[i] = scanValueOf(columns[i])"},
		{".selectValues.Set(columns[i], values[i])", ".setValue(columns[i], values[i])"},
	} {
		if err := replaceText(decode, "dialect/sql/decode/one", p.old, p.new); err != nil {
			log.Fatalf("patching ent's templates: %v", err)
		}
	}
	err = entc.Generate("./schema", &gen.Config{
		Features: []gen.Feature{
			gen.FeaturePrivacy,
			gen.FeatureEntQL,
			gen.FeatureIntercept,
			gen.FeatureSnapshot,
			gen.FeatureVersionedMigration,
			gen.FeatureUpsert,
			gen.FeatureLock,
			gen.FeatureGlobalID,
		},
	}, entc.Extensions(ex),
		// After entgql's templates, so that its load_total helper is
		// overridden; with entgql's template functions (orderFields).
		func(cfg *gen.Config) error {
			t, err := gen.NewTemplate("external").Funcs(entgql.TemplateFuncs).
				ParseFiles("template/total_in_page.tmpl", "template/raw_query.tmpl", "template/page_limit.tmpl", "template/noders_of.tmpl", "template/cursors.tmpl")
			if err != nil {
				return err
			}
			cfg.Templates = append(cfg.Templates, t, decode)
			return nil
		})
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}

// guardNodeFields puts @hasRole(role: VIEWER) on the generated node and nodes
// root fields: looking objects up by ID is tenant-scoped reading like any other.
func guardNodeFields(_ *gen.Graph, s *ast.Schema) error {
	q := s.Types["Query"]
	if q == nil {
		return nil
	}
	for _, f := range q.Fields {
		if f.Name == "node" || f.Name == "nodes" {
			f.Directives = append(f.Directives, &ast.Directive{
				Name: "hasRole",
				Arguments: ast.ArgumentList{{
					Name:  "role",
					Value: &ast.Value{Kind: ast.EnumValue, Raw: "VIEWER"},
				}},
			})
		}
	}
	return nil
}

// replaceText replaces old with new in the text of template name of t, where
// old must occur exactly once, so that a new version of the template that
// moved or changed it stops the generator instead of being patched wrongly.
func replaceText(t *gen.Template, name, old, new string) error {
	tmpl := t.Lookup(name)
	if tmpl == nil {
		return fmt.Errorf("%s: no template %q", t.Name(), name)
	}
	var found []*parse.TextNode
	var walk func(parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.TextNode:
			if c := bytes.Count(n.Text, []byte(old)); c > 0 {
				for range c {
					found = append(found, n)
				}
			}
		case *parse.IfNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.List)
			walk(n.ElseList)
		}
	}
	walk(tmpl.Tree.Root)
	if len(found) != 1 {
		return fmt.Errorf("%s: %q occurs %d times, want once", name, old, len(found))
	}
	found[0].Text = bytes.Replace(found[0].Text, []byte(old), []byte(new), 1)
	return nil
}

// entTemplate parses one of ent's own templates (entc/gen/template/<name>)
// from the module the build uses, to be patched by replaceText and then
// override the one ent parsed itself.
func entTemplate(name string) (*gen.Template, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "entgo.io/ent").Output()
	if err != nil {
		return nil, fmt.Errorf("locating entgo.io/ent: %w", err)
	}
	path := filepath.Join(strings.TrimSpace(string(out)), "entc", "gen", "template", filepath.FromSlash(name))
	return gen.NewTemplate("ent:" + name).ParseFiles(path)
}
