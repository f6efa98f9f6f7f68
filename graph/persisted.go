package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// LoadPersistedManifest reads an Apollo persisted-query manifest
// ({"operations": [{"id": "<sha256 of body>", "body": "query …"}]}, as
// written by @apollo/generate-persisted-query-manifest) and returns its
// operations by hash. Every id must be the SHA-256 of its body.
func LoadPersistedManifest(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("graph: reading persisted-query manifest: %w", err)
	}
	var m struct {
		Operations []struct {
			ID   string `json:"id"`
			Body string `json:"body"`
		} `json:"operations"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("graph: parsing persisted-query manifest %s: %w", path, err)
	}
	ops := make(map[string]string, len(m.Operations))
	for _, op := range m.Operations {
		sum := sha256.Sum256([]byte(op.Body))
		if hex.EncodeToString(sum[:]) != op.ID {
			return nil, fmt.Errorf("graph: persisted-query manifest %s: id %q is not the SHA-256 of its body", path, op.ID)
		}
		ops[op.ID] = op.Body
	}
	if len(ops) == 0 {
		return nil, fmt.Errorf("graph: persisted-query manifest %s has no operations", path)
	}
	return ops, nil
}

// persistedOnly accepts only the operations of a manifest, named by the
// hash in the Automatic Persisted Query extension; anything else is refused
// with PERSISTED_QUERY_NOT_FOUND before it is parsed.
type persistedOnly struct{ ops map[string]string }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = persistedOnly{}

func (persistedOnly) ExtensionName() string                   { return "PersistedQueriesOnly" }
func (persistedOnly) Validate(graphql.ExecutableSchema) error { return nil }

func (p persistedOnly) MutateOperationParameters(_ context.Context, params *graphql.RawParams) *gqlerror.Error {
	hash := ""
	if pq, ok := params.Extensions["persistedQuery"].(map[string]any); ok {
		hash, _ = pq["sha256Hash"].(string)
	}
	body, ok := p.ops[hash]
	if !ok || (params.Query != "" && params.Query != body) {
		return &gqlerror.Error{
			Message:    "this server accepts only persisted operations; send the sha256Hash of a registered one",
			Extensions: map[string]any{"code": "PERSISTED_QUERY_NOT_FOUND"},
		}
	}
	params.Query = body
	return nil
}
