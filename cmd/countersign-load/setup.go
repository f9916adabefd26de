package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/countersign/countersign/internal/totp"
)

// totpUser is an MFA-only user with a confirmed authenticator whose secret
// the tool keeps, so it can compute any step's code.
type totpUser struct {
	loginID string
	secret  []byte
}

type passwordUser struct {
	loginID  string
	password string
}

// population is everything setup created.
type population struct {
	totp      []totpUser
	lastStep  []int64 // step used to confirm each authenticator
	passwords []passwordUser
}

const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"

// randomString draws n characters from alphabet.
func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// decodeSecret reads the secret as the API shows it: Base32 in groups of four.
func decodeSecret(s string) ([]byte, error) {
	return b32.DecodeString(strings.ToUpper(strings.ReplaceAll(s, " ", "")))
}

// setup creates the users concurrently; any failure stops it.
func setup(ctx context.Context, c *client, cfg config) (*population, error) {
	pop := &population{
		totp:      make([]totpUser, cfg.users),
		lastStep:  make([]int64, cfg.users),
		passwords: make([]passwordUser, cfg.passwordUsers),
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan func(context.Context) error)
	var wg sync.WaitGroup
	for range cfg.concurrency {
		wg.Go(func() {
			for job := range jobs {
				if err := job(ctx); err != nil {
					cancel(err)
				}
			}
		})
	}
	send := func(job func(context.Context) error) bool {
		select {
		case jobs <- job:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for i := range cfg.passwordUsers {
		if !send(func(ctx context.Context) error { return createPasswordUser(ctx, c, cfg.prefix, i, &pop.passwords[i]) }) {
			break
		}
	}
	for i := range cfg.users {
		if !send(func(ctx context.Context) error {
			return createTOTPUser(ctx, c, cfg.prefix, i, &pop.totp[i], &pop.lastStep[i])
		}) {
			break
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return nil, err
	}
	return pop, ctx.Err()
}

func loginID(prefix, kind string, i int) string {
	return prefix + kind + strconv.Itoa(i)
}

// adminPost retries answers of 503: creating a user with a password takes a
// slot of the server's hashing pool, which the tool's own concurrency fills.
func adminPost(ctx context.Context, c *client, path string, in, out any) error {
	for attempt := 0; ; attempt++ {
		r := c.post(ctx, c.adminKey, path, in, out)
		if r.ok() {
			return nil
		}
		if r.status != 503 || attempt == 20 {
			if r.err != nil {
				return fmt.Errorf("POST %s: %w", path, r.err)
			}
			return fmt.Errorf("POST %s: %s", path, r.outcome())
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

type createdUser struct {
	ID string `json:"id"`
}

func createPasswordUser(ctx context.Context, c *client, prefix string, i int, out *passwordUser) error {
	u := passwordUser{loginID: loginID(prefix, "p", i), password: randomString(16, alnum+"ABCDEFGHIJKLMNOPQRSTUVWXYZ")}
	if err := adminPost(ctx, c, "/api/v1/admin/users", map[string]string{"login_id": u.loginID, "password": u.password}, nil); err != nil {
		return fmt.Errorf("creating password user %s: %w", u.loginID, err)
	}
	*out = u
	return nil
}

func createTOTPUser(ctx context.Context, c *client, prefix string, i int, out *totpUser, last *int64) error {
	id := loginID(prefix, "t", i)
	var u createdUser
	if err := adminPost(ctx, c, "/api/v1/admin/users", map[string]string{"login_id": id}, &u); err != nil {
		return fmt.Errorf("creating user %s: %w", id, err)
	}
	var en struct {
		EnrolmentID string `json:"enrolment_id"`
		Secret      string `json:"secret"`
	}
	if err := adminPost(ctx, c, "/api/v1/admin/users/"+u.ID+"/enrolments/totp", struct{}{}, &en); err != nil {
		return fmt.Errorf("enrolling %s: %w", id, err)
	}
	secret, err := decodeSecret(en.Secret)
	if err != nil {
		return fmt.Errorf("enrolling %s: secret %q: %w", id, en.Secret, err)
	}
	// Confirming with the previous step leaves the current and the next one
	// for the measurement. Should the request cross into the next step, the
	// previous one is out of the window; the current one then still works.
	step := totp.Step(time.Now()) - 1
	path := "/api/v1/admin/enrolments/" + en.EnrolmentID + "/confirm"
	r := c.post(ctx, c.adminKey, path, map[string]string{"code": totp.CodeAt(secret, step)}, nil)
	if r.status == 401 {
		step = totp.Step(time.Now())
		r = c.post(ctx, c.adminKey, path, map[string]string{"code": totp.CodeAt(secret, step)}, nil)
	}
	if !r.ok() {
		if r.err != nil {
			return fmt.Errorf("confirming %s: %w", id, r.err)
		}
		return fmt.Errorf("confirming %s: %s", id, r.outcome())
	}
	*out = totpUser{loginID: id, secret: secret}
	*last = step
	return nil
}
