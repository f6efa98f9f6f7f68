package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
)

// instruction is one Dockerfile instruction: its keyword, upper-cased, and
// the rest of its (joined) lines.
type instruction struct {
	keyword, args string
}

// stage is one FROM and the instructions after it.
type stage struct {
	from         string // the image, without AS
	name         string
	instructions []instruction
}

// find returns the stage's instructions with keyword.
func (s stage) find(keyword string) []instruction {
	var found []instruction
	for _, in := range s.instructions {
		if in.keyword == keyword {
			found = append(found, in)
		}
	}
	return found
}

// readDockerfile splits the repository's Dockerfile into stages. It reads
// the subset of the syntax that file uses (comments, blank lines, lines
// continued with a backslash; no parser directives, heredocs or escape
// character of its own), and fails the test on anything else rather than
// misread it. (BuildKit's parser, the alternative, would bring BuildKit
// into go.mod and move golang.org/x/exp, whose slices entgql's code uses,
// to another version.)
func readDockerfile(t *testing.T) []stage {
	t.Helper()
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	var pending string
	for i, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if pending == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			if i == 0 && strings.Contains(strings.ToLower(trimmed), "syntax=") {
				t.Fatalf("Dockerfile: a parser directive (%q): this reader does not know them", trimmed)
			}
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			pending += strings.TrimSuffix(trimmed, "\\") + " "
			continue
		}
		full := pending + trimmed
		pending = ""
		keyword, args, _ := strings.Cut(full, " ")
		keyword = strings.ToUpper(keyword)
		args = strings.TrimSpace(args)
		if strings.Contains(args, "<<") {
			t.Fatalf("Dockerfile line %d: a heredoc: this reader does not know them", i+1)
		}
		if keyword == "FROM" {
			fields := strings.Fields(args)
			s := stage{from: fields[0]}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				s.name = fields[2]
			} else if len(fields) != 1 {
				t.Fatalf("Dockerfile line %d: FROM %s: want an image and an optional AS name", i+1, args)
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile line %d: %s before the first FROM", i+1, keyword)
		}
		last := &stages[len(stages)-1]
		last.instructions = append(last.instructions, instruction{keyword, args})
	}
	if pending != "" {
		t.Fatal("Dockerfile ends inside a continued line")
	}
	return stages
}

// execForm is an instruction's JSON array (exec form), or the test's end.
func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(in.args), &argv); err != nil {
		t.Fatalf("Dockerfile: %s %s is not in exec form (a JSON array): the image has no shell", in.keyword, in.args)
	}
	return argv
}

// TestDockerfile: the image is built in two stages, the first with the Go
// release go.mod names (the golang images set GOTOOLCHAIN=local, so a
// go.mod that asks for a newer Go than the image has fails the build), the
// binary static; the final stage is a small base with no Go toolchain,
// runs as a user other than root, starts the server and probes it with
// `server health`, each in exec form (the base has no shell).
func TestDockerfile(t *testing.T) {
	stages := readDockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stage(s), want a build stage and a final one", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]

	raw, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := modfile.ParseLax("go.mod", raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := mod.Go.Version
	if image, tag, _ := strings.Cut(build.from, ":"); image != "golang" || strings.Split(tag, "-")[0] != want {
		t.Errorf("the build stage is FROM %s, want golang:%s (go.mod's Go)", build.from, want)
	}
	built := false
	for _, in := range build.find("RUN") {
		if strings.Contains(in.args, "go build") {
			built = true
			if !strings.Contains(in.args, "CGO_ENABLED=0 go build") || !strings.Contains(in.args, "./cmd/server") {
				t.Errorf("the server is not built static (CGO_ENABLED=0 go build … ./cmd/server): RUN %s", in.args)
			}
		}
	}
	if !built {
		t.Error("the build stage runs no go build")
	}

	if strings.HasPrefix(final.from, "golang") || final.from == "scratch" {
		t.Errorf("the final stage is FROM %s, want a small base with CA certificates and a passwd entry (distroless static)", final.from)
	}
	copied := false
	for _, in := range final.find("COPY") {
		if strings.Contains(in.args, "--from="+build.name) && strings.Contains(in.args, "/app/server") {
			copied = true
		}
	}
	if build.name == "" || !copied {
		t.Error("the final stage does not copy /app/server from the build stage")
	}
	users := final.find("USER")
	if len(users) == 0 {
		t.Fatal("the final stage sets no USER: the server would run as the image's default")
	}
	user, _, _ := strings.Cut(users[len(users)-1].args, ":")
	if user == "" || user == "root" || user == "0" {
		t.Errorf("the final stage runs as %q, want a user other than root", users[len(users)-1].args)
	}
	entry := final.find("ENTRYPOINT")
	if len(entry) != 1 || strings.Join(execForm(t, entry[0]), " ") != "/app/server" {
		t.Errorf("ENTRYPOINT %v, want [\"/app/server\"]", entry)
	}
	checks := final.find("HEALTHCHECK")
	if len(checks) != 1 {
		t.Fatalf("the final stage has %d HEALTHCHECK instructions, want one", len(checks))
	}
	_, cmd, ok := strings.Cut(checks[0].args, "CMD ")
	if !ok {
		t.Fatalf("HEALTHCHECK %s has no CMD", checks[0].args)
	}
	if argv := execForm(t, instruction{"HEALTHCHECK CMD", cmd}); strings.Join(argv, " ") != "/app/server health" {
		t.Errorf("HEALTHCHECK %s, want CMD [\"/app/server\", \"health\"]", checks[0].args)
	}
}
