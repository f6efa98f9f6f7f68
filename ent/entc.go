//go:build ignore

// entc.go generates the ent code and ent/ent.graphql. Run through
// `go generate ./...` from the repository root.
package main

import (
	"log"

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
				ParseFiles("template/total_in_page.tmpl", "template/raw_query.tmpl")
			if err != nil {
				return err
			}
			cfg.Templates = append(cfg.Templates, t)
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
