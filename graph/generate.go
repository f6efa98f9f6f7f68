package graph

//go:generate sh -c "cd .. && go run ./cmd/graphgen"
