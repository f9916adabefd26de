// Package sqlstore implements store.Store on SQLite (the embedded default) and
// PostgreSQL (several servers on one database) with one set of hand-written
// SQL. Queries are written with ? placeholders and rebound to $n for
// PostgreSQL; the migrations are written once in the same spelling, rewritten
// for PostgreSQL as they are read, and applied with goose.
//
// SQLite gets one writer connection whose transactions begin IMMEDIATE and a
// small pool of readers, so writers queue on the busy timeout instead of
// failing, and readers never wait for writers (WAL). Times are stored as Unix
// microseconds so both databases compare them the same way.
package sqlstore
