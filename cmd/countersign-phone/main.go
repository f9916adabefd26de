// Command countersign-phone is a development phone for the Mobile App
// method: it does what the privacyIDEA Authenticator app does, from a
// terminal, for trying Countersign without a phone (and for scripts).
//
//	countersign-phone activate 'otpauth://pipush/…'   scan the activation QR code's text
//	countersign-phone requests                         fetch the open requests (as opening the app does)
//	countersign-phone approve [NUMBER]                 approve the open request (picking NUMBER)
//	countersign-phone decline                          decline it as "I didn't request this"
//	countersign-phone cancel                           decline it without reporting
//
// Its key and activated tokens are kept in the file -state names
// (default ./countersign-phone.json, readable by its owner only).
package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/countersign/countersign/internal/testutil/pushapp"
)

type savedToken struct {
	Label, Issuer, Serial, URL string
	SSLVerify                  bool
	ServerKey                  []byte // PKCS #1
}

type state struct {
	Key    []byte // PKCS #1 private key
	Tokens []savedToken
}

func main() {
	path := flag.String("state", "countersign-phone.json", "file keeping the phone's key and tokens")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: countersign-phone [-state FILE] activate URI | requests | approve [NUMBER] | decline | cancel")
	}
	flag.Parse()
	if err := run(*path, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "countersign-phone:", err)
		os.Exit(1)
	}
}

func run(path string, args []string) error {
	if len(args) == 0 {
		flag.Usage()
		return errors.New("say what to do")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 15 * time.Second}
	phone, tokens, err := load(path)
	if err != nil {
		return err
	}
	switch args[0] {
	case "activate":
		if len(args) != 2 {
			return errors.New("activate takes the activation QR code's text (otpauth://pipush/…)")
		}
		t, err := phone.Scan(args[1])
		if err != nil {
			return err
		}
		if err := t.Register(ctx, client); err != nil {
			return err
		}
		fmt.Printf("activated %s (%s): now select \"Authenticate me now\", then run: countersign-phone approve NUMBER\n", t.Label, t.Issuer)
		return save(path, phone, append(tokens, t))
	case "requests", "approve", "decline", "cancel":
	default:
		flag.Usage()
		return fmt.Errorf("unknown command %q", args[0])
	}
	if len(tokens) == 0 {
		return errors.New("no activated token: run countersign-phone activate URI first")
	}
	var open []pushapp.Request
	for _, t := range tokens {
		reqs, err := t.Poll(ctx, client)
		if err != nil {
			return err
		}
		open = append(open, reqs...)
	}
	if args[0] == "requests" || len(open) == 0 {
		if len(open) == 0 {
			fmt.Println("no open request: sign in first, or send a new request")
		}
		for _, r := range open {
			fmt.Printf("%s: %s", r.Title, r.Question)
			if len(r.Options) > 0 {
				fmt.Printf(" [pick one of %v]", r.Options)
			}
			fmt.Println()
		}
		return nil
	}
	r := open[len(open)-1]
	var ok bool
	switch args[0] {
	case "approve":
		if len(r.Options) > 0 {
			if len(args) != 2 {
				return fmt.Errorf("pick the number the sign-in page shows: approve NUMBER (one of %v)", r.Options)
			}
			ok, err = r.Choose(ctx, client, args[1])
		} else {
			ok, err = r.Approve(ctx, client)
		}
	case "decline":
		ok, err = r.Decline(ctx, client)
	case "cancel":
		ok, err = r.Cancel(ctx, client)
	}
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("the answer was not taken (answered already, or expired)")
	}
	fmt.Println("answered")
	return nil
}

func load(path string) (*pushapp.Phone, []*pushapp.Token, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		p, err := pushapp.New()
		return p, nil, err
	}
	if err != nil {
		return nil, nil, err
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	key, err := x509.ParsePKCS1PrivateKey(s.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	p := pushapp.NewWithKey(key)
	var tokens []*pushapp.Token
	for _, t := range s.Tokens {
		pub, err := x509.ParsePKCS1PublicKey(t.ServerKey)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		tokens = append(tokens, p.Restore(t.Label, t.Issuer, t.Serial, t.URL, t.SSLVerify, pub))
	}
	return p, tokens, nil
}

func save(path string, p *pushapp.Phone, tokens []*pushapp.Token) error {
	s := state{Key: x509.MarshalPKCS1PrivateKey(p.Key())}
	for _, t := range tokens {
		s.Tokens = append(s.Tokens, savedToken{Label: t.Label, Issuer: t.Issuer, Serial: t.Serial, URL: t.URL, SSLVerify: t.SSLVerify,
			ServerKey: x509.MarshalPKCS1PublicKey(t.ServerKey)})
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}
