// Package store defines Countersign's persistent records and the narrow
// interfaces the rest of the server uses to read and change them. Every state
// change that a security rule depends on (a charged guess, a used time step, a
// consumed code) is one conditional statement, so the rule holds when several
// servers share one database. The SQL implementation lives in sqlstore; the
// behaviour every implementation must show is written once in storetest.
package store
