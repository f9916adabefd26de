// Package pgtest gives each test its own empty PostgreSQL schema, so tests
// and packages can share one database and run in parallel without seeing each
// other's rows or migrations.
package pgtest
