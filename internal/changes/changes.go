// Package changes describes what a change did to an object, field by field,
// for the activity log. It imports nothing of the application, so the data
// layer can store its type.
package changes

// Change is one changed field, with its old and new values rendered as text
// (secrets masked). Old is empty for a creation, New for a deletion.
type Change struct {
	Field string `json:"field"`
	Old   string `json:"old,omitempty"`
	New   string `json:"new,omitempty"`
}

// Mask replaces a secret with a marker that says only whether it was set.
func Mask(secret string) string {
	if secret == "" {
		return ""
	}
	return "••••••"
}

// List collects changes, leaving out fields whose value did not change.
type List []Change

// Add records field going from old to new, unless they are equal.
func (l *List) Add(field, old, new string) {
	if old != new {
		*l = append(*l, Change{Field: field, Old: old, New: new})
	}
}
