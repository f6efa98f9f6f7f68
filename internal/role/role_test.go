package role_test

import (
	"bytes"
	"slices"
	"testing"

	"tenantgraph/internal/role"
)

// ladder is the ladder, highest first: OWNER > MANAGER > MEMBER > VIEWER.
var ladder = []role.Role{"OWNER", "MANAGER", "MEMBER", "VIEWER"}

// notRoles are values that are no role: the zero value (a non-member), wrong
// case and unknown names.
var notRoles = []role.Role{"", "owner", "ADMIN", " OWNER"}

func TestAtLeast(t *testing.T) {
	for i, r := range ladder {
		for j, min := range ladder {
			want := i <= j // r is min or above it
			if got := r.AtLeast(min); got != want {
				t.Errorf("%s.AtLeast(%s): got %v, want %v", r, min, got, want)
			}
		}
	}
	for _, r := range notRoles {
		for _, min := range append(slices.Clone(ladder), notRoles...) {
			if r.AtLeast(min) {
				t.Errorf("%q.AtLeast(%q): got true, want false (no role is never at least anything)", r, min)
			}
		}
	}
}

func TestValid(t *testing.T) {
	for _, r := range ladder {
		if !r.Valid() {
			t.Errorf("%s.Valid(): got false, want true", r)
		}
	}
	for _, r := range notRoles {
		if r.Valid() {
			t.Errorf("%q.Valid(): got true, want false", r)
		}
	}
}

func TestAllAndValues(t *testing.T) {
	if !slices.Equal(role.All, ladder) {
		t.Errorf("All: got %v, want %v", role.All, ladder)
	}
	want := []string{"OWNER", "MANAGER", "MEMBER", "VIEWER"}
	if got := role.Role("").Values(); !slices.Equal(got, want) {
		t.Errorf("Values: got %v, want %v", got, want)
	}
}

func TestGQLRoundTrip(t *testing.T) {
	for _, r := range ladder {
		t.Run(string(r), func(t *testing.T) {
			var buf bytes.Buffer
			r.MarshalGQL(&buf)
			if got, want := buf.String(), `"`+string(r)+`"`; got != want {
				t.Fatalf("MarshalGQL: got %s, want %s", got, want)
			}
			var back role.Role
			if err := back.UnmarshalGQL(string(r)); err != nil {
				t.Fatalf("UnmarshalGQL(%q): got %v, want nil", r, err)
			}
			if back != r {
				t.Errorf("round trip: got %q, want %q", back, r)
			}
		})
	}
}

func TestUnmarshalGQLRejectsBadValues(t *testing.T) {
	for _, bad := range []any{"", "owner", "ADMIN", " OWNER", "VIEWER ", 4, true, nil, []string{"OWNER"}} {
		r := role.Viewer
		if err := r.UnmarshalGQL(bad); err == nil {
			t.Errorf("UnmarshalGQL(%#v): got nil, want an error", bad)
		}
		if r != role.Viewer {
			t.Errorf("UnmarshalGQL(%#v): got %q written on failure, want VIEWER untouched", bad, r)
		}
	}
}
