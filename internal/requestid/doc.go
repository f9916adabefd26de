// Package requestid names each HTTP request, so that a person who quotes
// the ID an error shows leads an operator to the request's log line. The
// server keeps the ID a trusted proxy sends or makes one, and puts it in
// the request's context; front doors read it there for their error answers
// and, once they know the tenant, record it there for the log line.
package requestid
