package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/countersign/countersign/internal/requestid"
)

// withRequest names each request and, when it ends, writes one line for
// it: method, route pattern, status, duration, ID and tenant. The path and
// the query are left out, since they may hold a code or a token; the
// pattern says which page or endpoint it was. A proxy's ID is kept only
// from a trusted proxy, so a client cannot forge the name of its own line.
func withRequest(log *slog.Logger, fromProxy func(*http.Request) bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(requestid.Header)
		if !fromProxy(r) || !requestid.Valid(id) {
			id = requestid.New()
		}
		ctx := requestid.With(context.WithValue(r.Context(), startKey{}, start), id)
		w.Header().Set(requestid.Header, id)
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(ctx)
		next.ServeHTTP(sw, r)
		// The mux records the pattern it matched on the request it was given.
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("route", r.Pattern),
			slog.Int("status", sw.status()),
			slog.Duration("duration", time.Since(start)),
			slog.String("request_id", id),
		}
		if t := requestid.Tenant(ctx); t != "" {
			attrs = append(attrs, slog.String("tenant", t))
		}
		log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
	})
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
