package database

import (
	"errors"

	"github.com/lib/pq"
)

// Contended reports whether err is PostgreSQL giving up a transaction
// because of a concurrent one: a deadlock (40P01), which it breaks by
// aborting one of the two, or a serialization failure (40001). The
// transaction is rolled back whole, and sending it again may succeed.
//
// Two mutations that each lock the same projects in opposite orders (a
// task changed in one project, then in another) can deadlock so; it is
// the client's to retry, not a server error.
func Contended(err error) bool {
	var pe *pq.Error
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}
