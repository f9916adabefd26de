package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// client talks to one Countersign server through a shared connection pool
// sized for the number of workers, so the measurement is not dominated by
// TCP handshakes.
type client struct {
	base     string
	appKey   string
	adminKey string
	http     *http.Client
}

func newClient(base, appKey, adminKey string, conns int) *client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	return &client{base: base, appKey: appKey, adminKey: adminKey, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// reply is what a request produced: the HTTP status (0 when no answer came)
// and, for an error answer, the API's error name.
type reply struct {
	status int
	name   string
	err    error
}

// outcome is the label a reply is counted under in the report.
func (r reply) outcome() string {
	switch {
	case r.err != nil:
		return "transport_error"
	case r.name != "":
		return strconv.Itoa(r.status) + " " + r.name
	default:
		return strconv.Itoa(r.status)
	}
}

func (r reply) ok() bool { return r.err == nil && r.status/100 == 2 }

// post sends in as JSON with the bearer key and, on a 2xx answer, decodes the
// body into out.
func (c *client) post(ctx context.Context, key, path string, in, out any) reply {
	body, err := json.Marshal(in)
	if err != nil {
		return reply{err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return reply{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return reply{status: resp.StatusCode, err: err}
	}
	r := reply{status: resp.StatusCode}
	if !r.ok() {
		var e struct {
			Error struct {
				Name string `json:"name"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil {
			r.name = e.Error.Name
		}
		return r
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			r.err = fmt.Errorf("decoding answer of %s: %w", path, err)
		}
	}
	return r
}

// loginAnswer is the part of a login, check or verify answer the tool reads.
type loginAnswer struct {
	Status        string `json:"status"`
	TransactionID string `json:"transaction_id"`
}
