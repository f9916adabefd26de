// Package arch holds no code, only the tests that keep Countersign's shape:
// the countersign binary links nothing meant for tests, no front door
// (REST API, portal, phone hooks, command line, and the hosted login, RADIUS
// and console to come) imports another or the SQL store, and the flow
// engine imports no front door and not the server that assembles them. The
// rules read the import graph from go list, so they hold for packages added
// later without a change here.
package arch
